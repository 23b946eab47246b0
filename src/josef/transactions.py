"""Transactions: atomic writes across partitions and topics, and consumed offsets committed
with them (exactly-once consume-transform-produce).

User threads call :class:`TransactionManager`'s blocking methods (through ``Producer``); they
change the state, queue work and wait on a :class:`TxnResult`. The sender thread calls
:meth:`TransactionManager.maintain` once per turn of its loop: it fails the queued records of
a transaction that is being aborted, and sends at most one coordinator request at a time,
the most urgent first (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
TxnOffsetCommit, EndTxn). EndTxn goes out only once every batch of the transaction completed.

Two wire protocols, chosen when the producer id is obtained:

* transactions v1 (KIP-98): a partition joins the transaction through AddPartitionsToTxn
  before its first batch is drained; offsets through AddOffsetsToTxn, then TxnOffsetCommit;
  a transaction that saw a failed batch is followed by an epoch bump (InitProducerId with the
  current id and epoch) so that sequences can start again from 0.
* transactions v2 (KIP-890, Kafka 4.0+, cluster feature ``transaction.version`` >= 2):
  Produce v12 and TxnOffsetCommit v5 add partitions implicitly; every EndTxn (v5) bumps the
  epoch and returns the id and epoch for the next transaction, and sequences restart at 0.

Errors are of three kinds. Retriable ones (coordinator moved or loading, concurrent
transactions, disconnects) are retried here, re-finding the coordinator when needed.
Abortable ones (a failed batch, TRANSACTION_ABORTABLE, group fencing of the offsets commit)
put the manager in ``ABORTABLE_ERROR``: the user must call ``abort_transaction()``, which then
makes the producer usable again. Fatal ones (fenced by a newer instance, authorization,
protocol violations) are final: every later call raises them.
"""

from __future__ import annotations

import enum
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from josef.errors import (
    BrokerError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    ProducerFencedError,
    UnsupportedVersionError,
    error_for_code,
)
from josef.idempotence import IdempotenceState
from josef.metadata import Broker, ClusterMetadata
from josef.protocol import ApiKey

if TYPE_CHECKING:
    from josef.accumulator import ProducerBatch
    from josef.connection import BrokerConnection
    from josef.sender import Sender

log = logging.getLogger("josef.transactions")

__all__ = [
    "ConsumerGroupMetadata",
    "OffsetAndMetadata",
    "TopicPartition",
    "TransactionAbortRequiredError",
    "TransactionAbortedError",
    "TransactionManager",
    "TxnResult",
    "TxnState",
]


# -- public value types -------------------------------------------------------------------------


from josef.types import TopicPartition  # noqa: E402  one home for TopicPartition (the integrator moves this import up)


class OffsetAndMetadata(NamedTuple):
    """An offset to commit: the next record to consume (the consumer's position)."""

    offset: int
    metadata: str | None = None
    leader_epoch: int | None = None


class ConsumerGroupMetadata(NamedTuple):
    """The consumer group identity the offsets commit is checked against (KIP-447): a
    commit from a consumer that lost its partitions in a rebalance is refused."""

    group_id: str
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None


class TransactionAbortedError(KafkaError):
    """The record was never sent: its transaction was aborted first."""


class TransactionAbortRequiredError(KafkaError):
    """The current transaction hit an error and can no longer commit: call
    ``abort_transaction()``, then start again. ``cause`` is the error that caused it."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


# -- state machine ------------------------------------------------------------------------------


class TxnState(enum.Enum):
    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    READY = "ready"
    IN_TRANSACTION = "in transaction"
    COMMITTING = "committing"
    ABORTING = "aborting"
    ABORTABLE_ERROR = "abortable error"
    FATAL_ERROR = "fatal error"


_S = TxnState
# Every allowed move, from -> to. FATAL_ERROR is terminal.
_TRANSITIONS: dict[TxnState, frozenset[TxnState]] = {
    _S.UNINITIALIZED: frozenset({_S.INITIALIZING, _S.FATAL_ERROR}),
    _S.INITIALIZING: frozenset({_S.READY, _S.FATAL_ERROR}),
    _S.READY: frozenset({_S.IN_TRANSACTION, _S.FATAL_ERROR}),
    _S.IN_TRANSACTION: frozenset({_S.COMMITTING, _S.ABORTING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    _S.COMMITTING: frozenset({_S.READY, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    # INITIALIZING: a transactions-v1 epoch bump after aborting a transaction that had failed
    # batches; ABORTABLE_ERROR: the abort itself met an abortable error (abort again).
    _S.ABORTING: frozenset({_S.READY, _S.INITIALIZING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    _S.ABORTABLE_ERROR: frozenset({_S.ABORTING, _S.FATAL_ERROR}),
    _S.FATAL_ERROR: frozenset(),
}

# Queued records of a transaction in these states are failed instead of sent.
_FAIL_QUEUED = frozenset({_S.ABORTING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR})
_DRAINABLE = frozenset({_S.IN_TRANSACTION, _S.COMMITTING})


def check_transition(source: TxnState, target: TxnState) -> None:
    if target not in _TRANSITIONS[source]:
        raise IllegalStateError(
            f"invalid transaction state transition from {source.value} to {target.value}"
        )


# -- error classification -----------------------------------------------------------------------

_RETRY, _REDISCOVER, _ABORTABLE, _FATAL, _FENCED = "retry", "rediscover", "abortable", "fatal", "fenced"

_COORDINATOR_MOVED = frozenset({15, 16})  # COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
_RETRY_CODES = frozenset({14, 51})  # COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS
_FENCED_CODES = frozenset({47, 90})  # INVALID_PRODUCER_EPOCH, PRODUCER_FENCED
_FATAL_CODES = frozenset({31, 35, 43, 48, 49, 50, 53})
_ABORTABLE_CODES = frozenset({29, 30, 120})  # TOPIC/GROUP_AUTHORIZATION_FAILED, TRANSACTION_ABORTABLE
# TxnOffsetCommit: the consumer was fenced by a rebalance (ILLEGAL_GENERATION,
# UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID) or the group changed generation scheme.
_GROUP_FENCED = frozenset({22, 25, 82, 110, 111})
_CONCURRENT_TRANSACTIONS = 51
_OPERATION_NOT_ATTEMPTED = 55
_INVALID_TXN_STATE = 48
_REQUEST_TIMED_OUT = 7
# Errors of a failed produce batch that are fatal to a transactional producer.
_FATAL_BATCH_ERRORS = frozenset({31, 35, 49, 53, 90})


_SEVERITY = {_RETRY: 0, _REDISCOVER: 1, _ABORTABLE: 2, _FATAL: 3, _FENCED: 4}


def classify(code: int, api: ApiKey) -> str:
    """What a coordinator error code means for a transactional producer."""
    if code in _COORDINATOR_MOVED:
        return _REDISCOVER
    if code == _REQUEST_TIMED_OUT and api == ApiKey.TXN_OFFSET_COMMIT:
        return _REDISCOVER
    if code in _RETRY_CODES:
        return _RETRY
    if code in _FENCED_CODES:
        return _FENCED
    if code in _FATAL_CODES:
        return _FATAL
    if code in _ABORTABLE_CODES:
        return _ABORTABLE
    if api == ApiKey.TXN_OFFSET_COMMIT and code in _GROUP_FENCED:
        return _ABORTABLE
    error = error_for_code(code)
    return _RETRY if error.retriable else _FATAL


def _fenced_error(code: int, what: str, message: str | None) -> ProducerFencedError:
    name = "PRODUCER_FENCED" if code == 90 else "INVALID_PRODUCER_EPOCH"
    return ProducerFencedError(
        f"{what}: {name}: another producer with the same transactional.id started (or the coordinator "
        f"aborted the transaction and bumped the epoch after transaction.timeout.ms); this producer "
        f"can only be closed" + (f" ({message})" if message else "")
    )


# -- user-side results and inputs -----------------------------------------------------------------


class TxnResult:
    """The outcome of one transactional call, completed by the sender thread."""

    __slots__ = ("_event", "error", "op")

    def __init__(self, op: str) -> None:
        self.op = op
        self.error: BaseException | None = None
        self._event = threading.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)

    def complete(self, error: BaseException | None = None) -> None:
        if not self._event.is_set():
            self.error = error
            self._event.set()

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self.error else "done")
        return f"<TxnResult {self.op} {state}>"


def normalize_group_metadata(group: Any) -> ConsumerGroupMetadata:
    """A plain group id, a :class:`ConsumerGroupMetadata`, any object with ``group_id``
    (and ``generation_id``, ``member_id``, ``group_instance_id``) attributes, or the bytes
    confluent-kafka's ``Consumer.consumer_group_metadata()`` returns."""
    if isinstance(group, ConsumerGroupMetadata):
        return group
    if isinstance(group, str):
        if not group:
            raise ValueError("group_metadata: the group id must not be empty")
        return ConsumerGroupMetadata(group)
    if isinstance(group, (bytes, bytearray)):
        return _parse_librdkafka_group_metadata(bytes(group))
    group_id = getattr(group, "group_id", None)
    if not isinstance(group_id, str) or not group_id:
        raise TypeError(
            "group_metadata must be a group id str, a ConsumerGroupMetadata, or an object with a "
            f"group_id attribute; got {group!r}"
        )
    generation = getattr(group, "generation_id", getattr(group, "generation", -1))
    member = getattr(group, "member_id", "") or ""
    instance = getattr(group, "group_instance_id", None) or None
    if not isinstance(generation, int) or not isinstance(member, str):
        raise TypeError(f"group_metadata: bad generation_id/member_id in {group!r}")
    return ConsumerGroupMetadata(group_id, generation, member, instance)


_CGMD_MAGIC = b"CGMDv2:"


def _parse_librdkafka_group_metadata(data: bytes) -> ConsumerGroupMetadata:
    """librdkafka's serialized group metadata: magic, generation (int32, host byte order),
    NUL-terminated group id and member id, then a byte that is 1 when there is no group
    instance id and 0 when a NUL-terminated one follows."""
    if not data.startswith(_CGMD_MAGIC):
        raise ValueError("group_metadata: bytes that are not a serialized consumer group metadata")
    try:
        pos = len(_CGMD_MAGIC)
        (generation,) = struct.unpack_from("=i", data, pos)
        pos += 4
        end = data.index(b"\x00", pos)
        group_id = data[pos:end].decode()
        pos = end + 1
        end = data.index(b"\x00", pos)
        member_id = data[pos:end].decode()
        pos = end + 1
        instance: str | None = None
        if data[pos] == 0:
            end = data.index(b"\x00", pos + 1)
            instance = data[pos + 1:end].decode()
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"group_metadata: malformed serialized consumer group metadata: {exc}") from None
    if not group_id:
        raise ValueError("group_metadata: the group id must not be empty")
    return ConsumerGroupMetadata(group_id, generation, member_id, instance)


# topic -> [(partition, offset, metadata, leader_epoch)]
Offsets = dict[str, list[tuple[int, int, "str | None", int]]]


def normalize_offsets(offsets: Any) -> Offsets:
    """``{TopicPartition: OffsetAndMetadata}``, ``{(topic, partition): offset}`` or a list of
    objects with ``topic``, ``partition``, ``offset`` (and optionally ``metadata``,
    ``leader_epoch``) attributes, such as confluent-kafka's ``TopicPartition``."""
    entries: list[tuple[Any, Any, Any, Any, Any]] = []
    if isinstance(offsets, Mapping):
        for key, value in offsets.items():
            if hasattr(key, "topic") and hasattr(key, "partition") and not isinstance(key, tuple):
                topic, partition = key.topic, key.partition
            else:
                try:
                    topic, partition = key
                except (TypeError, ValueError):
                    raise TypeError(f"offsets: a key must be (topic, partition), got {key!r}") from None
            if isinstance(value, int):
                entries.append((topic, partition, value, None, None))
            else:
                entries.append((
                    topic, partition, getattr(value, "offset", value),
                    getattr(value, "metadata", None), getattr(value, "leader_epoch", None),
                ))
    elif isinstance(offsets, Iterable) and not isinstance(offsets, (str, bytes)):
        for item in offsets:
            try:
                entries.append((item.topic, item.partition, item.offset,
                                getattr(item, "metadata", None), getattr(item, "leader_epoch", None)))
            except AttributeError:
                raise TypeError(
                    f"offsets: items must have topic, partition and offset attributes, got {item!r}"
                ) from None
    else:
        raise TypeError(f"offsets must be a mapping or a list of topic partitions, got {type(offsets).__name__}")
    result: Offsets = {}
    for topic, partition, offset, metadata, leader_epoch in entries:
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"offsets: bad topic {topic!r}")
        if type(partition) is not int or partition < 0:
            raise ValueError(f"offsets: bad partition {partition!r} for topic {topic!r}")
        if type(offset) is not int or offset < 0:
            raise ValueError(f"offsets: bad offset {offset!r} for {topic}-{partition} (must be an int >= 0)")
        if metadata is not None and not isinstance(metadata, str):
            raise ValueError(f"offsets: metadata for {topic}-{partition} must be a str or None")
        epoch = leader_epoch if isinstance(leader_epoch, int) and leader_epoch >= 0 else -1
        result.setdefault(topic, []).append((partition, offset, metadata, epoch))
    return result


# -- coordinator requests -----------------------------------------------------------------------


class _Kind(enum.IntEnum):
    """Request kinds, most urgent first."""

    FIND_COORDINATOR = 0
    INIT_PRODUCER_ID = 1
    ADD_PARTITIONS = 2
    ADD_OFFSETS = 3
    TXN_OFFSET_COMMIT = 4
    END_TXN = 5


_API = {
    _Kind.FIND_COORDINATOR: ApiKey.FIND_COORDINATOR,
    _Kind.INIT_PRODUCER_ID: ApiKey.INIT_PRODUCER_ID,
    _Kind.ADD_PARTITIONS: ApiKey.ADD_PARTITIONS_TO_TXN,
    _Kind.ADD_OFFSETS: ApiKey.ADD_OFFSETS_TO_TXN,
    _Kind.TXN_OFFSET_COMMIT: ApiKey.TXN_OFFSET_COMMIT,
    _Kind.END_TXN: ApiKey.END_TXN,
}

_COORDINATOR_GROUP, _COORDINATOR_TXN = 0, 1


@dataclass(eq=False)
class _Request:
    kind: _Kind
    # FIND_COORDINATOR: the key looked up; TXN_OFFSET_COMMIT / ADD_OFFSETS: the group id.
    group: str | None = None
    key_type: int = _COORDINATOR_TXN
    commit: bool = False  # END_TXN
    bump: bool = False  # INIT_PRODUCER_ID with the current id and epoch
    offsets: Offsets = field(default_factory=dict)
    group_metadata: ConsumerGroupMetadata | None = None
    result: TxnResult | None = None
    partitions: set[tuple[str, int]] = field(default_factory=set)
    version: int = 0
    retry_at: float = 0.0
    attempts: int = 0

    @property
    def api(self) -> ApiKey:
        return _API[self.kind]


class TransactionManager:
    def __init__(
        self,
        transactional_id: str,
        transaction_timeout_ms: int,
        idempotence: IdempotenceState,
        wake: Callable[[], None],
        *,
        retry_backoff: float = 0.1,
        retry_backoff_max: float = 1.0,
    ) -> None:
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = transaction_timeout_ms
        self.idempotence = idempotence
        self._wake = wake
        self._retry_backoff = retry_backoff
        self._retry_backoff_max = max(retry_backoff_max, retry_backoff)
        self._lock = threading.RLock()
        self.state = TxnState.UNINITIALIZED
        self.last_error: BaseException | None = None  # the abortable or fatal error
        # The user call that has not been seen to finish yet (it timed out): only the same call
        # may be made until it has (it then resumes waiting for the same result).
        self._pending: TxnResult | None = None
        self._give_up_at: float | None = None  # closing: stop waiting for the coordinator then
        self._queue: list[_Request] = []
        self._in_flight: _Request | None = None
        self.coordinator: int | None = None
        self._group_coordinators: dict[str, int] = {}
        # Transactions v2 (KIP-890), decided with each producer id.
        self.tv2 = False
        self.max_produce_version = 11
        # Per transaction (sender thread only).
        self._added: set[tuple[str, int]] = set()  # v1: partitions in the transaction
        self._new_partitions: set[tuple[str, int]] = set()  # v1: waiting for AddPartitionsToTxn
        self._touched = False  # the coordinator knows of this transaction: EndTxn is needed
        # v1: a batch met INVALID_PRODUCER_EPOCH, so the coordinator has moved on (it timed the
        # transaction out, or a newer instance fenced us). EndTxn with our epoch is refused;
        # InitProducerId with it ends the transaction and bumps the epoch if we merely timed
        # out (KIP-588), and is refused as fenced if another instance took over.
        self._epoch_rejected = False
        self.transactions_committed = 0
        self.transactions_aborted = 0

    # -- state ---------------------------------------------------------------------------------

    def _transition_to(self, target: TxnState, error: BaseException | None = None) -> None:
        """Move to ``target`` (raising IllegalStateError, naming both states, if the table
        forbids it). Called with the lock held."""
        check_transition(self.state, target)
        log.debug("transaction state %s -> %s (%s)", self.state.value, target.value, self.transactional_id)
        if error is not None:
            self.last_error = error
        elif target in (TxnState.READY, TxnState.IN_TRANSACTION):
            self.last_error = None
        self.state = target

    def _internal_transition(self, target: TxnState, error: BaseException | None = None) -> bool:
        """A transition on the sender thread: an illegal one is a bug, and poisons the manager."""
        try:
            self._transition_to(target, error)
            return True
        except IllegalStateError as exc:
            log.error("josef transaction manager bug: %s", exc)
            self._fatal(KafkaError(f"internal error in the transaction manager: {exc}"))
            return False

    def _raise_if_failed(self, allow_abortable: bool = False) -> None:
        if self.state is TxnState.FATAL_ERROR:
            assert self.last_error is not None
            raise self.last_error
        if self.state is TxnState.ABORTABLE_ERROR and not allow_abortable:
            raise self._abort_required()

    def _abort_required(self) -> TransactionAbortRequiredError:
        cause = self.last_error
        return TransactionAbortRequiredError(
            f"the transaction cannot commit: {cause}; call abort_transaction() and start again", cause
        )

    def _check_pending(self, op: str) -> TxnResult | None:
        """The earlier timed-out call, if this is the same call (which resumes it); raises if
        another call is still pending."""
        pending = self._pending
        if pending is None:
            return None
        if pending.op == op:
            return pending
        if op == "abort_transaction" and pending.done() and self.state is TxnState.ABORTABLE_ERROR:
            self._pending = None  # its failure is why the user aborts
            return None
        raise IllegalStateError(
            f"{op}() while an earlier {pending.op}() that timed out is still unresolved: "
            f"call {pending.op}() again to learn its outcome first"
        )

    # -- user threads --------------------------------------------------------------------------

    def check_send(self) -> None:
        """``send()`` is only allowed inside a transaction."""
        state = self.state
        if state is TxnState.IN_TRANSACTION:
            return
        self._raise_if_failed()
        raise IllegalStateError(
            f"send() on a transactional producer outside a transaction (state: {state.value}): "
            "call begin_transaction() first"
            + (" (and init_transactions() before that)" if state is TxnState.UNINITIALIZED else "")
        )

    def init_transactions(self) -> TxnResult:
        with self._lock:
            self._raise_if_failed()
            pending = self._check_pending("init_transactions")
            if pending is not None:
                return pending
            if self.state is not TxnState.UNINITIALIZED:
                raise IllegalStateError(
                    f"init_transactions() called twice (state: {self.state.value}); it is called once per producer"
                )
            self._transition_to(TxnState.INITIALIZING)
            result = self._pending = TxnResult("init_transactions")
            self._enqueue(_Request(_Kind.INIT_PRODUCER_ID, result=result))
        self._wake()
        return result

    def begin_transaction(self) -> None:
        with self._lock:
            self._raise_if_failed()
            self._check_pending("begin_transaction")
            if self.state is TxnState.UNINITIALIZED:
                raise IllegalStateError("begin_transaction() before init_transactions()")
            if self.state is TxnState.IN_TRANSACTION:
                raise IllegalStateError("begin_transaction() while a transaction is already open")
            if self.state is not TxnState.READY:
                raise IllegalStateError(
                    f"begin_transaction() while the previous transaction is still {self.state.value}"
                )
            self._transition_to(TxnState.IN_TRANSACTION)

    def send_offsets(self, offsets: Offsets, group: ConsumerGroupMetadata) -> TxnResult:
        with self._lock:
            self._raise_if_failed()
            pending = self._check_pending("send_offsets_to_transaction")
            if pending is not None:
                return pending
            if self.state is not TxnState.IN_TRANSACTION:
                raise IllegalStateError(
                    f"send_offsets_to_transaction() outside a transaction (state: {self.state.value}): "
                    "call begin_transaction() first"
                )
            result = self._pending = TxnResult("send_offsets_to_transaction")
            if not offsets:
                result.complete()
                return result
            kind = _Kind.TXN_OFFSET_COMMIT if self.tv2 else _Kind.ADD_OFFSETS
            self._enqueue(_Request(kind, group=group.group_id, offsets=offsets, group_metadata=group, result=result))
        self._wake()
        return result

    def commit_transaction(self) -> TxnResult:
        with self._lock:
            self._raise_if_failed()
            pending = self._check_pending("commit_transaction")
            if pending is not None:
                return pending
            if self.state is not TxnState.IN_TRANSACTION:
                raise IllegalStateError(
                    f"commit_transaction() without an open transaction (state: {self.state.value})"
                )
            self._transition_to(TxnState.COMMITTING)
            result = self._pending = TxnResult("commit_transaction")
            self._enqueue(_Request(_Kind.END_TXN, commit=True, result=result))
        self._wake()
        return result

    def abort_transaction(self) -> TxnResult:
        with self._lock:
            self._raise_if_failed(allow_abortable=True)
            pending = self._check_pending("abort_transaction")
            if pending is not None:
                return pending
            if self.state not in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR):
                raise IllegalStateError(
                    f"abort_transaction() without an open transaction (state: {self.state.value})"
                )
            result = self._pending = TxnResult("abort_transaction")
            self._begin_abort(result)
        self._wake()
        return result

    def can_abort(self) -> bool:
        """Whether abort_transaction() would be accepted now."""
        return self.state in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR) and (
            self._pending is None or self._pending.op == "abort_transaction"
        )

    def observed(self, result: TxnResult) -> None:
        """The user saw ``result`` finish: it is no longer pending."""
        with self._lock:
            if self._pending is result:
                self._pending = None

    def abort_on_close(self, deadline: float) -> None:
        """close() with a transaction open: abort it (without waiting); the sender gives up
        on coordinator requests at ``deadline``."""
        self._give_up_at = deadline
        with self._lock:
            if self.state in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR) and self._pending is None:
                self._begin_abort(TxnResult("close"))
        self._wake()

    def _begin_abort(self, result: TxnResult) -> None:
        self._transition_to(TxnState.ABORTING)
        self._drop_transaction_requests(TransactionAbortedError("the transaction was aborted"))
        self._enqueue(_Request(_Kind.END_TXN, commit=False, result=result))

    def _drop_transaction_requests(self, error: BaseException) -> None:
        """Forget queued requests that would add to the transaction, failing their results,
        except adds already attempted: whether the coordinator took them is unknown, and
        EndTxn is only sent (and only accepted) if it did."""
        keep: list[_Request] = []
        for request in self._queue:
            if (
                request.kind in (_Kind.FIND_COORDINATOR, _Kind.INIT_PRODUCER_ID)
                or (request.kind in (_Kind.ADD_PARTITIONS, _Kind.ADD_OFFSETS) and request.attempts > 0)
                or (request.kind == _Kind.END_TXN and not request.commit)
            ):
                keep.append(request)
            elif request.result is not None:
                request.result.complete(error)
        self._queue = keep

    def idle(self) -> bool:
        """Nothing queued or in flight (the sender may stop)."""
        if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
            return True
        return self._in_flight is None and (not self._queue or self.state is TxnState.FATAL_ERROR)

    # -- the sender thread ---------------------------------------------------------------------

    def may_drain(self, batch: ProducerBatch) -> bool:
        """Whether the batch may be sent now (called under the accumulator lock)."""
        if self.state not in _DRAINABLE:
            return False
        if self.tv2:
            return True
        tp = batch.tp
        if tp in self._added:
            return True
        self._new_partitions.add(tp)
        return False

    def batches_sent(self, batches: list[ProducerBatch]) -> None:
        if self.tv2:
            self._touched = True  # the leader adds the partition to the transaction

    def batch_failed(self, error: BaseException) -> None:
        """A batch of the transaction failed for good."""
        if isinstance(error, TransactionAbortedError):
            return
        with self._lock:
            if self.state is TxnState.FATAL_ERROR:
                return
            code = getattr(error, "code", None)
            if isinstance(error, BrokerError) and code in _FATAL_BATCH_ERRORS:
                if code == 90:
                    error = _fenced_error(code, "produce", getattr(error, "message", None))
                self._fatal(error)
            elif self.state in _DRAINABLE:
                if code == 47 and not self.tv2:
                    self._epoch_rejected = True
                self._abortable(error)

    def maintain(self, sender: Sender, now: float) -> float:
        """One turn of the sender loop: send at most one coordinator request. Returns how
        long the sender may sleep as far as transactions are concerned."""
        if self.state in _FAIL_QUEUED:
            self._fail_queued(sender)
        if self._in_flight is not None:
            return 3600.0
        self._metadata = sender.metadata
        with self._lock:
            if self.state in _DRAINABLE and self._new_partitions and not any(
                r.kind == _Kind.ADD_PARTITIONS for r in self._queue
            ):
                self._enqueue(_Request(_Kind.ADD_PARTITIONS))
            picked = self._pick(sender, now)
            if isinstance(picked, float):
                return picked
            request, conn = picked
            if request.api not in conn.versions:
                self._fatal(UnsupportedVersionError(
                    f"broker {conn.node_id} does not support {request.api.name}, which transactions need"
                ))
                return 3600.0
            built = self._build(request, conn)
            if built is None:
                return 0.0  # handled locally: look again
            body, version = built
            request.version = version
            self._queue.remove(request)
            self._in_flight = request
        request.attempts += 1
        try:
            conn.send(request.api, body, lambda r, e: self._on_response(request, r, e), now, version=version)
        except UnsupportedVersionError as exc:
            with self._lock:
                self._in_flight = None
                self._fatal(exc)
        except KafkaConnectionError as exc:
            self._on_response(request, None, exc)
        return 3600.0

    def _pick(self, sender: Sender, now: float) -> tuple[_Request, BrokerConnection] | float:
        """The most urgent request that may go now, with its connection, or how long to wait."""
        if not self._queue:
            return 3600.0
        # Strictly in order of urgency (stable among equals): offsets must be committed before
        # EndTxn, and a coordinator must be known before anything goes to it.
        request = min(self._queue, key=lambda r: r.kind)
        if request.kind == _Kind.END_TXN and (sender.acc.incomplete or any(sender.in_flight.values())):
            return 3600.0  # EndTxn waits for every batch; completions wake the sender
        if now < request.retry_at:
            return request.retry_at - now
        if request.kind == _Kind.FIND_COORDINATOR:
            conn = sender._any_ready_connection(now)
            return (request, conn) if conn is not None else 0.05
        if request.kind in (_Kind.INIT_PRODUCER_ID, _Kind.ADD_PARTITIONS, _Kind.ADD_OFFSETS, _Kind.END_TXN):
            node, key, key_type = self.coordinator, self.transactional_id, _COORDINATOR_TXN
        else:
            assert request.group is not None
            node, key, key_type = self._group_coordinators.get(request.group), request.group, _COORDINATOR_GROUP
        if node is None:
            self._find_coordinator(key, key_type)
            return 0.0
        conn = sender._connection(node, now)
        if conn is None and (node in sender._reconnect_attempts or sender._address(node) is None):
            # The coordinator cannot be reached (its broker died?): ask who it is now, after a
            # pause, as the answer changes only once the cluster has noticed.
            if request.kind == _Kind.TXN_OFFSET_COMMIT:
                self._group_coordinators.pop(key, None)
            else:
                self.coordinator = None
            self._find_coordinator(key, key_type, now + self._retry_backoff)
            return self._retry_backoff
        if conn is None or not conn.can_send():
            retry = sender._reconnect_at.get(node, now) - now
            return max(retry, 0.01) if retry > 0 else 0.05
        return request, conn

    def _find_coordinator(self, key: str, key_type: int, not_before: float = 0.0) -> None:
        for request in self._queue:
            if request.kind == _Kind.FIND_COORDINATOR and request.group == key and request.key_type == key_type:
                return
        self._enqueue(_Request(_Kind.FIND_COORDINATOR, group=key, key_type=key_type, retry_at=not_before))

    def _enqueue(self, request: _Request) -> None:
        self._queue.append(request)

    def _retry(self, request: _Request, delay: float | None = None) -> None:
        if delay is None:
            delay = min(self._retry_backoff * 2 ** min(request.attempts - 1, 10), self._retry_backoff_max)
        request.retry_at = time.monotonic() + delay
        self._queue.append(request)

    def _forget_coordinator(self, request: _Request) -> None:
        if request.kind == _Kind.TXN_OFFSET_COMMIT and request.group is not None:
            self._group_coordinators.pop(request.group, None)
        elif request.kind != _Kind.FIND_COORDINATOR:
            self.coordinator = None

    # -- building requests ---------------------------------------------------------------------

    def _build(self, request: _Request, conn: BrokerConnection) -> tuple[dict[str, Any], int] | None:
        """The request's body and version; None if it was resolved without the broker."""
        versions = conn.versions
        pid, epoch = self.idempotence.producer_id, self.idempotence.producer_epoch
        kind = request.kind
        if kind == _Kind.FIND_COORDINATOR:
            version = versions.get(ApiKey.FIND_COORDINATOR, 0)
            assert request.group is not None
            if version >= 4:
                return {"key_type": request.key_type, "coordinator_keys": [request.group]}, version
            return {"key": request.group, "key_type": request.key_type}, version
        if kind == _Kind.INIT_PRODUCER_ID:
            version = versions.get(ApiKey.INIT_PRODUCER_ID, 0)
            if not request.bump:
                self._decide_protocol(conn)
            return {
                "transactional_id": self.transactional_id,
                "transaction_timeout_ms": self.transaction_timeout_ms,
                "producer_id": pid if request.bump else -1,
                "producer_epoch": epoch if request.bump else -1,
            }, version
        if kind == _Kind.ADD_PARTITIONS:
            if not request.partitions:  # a first attempt (a retry keeps its partitions)
                self._new_partitions -= self._added
                if self.state not in _DRAINABLE or not self._new_partitions:
                    self._queue.remove(request)
                    return None
                request.partitions = set(self._new_partitions)
                self._new_partitions.clear()
            topics: dict[str, list[int]] = {}
            for topic, partition in sorted(request.partitions):
                topics.setdefault(topic, []).append(partition)
            return {
                "v3_and_below_transactional_id": self.transactional_id,
                "v3_and_below_producer_id": pid,
                "v3_and_below_producer_epoch": epoch,
                "v3_and_below_topics": [{"name": t, "partitions": p} for t, p in topics.items()],
            }, min(versions.get(ApiKey.ADD_PARTITIONS_TO_TXN, 0), 3)
        if kind == _Kind.ADD_OFFSETS:
            return {
                "transactional_id": self.transactional_id,
                "producer_id": pid,
                "producer_epoch": epoch,
                "group_id": request.group,
            }, versions.get(ApiKey.ADD_OFFSETS_TO_TXN, 0)
        if kind == _Kind.TXN_OFFSET_COMMIT:
            group = request.group_metadata
            assert group is not None
            version = min(versions.get(ApiKey.TXN_OFFSET_COMMIT, 0), 5 if self.tv2 else 4)
            if self.tv2:
                self._touched = True  # the group coordinator adds the offsets partition
            return {
                "transactional_id": self.transactional_id,
                "group_id": group.group_id,
                "producer_id": pid,
                "producer_epoch": epoch,
                "generation_id_or_member_epoch": group.generation_id,
                "member_id": group.member_id,
                "group_instance_id": group.group_instance_id,
                "topics": [
                    {"name": topic, "partitions": [
                        {"partition_index": p, "committed_offset": o, "committed_leader_epoch": e,
                         "committed_metadata": m}
                        for p, o, m, e in parts
                    ]}
                    for topic, parts in request.offsets.items()
                ],
            }, version
        assert kind == _Kind.END_TXN
        if not self._touched or (self._epoch_rejected and not request.commit):
            # The coordinator never heard of this transaction: nothing to end. (Or, v1, it
            # refuses our epoch: the InitProducerId bump that follows ends the transaction.)
            self._queue.remove(request)
            self._end_transaction(request, None)
            return None
        version = min(versions.get(ApiKey.END_TXN, 0), 5 if self.tv2 else 4)
        return {
            "transactional_id": self.transactional_id,
            "producer_id": pid,
            "producer_epoch": epoch,
            "committed": request.commit,
        }, version

    def _decide_protocol(self, conn: BrokerConnection) -> None:
        versions = conn.versions
        self.tv2 = (
            conn.finalized_features.get("transaction.version", 0) >= 2
            and versions.get(ApiKey.END_TXN, 0) >= 5
            and versions.get(ApiKey.PRODUCE, 0) >= 12
            and versions.get(ApiKey.TXN_OFFSET_COMMIT, 0) >= 5
        )
        self.max_produce_version = 12 if self.tv2 else 11
        log.info("transactional.id %r: transactions v%d", self.transactional_id, 2 if self.tv2 else 1)

    # -- responses -----------------------------------------------------------------------------

    def _on_response(self, request: _Request, response: dict[str, Any] | None, error: KafkaError | None) -> None:
        with self._lock:
            if self._in_flight is request:
                self._in_flight = None
            if self.state is TxnState.FATAL_ERROR:
                return
            if error is not None or response is None:
                # Disconnected or timed out: the coordinator may have moved.
                log.info("%s to the coordinator failed (%s): retrying", request.api.name, error)
                self._forget_coordinator(request)
                self._retry(request)  # an add of unknown outcome is resolved even when aborting
                return
            handler = {
                _Kind.FIND_COORDINATOR: self._on_find_coordinator,
                _Kind.INIT_PRODUCER_ID: self._on_init_producer_id,
                _Kind.ADD_PARTITIONS: self._on_add_partitions,
                _Kind.ADD_OFFSETS: self._on_add_offsets,
                _Kind.TXN_OFFSET_COMMIT: self._on_txn_offset_commit,
                _Kind.END_TXN: self._on_end_txn,
            }[request.kind]
            handler(request, response)
        self._wake()

    def _on_error(self, request: _Request, code: int, message: str | None) -> None:
        """The common handling of an error code (lock held)."""
        verdict = classify(code, request.api)
        what = request.api.name
        if verdict == _REDISCOVER:
            self._forget_coordinator(request)
            self._retry(request, self._retry_backoff)
        elif verdict == _RETRY:
            delay = 0.02 if code == _CONCURRENT_TRANSACTIONS and request.attempts < 5 else None
            self._retry(request, delay)
        elif verdict == _FENCED:
            self._fatal(_fenced_error(code, what, message))
        elif verdict == _ABORTABLE and request.kind != _Kind.END_TXN and self.state not in _DRAINABLE:
            if request.result is not None:  # the transaction is being aborted anyway
                request.result.complete(TransactionAbortedError(f"{what} failed: {error_for_code(code, message)}"))
        elif verdict == _ABORTABLE and self.state in _DRAINABLE:
            self._abortable(error_for_code(code, message), request.result)
        elif verdict == _ABORTABLE and self.state is TxnState.ABORTING and request.kind == _Kind.END_TXN:
            error = error_for_code(code, message)
            if self._internal_transition(TxnState.ABORTABLE_ERROR, error) and request.result is not None:
                request.result.complete(self._abort_required())
        else:
            self._fatal(error_for_code(code, f"{what} failed: {message}" if message else f"{what} failed"))

    def _on_find_coordinator(self, request: _Request, response: dict[str, Any]) -> None:
        entry: dict[str, Any]
        if request.version >= 4:
            entries = response.get("coordinators") or []
            entry = entries[0] if entries else {"error_code": 15, "error_message": "no coordinator in the response"}
        else:
            entry = response
        code = entry.get("error_code", 0)
        if code:
            if code in _COORDINATOR_MOVED or error_for_code(code).retriable:
                self._retry(request)  # e.g. the transaction log is still being created
            elif code == 30 and request.key_type == _COORDINATOR_GROUP:
                self._abortable(error_for_code(code, entry.get("error_message")))
                self._drop_group_requests(request.group)
            else:
                self._fatal(error_for_code(code, entry.get("error_message")))
            return
        node = entry["node_id"]
        self._sender_brokers_add(node, entry["host"], entry["port"])
        if request.key_type == _COORDINATOR_TXN:
            self.coordinator = node
        else:
            assert request.group is not None
            self._group_coordinators[request.group] = node
        log.debug("coordinator for %s %r: node %s", "transaction" if request.key_type else "group",
                  request.group, node)

    def _drop_group_requests(self, group: str | None) -> None:
        for queued in list(self._queue):
            if queued.group == group and queued.kind in (_Kind.TXN_OFFSET_COMMIT, _Kind.ADD_OFFSETS):
                self._queue.remove(queued)

    _metadata: ClusterMetadata | None = None

    def _sender_brokers_add(self, node: int, host: str, port: int) -> None:
        """A coordinator the metadata does not list yet (the next update may replace it)."""
        if self._metadata is not None and node not in self._metadata.brokers:
            self._metadata.brokers[node] = Broker(node, host, port)

    def _on_init_producer_id(self, request: _Request, response: dict[str, Any]) -> None:
        code = response["error_code"]
        if code:
            if request.bump and classify(code, request.api) in (_ABORTABLE, _FATAL):
                # The bump after an abort failed: the producer cannot go on.
                self._fatal(error_for_code(code, "InitProducerId (epoch bump after abort) failed"))
                return
            self._on_error(request, code, None)
            return
        self.idempotence.set_producer_id(response["producer_id"], response["producer_epoch"])
        self._reset_transaction()
        if self._internal_transition(TxnState.READY) and request.result is not None:
            request.result.complete()

    def _on_add_partitions(self, request: _Request, response: dict[str, Any]) -> None:
        results = response.get("results_by_topic_v3_and_below") or []
        failed: list[tuple[int, str]] = []
        for topic in results:
            for part in topic["results_by_partition"]:
                tp = (topic["name"], part["partition_index"])
                code = part["partition_error_code"]
                if code == 0:
                    self._added.add(tp)
                    self._touched = True
                elif code != _OPERATION_NOT_ATTEMPTED:
                    failed.append((code, f"{tp[0]}-{tp[1]}"))
        missing = request.partitions - self._added
        self._new_partitions -= self._added  # asked for again while this request was out
        if not failed and self.state not in _DRAINABLE:
            return  # aborting: what was added is recorded, EndTxn ends it
        if not failed:
            if missing:  # not attempted only, or left out of the answer: try again
                self._new_partitions |= missing
            return
        code, where = failed[0]
        verdict = classify(code, request.api)
        if verdict in (_RETRY, _REDISCOVER):
            if verdict == _REDISCOVER:
                self.coordinator = None
            request.partitions = missing
            self._retry(request, 0.02 if code == _CONCURRENT_TRANSACTIONS and request.attempts < 5 else None)
            return
        self._on_error(request, code, f"AddPartitionsToTxn for {where}")

    def _on_add_offsets(self, request: _Request, response: dict[str, Any]) -> None:
        code = response["error_code"]
        if code:
            self._on_error(request, code, None)
            return
        self._touched = True
        if self.state not in _DRAINABLE:
            if request.result is not None:
                request.result.complete(TransactionAbortedError("the transaction was aborted"))
            return
        self._enqueue(_Request(
            _Kind.TXN_OFFSET_COMMIT, group=request.group, offsets=request.offsets,
            group_metadata=request.group_metadata, result=request.result,
        ))

    def _on_txn_offset_commit(self, request: _Request, response: dict[str, Any]) -> None:
        remaining: Offsets = {}
        worst: tuple[int, str] | None = None
        for topic in response.get("topics") or []:
            for part in topic["partitions"]:
                code = part["error_code"]
                if code == 0:
                    continue
                index = part["partition_index"]
                for entry in request.offsets.get(topic["name"], []):
                    if entry[0] == index:
                        remaining.setdefault(topic["name"], []).append(entry)
                if worst is None or _SEVERITY[classify(code, request.api)] > _SEVERITY[classify(worst[0], request.api)]:
                    worst = (code, f"{topic['name']}-{index}")
        if worst is None:
            if request.result is not None:
                request.result.complete()
            return
        request.offsets = remaining  # only the failed partitions go again
        self._on_error(request, worst[0], f"TxnOffsetCommit for {worst[1]}")

    def _on_end_txn(self, request: _Request, response: dict[str, Any]) -> None:
        code = response["error_code"]
        if code == _INVALID_TXN_STATE and request.commit and self.tv2 and self.state is TxnState.COMMITTING:
            # v2: the coordinator already ended the transaction, by aborting it (after
            # transaction.timeout.ms): the commit did not happen. Aborting is always allowed
            # in v2 and brings the producer back.
            self._abortable(error_for_code(code, (
                "the coordinator refused the commit: it had already aborted the transaction "
                "(transaction.timeout.ms ran out?)"
            )), request.result)
            return
        if code:
            self._on_error(request, code, None)
            return
        self._end_transaction(request, response)

    def _end_transaction(self, request: _Request, response: dict[str, Any] | None) -> None:
        """EndTxn succeeded (or was not needed)."""
        committing = self.state is TxnState.COMMITTING
        if response is not None and response.get("producer_id", -1) >= 0 and response.get("producer_epoch", -1) >= 0:
            # Transactions v2: the coordinator bumped the epoch (or gave a new id); sequences
            # start again at 0.
            self.idempotence.set_producer_id(response["producer_id"], response["producer_epoch"])
        if committing:
            self.transactions_committed += 1
        else:
            self.transactions_aborted += 1
        bump = not committing and not self.tv2 and (self.idempotence.bump_needed or self._epoch_rejected)
        self._reset_transaction()
        if bump:
            # v1: a batch failed with a sequence; only a new epoch lets sequences restart at 0.
            if self._internal_transition(TxnState.INITIALIZING):
                self._enqueue(_Request(_Kind.INIT_PRODUCER_ID, bump=True, result=request.result))
            return
        if self._internal_transition(TxnState.READY) and request.result is not None:
            request.result.complete()

    def _reset_transaction(self) -> None:
        self._added.clear()
        self._new_partitions.clear()
        self._touched = False
        self._epoch_rejected = False

    # -- errors --------------------------------------------------------------------------------

    def _abortable(self, error: BaseException, result: TxnResult | None = None) -> None:
        """The transaction can no longer commit (lock held)."""
        if self.state is TxnState.ABORTABLE_ERROR:
            if result is not None:
                result.complete(self._abort_required())
            return
        if self.state not in _DRAINABLE:
            return
        log.warning("transaction %r must be aborted: %s", self.transactional_id, error)
        if not self._internal_transition(TxnState.ABORTABLE_ERROR, error):
            return
        failure = self._abort_required()
        if result is not None:
            result.complete(failure)
        # A commit waiting for its batches now fails; queued offset commits too.
        self._drop_transaction_requests(failure)

    def _fatal(self, error: BaseException) -> None:
        """Nothing more can be done with this producer (lock held)."""
        if self.state is TxnState.FATAL_ERROR:
            return
        log.error("transactional producer %r failed fatally: %s", self.transactional_id, error)
        self.last_error = error
        self.state = TxnState.FATAL_ERROR  # allowed from every state
        queued, self._queue = self._queue, []
        if self._in_flight is not None:
            queued.append(self._in_flight)
        for request in queued:
            if request.result is not None:
                request.result.complete(error)
        if self._pending is not None:
            self._pending.complete(error)

    def _fail_queued(self, sender: Sender) -> None:
        """Fail the queued batches of a transaction being aborted (or of a failed producer)."""
        batches = sender.acc.abort_all()
        if not batches:
            return
        error: BaseException
        if self.state is TxnState.FATAL_ERROR and self.last_error is not None:
            error = self.last_error
        else:
            error = TransactionAbortedError(
                "the record was not sent: its transaction is being aborted"
                + (f" after an error: {self.last_error}" if self.last_error is not None else "")
            )
        for batch in batches:
            if batch.base_sequence >= 0:
                self.idempotence.failed(batch, error)
            sender._complete(batch, -1, -1, error)


def wait_for(manager: TransactionManager, result: TxnResult, timeout: float, op: str) -> None:
    """Block a user thread until ``result`` is done (raising its error), or raise
    KafkaTimeoutError after ``timeout`` seconds, leaving the call pending to be resumed."""
    if not result.wait(timeout):
        raise KafkaTimeoutError(
            f"{op}() did not complete within {timeout:.3g} s; its outcome is not known yet: "
            f"call {op}() again to resume waiting for it"
        )
    manager.observed(result)
    if result.error is not None:
        raise result.error
