"""The transaction manager's coordinator requests: one small class per kind.

Each kind names its target, builds its body for the negotiated version and handles its
response; what it changes lives in the manager, reached through :class:`TxnContext`. The
manager queues them and hands the most urgent to the sender (lowest ``urgency`` first:
FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from josef._core.idempotence import IdempotenceState
from josef._core.producer_id import InitProducerId
from josef._core.protocol import ApiKey
from josef._core.protocol import types as wire
from josef._core.request_source import ANY_BROKER, TXN_COORDINATOR, Target, TargetKind
from josef._core.transactions.state import COORDINATOR_MOVED, DRAINABLE, TxnProgress, TxnState, Verdict, classify
from josef._core.transactions.types import ConsumerGroupMetadata, Offsets, TxnResult
from josef.errors import ErrorCode, TransactionAbortedError, TransactionAbortRequiredError, UnsupportedVersionError
from josef.errors import error_for_code as _error_for_code

if TYPE_CHECKING:
    from josef._core.network import NodeApis
    from josef.errors import KafkaError

log = logging.getLogger("josef.transactions")

E = ErrorCode
_COORDINATOR_GROUP, _COORDINATOR_TXN = 0, 1  # FindCoordinator key types


class Coordinator(NamedTuple):
    """A coordinator as FindCoordinator named it."""

    node: int
    host: str
    port: int


class TxnContext(Protocol):
    """What the request kinds read and change in the transaction manager (called with its lock held)."""

    lock: threading.RLock
    transactional_id: str
    transaction_timeout_ms: int
    idempotence: IdempotenceState
    progress: TxnProgress
    state: TxnState
    tv2: bool

    def queued(self, request: TxnRequest) -> bool: ...
    def sent(self, request: TxnRequest) -> None: ...
    def answered(self, request: TxnRequest, body: dict[str, Any] | None, error: KafkaError | None) -> None: ...
    def discard(self, request: TxnRequest) -> None: ...
    def enqueue(self, request: TxnRequest) -> None: ...
    def retry(self, request: TxnRequest, delay: float | None = None) -> None: ...
    def on_error(self, request: TxnRequest, code: int, message: str | None) -> None: ...
    def fatal(self, error: BaseException) -> None: ...
    def abortable(self, error: BaseException, result: TxnResult | None = None) -> None: ...
    def transition(self, target: TxnState, error: BaseException | None = None) -> bool: ...
    def abort_required(self) -> TransactionAbortRequiredError: ...
    def set_coordinator(self, target: Target, coordinator: Coordinator) -> None: ...
    def forget_coordinator(self, target: Target) -> None: ...
    def drop_group_requests(self, group: str | None) -> None: ...
    def decide_protocol(self, apis: NodeApis) -> None: ...
    def end_transaction(self, request: TxnRequest, response: dict[str, Any] | None) -> None: ...


class TxnRequest:
    """A coordinator request: its target, its body, its response."""

    api: ClassVar[ApiKey]
    urgency: ClassVar[int]  # lower goes first
    group: str | None = None  # the consumer group it concerns, if any

    def __init__(self, txn: TxnContext, result: TxnResult | None = None) -> None:
        self.txn = txn
        self.result = result  # the user call waiting for it
        self.version = 0
        self.retry_at = 0.0
        self.attempts = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} attempts={self.attempts}>"

    @property
    def target(self) -> Target:
        return TXN_COORDINATOR

    def survives_abort(self) -> bool:
        """Whether an abort keeps it queued (it does not add to the transaction, or whether the
        coordinator took it is unknown: EndTxn is only sent, and accepted, if it did)."""
        return False

    def build(self, apis: NodeApis) -> tuple[int, Mapping[str, Any]] | None:
        with self.txn.lock:
            if not self.txn.queued(self):
                return None  # dropped (an abort, a fatal error) since it was picked
            if self.api not in apis.versions:
                self.txn.fatal(UnsupportedVersionError(
                    f"broker {apis.node} does not support {self.api.name}, which transactions need"
                ))
                return None
            built = self.body(apis)
            if built is None:
                self.txn.discard(self)
                return None
            self.version = built[0]
            self.txn.sent(self)
        self.attempts += 1
        return built

    def on_response(self, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        self.txn.answered(self, body, error)

    def body(self, apis: NodeApis) -> tuple[int, Mapping[str, Any]] | None:
        """The version and body; None if the request was settled without the broker."""
        raise NotImplementedError

    def handle(self, response: dict[str, Any]) -> None:
        raise NotImplementedError

    def concurrent_delay(self, code: int) -> float | None:
        """CONCURRENT_TRANSACTIONS clears quickly: the first retries come sooner than the backoff."""
        return 0.02 if code == E.CONCURRENT_TRANSACTIONS and self.attempts < 5 else None


class FindCoordinatorRequest(TxnRequest):
    api = ApiKey.FIND_COORDINATOR
    urgency = 0

    def __init__(self, txn: TxnContext, coordinator: Target, retry_at: float = 0.0) -> None:
        super().__init__(txn)
        self.coordinator = coordinator
        self.group = coordinator.key
        self.retry_at = retry_at

    @property
    def target(self) -> Target:
        return ANY_BROKER

    @property
    def key(self) -> str:
        return self.group if self.group is not None else self.txn.transactional_id

    @property
    def key_type(self) -> int:
        return _COORDINATOR_GROUP if self.coordinator.kind is TargetKind.GROUP_COORDINATOR else _COORDINATOR_TXN

    def survives_abort(self) -> bool:
        return True

    def body(self, apis: NodeApis) -> tuple[int, wire.FindCoordinatorRequest]:
        version = apis.version(ApiKey.FIND_COORDINATOR)
        body: wire.FindCoordinatorRequest = (
            {"key_type": self.key_type, "coordinator_keys": [self.key]} if version >= 4
            else {"key": self.key, "key_type": self.key_type}
        )
        return version, body

    def handle(self, response: dict[str, Any]) -> None:
        entry: dict[str, Any]
        if self.version >= 4:
            entries = response.get("coordinators") or []
            entry = entries[0] if entries else {
                "error_code": E.COORDINATOR_NOT_AVAILABLE, "error_message": "no coordinator in the response"
            }
        else:
            entry = response
        code = entry.get("error_code", E.NONE)
        if code:
            if code in COORDINATOR_MOVED or _error_for_code(code).retriable:
                self.txn.retry(self)  # e.g. the transaction log is still being created
            elif code == E.GROUP_AUTHORIZATION_FAILED and self.key_type == _COORDINATOR_GROUP:
                self.txn.abortable(_error_for_code(code, entry.get("error_message")))
                self.txn.drop_group_requests(self.group)
            else:
                self.txn.fatal(_error_for_code(code, entry.get("error_message")))
            return
        self.txn.set_coordinator(self.coordinator, Coordinator(entry["node_id"], entry["host"], entry["port"]))
        log.debug("coordinator for %s: node %s", self.coordinator, entry["node_id"])


class InitProducerIdRequest(TxnRequest):
    """InitProducerId to the transaction coordinator (``bump``: with the current id and epoch,
    after a v1 abort that followed failed batches)."""

    api = ApiKey.INIT_PRODUCER_ID
    urgency = 1

    def __init__(self, txn: TxnContext, result: TxnResult | None = None, *, bump: bool = False) -> None:
        super().__init__(txn, result)
        self.bump = bump
        self.request = InitProducerId(txn.idempotence, txn.transactional_id, txn.transaction_timeout_ms, bump=bump)

    def survives_abort(self) -> bool:
        return True

    def body(self, apis: NodeApis) -> tuple[int, wire.InitProducerIdRequest]:
        if not self.bump:
            self.txn.decide_protocol(apis)
        return self.request.build(apis)

    def handle(self, response: dict[str, Any]) -> None:
        code = self.request.apply(response)
        if code:
            if self.bump and classify(code, self.api) in (Verdict.ABORTABLE, Verdict.FATAL):
                # The bump after an abort failed: the producer cannot go on.
                self.txn.fatal(_error_for_code(code, "InitProducerId (epoch bump after abort) failed"))
                return
            self.txn.on_error(self, code, None)
            return
        self.txn.progress.reset()
        if self.txn.transition(TxnState.READY) and self.result is not None:
            self.result.complete()


class AddPartitionsRequest(TxnRequest):
    """v1: the partitions the drain asked for join the transaction before their first batch."""

    api = ApiKey.ADD_PARTITIONS_TO_TXN
    urgency = 2

    def __init__(self, txn: TxnContext) -> None:
        super().__init__(txn)
        self.partitions: set[tuple[str, int]] = set()

    def survives_abort(self) -> bool:
        return self.attempts > 0

    def body(self, apis: NodeApis) -> tuple[int, wire.AddPartitionsToTxnRequest] | None:
        progress = self.txn.progress
        if not self.partitions:  # a first attempt (a retry keeps its partitions)
            progress.new_partitions -= progress.added
            if self.txn.state not in DRAINABLE or not progress.new_partitions:
                return None
            self.partitions = set(progress.new_partitions)
            progress.new_partitions.clear()
        topics: dict[str, list[int]] = {}
        for topic, partition in sorted(self.partitions):
            topics.setdefault(topic, []).append(partition)
        pid = self.txn.idempotence
        body: wire.AddPartitionsToTxnRequest = {
            "v3_and_below_transactional_id": self.txn.transactional_id,
            "v3_and_below_producer_id": pid.producer_id,
            "v3_and_below_producer_epoch": pid.producer_epoch,
            "v3_and_below_topics": [{"name": t, "partitions": p} for t, p in topics.items()],
        }
        return apis.version(ApiKey.ADD_PARTITIONS_TO_TXN, 3), body

    def handle(self, response: dict[str, Any]) -> None:
        progress = self.txn.progress
        failed: list[tuple[int, str]] = []
        for topic in response.get("results_by_topic_v3_and_below") or []:
            for part in topic["results_by_partition"]:
                tp = (topic["name"], part["partition_index"])
                code = part["partition_error_code"]
                if code == E.NONE:
                    progress.added.add(tp)
                    progress.touched = True
                elif code != E.OPERATION_NOT_ATTEMPTED:
                    failed.append((code, f"{tp[0]}-{tp[1]}"))
        missing = self.partitions - progress.added
        progress.new_partitions -= progress.added  # asked for again while this request was out
        if not failed:
            if missing and self.txn.state in DRAINABLE:  # not attempted, or left out of the answer
                progress.new_partitions |= missing
            return  # (aborting: what was added is recorded, EndTxn ends it)
        code, where = failed[0]
        verdict = classify(code, self.api)
        if verdict in (Verdict.RETRY, Verdict.REDISCOVER):
            if verdict == Verdict.REDISCOVER:
                self.txn.forget_coordinator(TXN_COORDINATOR)
            self.partitions = missing
            self.txn.retry(self, self.concurrent_delay(code))
            return
        self.txn.on_error(self, code, f"AddPartitionsToTxn for {where}")


class AddOffsetsRequest(TxnRequest):
    """v1: the group's offsets partition joins the transaction; TxnOffsetCommit follows."""

    api = ApiKey.ADD_OFFSETS_TO_TXN
    urgency = 3

    def __init__(self, txn: TxnContext, offsets: Offsets, group: ConsumerGroupMetadata, result: TxnResult) -> None:
        super().__init__(txn, result)
        self.offsets = offsets
        self.group_metadata = group
        self.group = group.group_id

    def survives_abort(self) -> bool:
        return self.attempts > 0

    def body(self, apis: NodeApis) -> tuple[int, wire.AddOffsetsToTxnRequest]:
        pid = self.txn.idempotence
        body: wire.AddOffsetsToTxnRequest = {
            "transactional_id": self.txn.transactional_id,
            "producer_id": pid.producer_id,
            "producer_epoch": pid.producer_epoch,
            "group_id": self.group_metadata.group_id,
        }
        return apis.version(ApiKey.ADD_OFFSETS_TO_TXN), body

    def handle(self, response: dict[str, Any]) -> None:
        code = response["error_code"]
        if code:
            self.txn.on_error(self, code, None)
            return
        self.txn.progress.touched = True
        if self.txn.state not in DRAINABLE:
            if self.result is not None:
                self.result.complete(TransactionAbortedError("the transaction was aborted"))
            return
        assert self.result is not None
        self.txn.enqueue(TxnOffsetCommitRequest(self.txn, self.offsets, self.group_metadata, self.result))


class TxnOffsetCommitRequest(TxnRequest):
    """The consumed offsets, committed with the transaction, to the group coordinator."""

    api = ApiKey.TXN_OFFSET_COMMIT
    urgency = 4

    def __init__(self, txn: TxnContext, offsets: Offsets, group: ConsumerGroupMetadata, result: TxnResult) -> None:
        super().__init__(txn, result)
        self.offsets = offsets
        self.group_metadata = group
        self.group = group.group_id

    @property
    def target(self) -> Target:
        return Target.group_coordinator(self.group_metadata.group_id)

    def body(self, apis: NodeApis) -> tuple[int, wire.TxnOffsetCommitRequest]:
        group = self.group_metadata
        tv2 = self.txn.tv2
        if tv2:
            self.txn.progress.touched = True  # the group coordinator adds the offsets partition
        pid = self.txn.idempotence
        body: wire.TxnOffsetCommitRequest = {
            "transactional_id": self.txn.transactional_id,
            "group_id": group.group_id,
            "producer_id": pid.producer_id,
            "producer_epoch": pid.producer_epoch,
            "generation_id_or_member_epoch": group.generation_id,
            "member_id": group.member_id,
            "group_instance_id": group.group_instance_id,
            "topics": [
                {"name": topic, "partitions": [
                    {"partition_index": p, "committed_offset": o, "committed_leader_epoch": e,
                     "committed_metadata": m}
                    for p, o, m, e in parts
                ]}
                for topic, parts in self.offsets.items()
            ],
        }
        return apis.version(ApiKey.TXN_OFFSET_COMMIT, 5 if tv2 else 4), body

    def handle(self, response: dict[str, Any]) -> None:
        remaining: Offsets = {}
        worst: tuple[Verdict, int, str] | None = None
        for topic in response.get("topics") or []:
            for part in topic["partitions"]:
                code = part["error_code"]
                if code == E.NONE:
                    continue
                index = part["partition_index"]
                for entry in self.offsets.get(topic["name"], []):
                    if entry[0] == index:
                        remaining.setdefault(topic["name"], []).append(entry)
                verdict = classify(code, self.api)
                if worst is None or verdict > worst[0]:
                    worst = (verdict, code, f"{topic['name']}-{index}")
        if worst is None:
            if self.result is not None:
                self.result.complete()
            return
        self.offsets = remaining  # only the failed partitions go again
        self.txn.on_error(self, worst[1], f"TxnOffsetCommit for {worst[2]}")


class EndTxnRequest(TxnRequest):
    """Commit or abort; goes once every batch of the transaction has completed."""

    api = ApiKey.END_TXN
    urgency = 5

    def __init__(self, txn: TxnContext, result: TxnResult | None, *, commit: bool) -> None:
        super().__init__(txn, result)
        self.commit = commit

    def survives_abort(self) -> bool:
        return not self.commit

    def body(self, apis: NodeApis) -> tuple[int, wire.EndTxnRequest] | None:
        progress = self.txn.progress
        if not progress.touched or (progress.epoch_rejected and not self.commit):
            # The coordinator never heard of this transaction: nothing to end. (Or, v1, it
            # refuses our epoch: the InitProducerId bump that follows ends the transaction.)
            self.txn.discard(self)
            self.txn.end_transaction(self, None)
            return None
        pid = self.txn.idempotence
        body: wire.EndTxnRequest = {
            "transactional_id": self.txn.transactional_id,
            "producer_id": pid.producer_id,
            "producer_epoch": pid.producer_epoch,
            "committed": self.commit,
        }
        return apis.version(ApiKey.END_TXN, 5 if self.txn.tv2 else 4), body

    def handle(self, response: dict[str, Any]) -> None:
        code = response["error_code"]
        if (
            code == E.INVALID_TXN_STATE and self.commit and self.txn.tv2
            and self.txn.state is TxnState.COMMITTING
        ):
            # v2: the coordinator already ended the transaction, by aborting it (after
            # transaction.timeout.ms): the commit did not happen. Aborting is always allowed
            # in v2 and brings the producer back.
            self.txn.abortable(_error_for_code(code, (
                "the coordinator refused the commit: it had already aborted the transaction "
                "(transaction.timeout.ms ran out?)"
            )), self.result)
            return
        if code:
            self.txn.on_error(self, code, None)
            return
        self.txn.end_transaction(self, response)
