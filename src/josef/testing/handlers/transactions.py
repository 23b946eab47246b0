"""The transaction coordinator: InitProducerId (v0-v5), AddPartitionsToTxn (v0-v5), AddOffsetsToTxn (v0-v4),
EndTxn (v0-v4) and TxnOffsetCommit (v0-v5), with transactions version 1 semantics.

* InitProducerId without a transactional id hands out a fresh producer id at epoch 0 (any broker).  With
  one (only on its coordinator) it creates the transaction, or bumps the epoch of the existing one,
  aborting a transaction left open (which fences the previous producer instance: its requests now get
  PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH from partition leaders).  From v3 a producer may pass its
  current id and epoch to bump its own epoch (KIP-360); any other id/epoch is fenced.
* Every coordinator request checks the coordinator (NOT_COORDINATOR), the id (INVALID_PRODUCER_ID_MAPPING)
  and the epoch (PRODUCER_FENCED on the versions that know it, INVALID_PRODUCER_EPOCH before).
* EndTxn writes a COMMIT or ABORT control batch to every partition of the transaction, makes offsets
  sent with TxnOffsetCommit visible to their group on commit (see
  :meth:`~josef.testing.MockCluster.committed_offsets`), and remembers its outcome: a retried EndTxn
  whose first response was lost gets the same answer; the opposite decision gets INVALID_TXN_STATE.
* A transaction open longer than its timeout is aborted by the coordinator, with an epoch bump.

The coordinator completes transactions at once, so CONCURRENT_TRANSACTIONS only appears when scripted.
"""

from __future__ import annotations

from typing import cast

from josef._core.protocol import ApiKey
from josef._core.protocol.types import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnRequestV3AndBelowTopics,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnResponseResultsByTopicV3AndBelow,
    AddPartitionsToTxnResponseResultsByTopicV3AndBelowResultsByPartition,
    AddPartitionsToTxnResponseResultsByTransaction,
    EndTxnRequest,
    EndTxnResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    TxnOffsetCommitResponseTopics,
    TxnOffsetCommitResponseTopicsPartitions,
)
from josef.errors import ErrorCode
from josef.testing.handlers.base import Reply, Request
from josef.testing.log import ProducerEntry
from josef.testing.state import ClusterState, Transaction, TxnState

__all__ = [
    "abort_expired",
    "end_transaction",
    "handle_add_offsets_to_txn",
    "handle_add_partitions_to_txn",
    "handle_end_txn",
    "handle_init_producer_id",
    "handle_txn_offset_commit",
    "requested_topics",
]

MAX_TRANSACTION_TIMEOUT_MS = 900_000  # transaction.max.timeout.ms default
_MAX_EPOCH = 32767
# The first version of each API that answers a stale epoch with PRODUCER_FENCED (KIP-588).
_FENCED_FROM: dict[int, int] = {
    ApiKey.INIT_PRODUCER_ID: 4,
    ApiKey.ADD_PARTITIONS_TO_TXN: 2,
    ApiKey.ADD_OFFSETS_TO_TXN: 2,
    ApiKey.END_TXN: 2,
    ApiKey.TXN_OFFSET_COMMIT: 3,
}


def _fenced(req: Request) -> int:
    fenced = req.version >= _FENCED_FROM.get(req.api_key, 99)
    return ErrorCode.PRODUCER_FENCED if fenced else ErrorCode.INVALID_PRODUCER_EPOCH


def _coordinator_error(state: ClusterState, req: Request, key_type: int, key: str) -> int:
    node = state.coordinator_for(key_type, key)
    if node < 0:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    return ErrorCode.NONE if node == req.broker else ErrorCode.NOT_COORDINATOR


def _check(state: ClusterState, req: Request, transactional_id: str, producer_id: int,
           producer_epoch: int) -> tuple[int, Transaction | None]:
    """Coordinator, id and epoch checks shared by the coordinator APIs."""
    if req.error is not None:
        return req.error, None
    code = _coordinator_error(state, req, 1, transactional_id)
    if code:
        return code, None
    txn = state.transactions.get(transactional_id)
    if txn is None or txn.producer_id != producer_id:
        return ErrorCode.INVALID_PRODUCER_ID_MAPPING, None
    if producer_epoch != txn.producer_epoch:
        return _fenced(req), None
    return 0, txn


def _bump(state: ClusterState, txn: Transaction) -> None:
    if txn.producer_epoch >= _MAX_EPOCH - 1:
        state.txn_by_pid.pop(txn.producer_id, None)
        txn.producer_id = state.new_producer_id()
        txn.producer_epoch = 0
        state.txn_by_pid[txn.producer_id] = txn
    else:
        txn.producer_epoch += 1


def add_partition(txn: Transaction, tp: tuple[str, int], now: float) -> None:
    """Add a partition to the transaction, starting it if needed (AddPartitionsToTxn, or implicitly in v2)."""
    if txn.state != TxnState.ONGOING:
        txn.state = TxnState.ONGOING
        txn.started_at = now
    txn.partitions.add(tp)


def end_transaction(state: ClusterState, txn: Transaction, commit: bool, now_ms: int,
                    fence_epoch: int | None = None) -> None:
    """Write the markers and settle offsets of an ongoing transaction.

    ``fence_epoch`` (transactions v2): the markers carry the epoch the producer gets next, so that a late
    batch of the ended transaction is fenced on every partition it touched.
    """
    for topic, index in sorted(txn.partitions):
        partition = state.partition(topic, index)
        if partition is not None:
            epoch = txn.producer_epoch if fence_epoch is None else fence_epoch
            partition.write_marker(txn.producer_id, epoch, commit, txn.coordinator_epoch, now_ms)
            if fence_epoch is not None:
                partition.producers[txn.producer_id] = ProducerEntry(fence_epoch)
            partition.high_watermark = max(partition.high_watermark, partition.log_end_offset)
            partition.pending_hw.clear()
    if commit:
        for group, offsets in txn.pending_offsets.items():
            state.group_offsets.setdefault(group, {}).update(offsets)
    txn.partitions.clear()
    txn.groups.clear()
    txn.pending_offsets.clear()
    txn.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
    txn.last_result_commit = commit


def abort_expired(state: ClusterState, now: float, now_ms: int) -> None:
    """Abort (and fence, with an epoch bump) transactions open longer than their timeout."""
    for txn in list(state.transactions.values()):
        if txn.state == TxnState.ONGOING and (now - txn.started_at) * 1000 > txn.timeout_ms:
            end_transaction(state, txn, False, now_ms)
            _bump(state, txn)
            txn.last_result_commit = None


def handle_init_producer_id(state: ClusterState, req: Request) -> Reply:
    body = cast(InitProducerIdRequest, req.body)

    def answer(code: int, pid: int = -1, epoch: int = -1) -> Reply:
        out: InitProducerIdResponse = {
            "throttle_time_ms": req.throttle_ms, "error_code": code, "producer_id": pid, "producer_epoch": epoch
        }
        return Reply(out)

    if req.error is not None:
        return answer(req.error)
    transactional_id = body["transactional_id"]
    if transactional_id is None:
        return answer(ErrorCode.NONE, state.new_producer_id(), 0)
    code = _coordinator_error(state, req, 1, transactional_id)
    if code:
        return answer(code)
    timeout = body["transaction_timeout_ms"]
    if not 0 < timeout <= MAX_TRANSACTION_TIMEOUT_MS:
        return answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
    txn = state.transactions.get(transactional_id)
    if txn is None:
        txn = Transaction(transactional_id, state.new_producer_id(), 0, timeout)
        state.transactions[transactional_id] = txn
        state.txn_by_pid[txn.producer_id] = txn
        return answer(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)
    given_pid, given_epoch = body.get("producer_id", -1), body.get("producer_epoch", -1)
    if given_pid >= 0 and (given_pid != txn.producer_id or given_epoch != txn.producer_epoch):
        return answer(_fenced(req))
    if txn.state == TxnState.ONGOING:
        end_transaction(state, txn, False, req.now_ms)
    _bump(state, txn)
    txn.state = TxnState.EMPTY
    txn.last_result_commit = None
    txn.ended_as = None
    txn.timeout_ms = timeout
    return answer(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)


def requested_topics(body: AddPartitionsToTxnRequest, version: int) -> list[AddPartitionsToTxnRequestV3AndBelowTopics]:
    """The topics of an AddPartitionsToTxn request, in either form (the two topic types are identical)."""
    if version <= 3:
        return body.get("v3_and_below_topics", [])
    return [t for txn in body.get("transactions", []) for t in txn["topics"]]


def _add_partitions(
    state: ClusterState, req: Request, transactional_id: str, producer_id: int, producer_epoch: int,
    topics: list[AddPartitionsToTxnRequestV3AndBelowTopics], verify_only: bool,
) -> tuple[int, list[AddPartitionsToTxnResponseResultsByTopicV3AndBelow]]:
    """Add partitions to one transaction; returns (top-level error, per-topic results)."""
    code, txn = _check(state, req, transactional_id, producer_id, producer_epoch)
    per: dict[tuple[str, int], int] = {}
    for t in topics:
        for p in t["partitions"]:
            injected = req.error_for(t["name"], p)
            if code:
                per[(t["name"], p)] = code
            elif injected is not None:
                per[(t["name"], p)] = injected
            elif state.partition(t["name"], p) is None:
                per[(t["name"], p)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                per[(t["name"], p)] = ErrorCode.NONE
    if txn is not None and any(per.values()):
        per = {tp: c or ErrorCode.OPERATION_NOT_ATTEMPTED for tp, c in per.items()}
    elif txn is not None and verify_only:
        per = {tp: ErrorCode.NONE if tp in txn.partitions else ErrorCode.INVALID_TXN_STATE for tp in per}
    elif txn is not None:
        if txn.state != TxnState.ONGOING:
            txn.state = TxnState.ONGOING
            txn.started_at = req.now
        txn.partitions.update(per)
    results: dict[str, list[AddPartitionsToTxnResponseResultsByTopicV3AndBelowResultsByPartition]] = {}
    for (topic, p), c in per.items():
        results.setdefault(topic, []).append({"partition_index": p, "partition_error_code": c})
    return code, [{"name": name, "results_by_partition": parts} for name, parts in results.items()]


def handle_add_partitions_to_txn(state: ClusterState, req: Request) -> Reply:
    body = cast(AddPartitionsToTxnRequest, req.body)
    out: AddPartitionsToTxnResponse
    if req.version <= 3:
        _, results = _add_partitions(state, req, body["v3_and_below_transactional_id"],
                                     body["v3_and_below_producer_id"], body["v3_and_below_producer_epoch"],
                                     body["v3_and_below_topics"], False)
        out = {"throttle_time_ms": req.throttle_ms, "results_by_topic_v3_and_below": results}
        return Reply(out)
    by_txn: list[AddPartitionsToTxnResponseResultsByTransaction] = []
    for txn in body["transactions"]:
        _, results = _add_partitions(state, req, txn["transactional_id"], txn["producer_id"], txn["producer_epoch"],
                                     txn["topics"], txn["verify_only"])
        by_txn.append({"transactional_id": txn["transactional_id"], "topic_results": results})
    out = {"throttle_time_ms": req.throttle_ms, "error_code": req.error or ErrorCode.NONE,
           "results_by_transaction": by_txn}
    return Reply(out)


def handle_add_offsets_to_txn(state: ClusterState, req: Request) -> Reply:
    body = cast(AddOffsetsToTxnRequest, req.body)
    code, txn = _check(state, req, body["transactional_id"], body["producer_id"], body["producer_epoch"])
    if txn is not None:
        txn.groups.add(body["group_id"])
        if txn.state != TxnState.ONGOING:
            txn.state = TxnState.ONGOING
            txn.started_at = req.now
    out: AddOffsetsToTxnResponse = {"throttle_time_ms": req.throttle_ms, "error_code": code}
    return Reply(out)


def _end_txn_v2(state: ClusterState, req: Request) -> Reply:
    """EndTxn v5 (transactions v2): every transaction ends with an epoch bump, returned to the producer."""
    body = req.body
    commit = bool(body["committed"])

    def answer(code: int, txn: Transaction | None = None) -> Reply:
        pid, epoch = (txn.producer_id, txn.producer_epoch) if txn is not None and not code else (-1, -1)
        return Reply({"throttle_time_ms": req.throttle_ms, "error_code": code, "producer_id": pid,
                      "producer_epoch": epoch})

    if req.error is not None:
        return answer(req.error)
    code = _coordinator_error(state, req, 1, body["transactional_id"])
    if code:
        return answer(code)
    txn = state.transactions.get(body["transactional_id"])
    given = (body["producer_id"], body["producer_epoch"])
    if txn is not None and txn.ended_as == given and txn.state != TxnState.ONGOING:
        # A retry of the EndTxn that ended the last transaction (its response was lost).
        return answer(ErrorCode.NONE if txn.last_result_commit == commit else ErrorCode.INVALID_TXN_STATE, txn)
    if txn is None or txn.producer_id != given[0]:
        return answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
    if given[1] != txn.producer_epoch:
        return answer(ErrorCode.PRODUCER_FENCED)
    if txn.state == TxnState.ONGOING:
        fence = txn.producer_epoch + 1 if txn.producer_epoch < _MAX_EPOCH - 1 else None
        end_transaction(state, txn, commit, req.now_ms, fence)
    elif commit:
        return answer(ErrorCode.INVALID_TXN_STATE)  # nothing to commit; an empty abort only bumps the epoch
    txn.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
    txn.last_result_commit = commit
    txn.ended_as = given
    _bump(state, txn)
    return answer(ErrorCode.NONE, txn)


def handle_end_txn(state: ClusterState, req: Request) -> Reply:
    body = cast(EndTxnRequest, req.body)
    if req.version >= 5:
        return _end_txn_v2(state, req)
    commit = bool(body["committed"])
    code, txn = _check(state, req, body["transactional_id"], body["producer_id"], body["producer_epoch"])
    if txn is not None:
        if txn.state == TxnState.ONGOING:
            end_transaction(state, txn, commit, req.now_ms)
        elif txn.last_result_commit is None or txn.last_result_commit != commit:
            code = ErrorCode.INVALID_TXN_STATE  # nothing to end, or a retry asking for the other outcome
    out: EndTxnResponse = {"throttle_time_ms": req.throttle_ms, "error_code": code}
    return Reply(out)


def handle_txn_offset_commit(state: ClusterState, req: Request) -> Reply:
    body = cast(TxnOffsetCommitRequest, req.body)
    group = body["group_id"]
    code = _coordinator_error(state, req, 0, group)
    txn = None
    if not code:
        txn = state.transactions.get(body["transactional_id"])
        if txn is None or txn.producer_id != body["producer_id"]:
            code = ErrorCode.INVALID_PRODUCER_ID_MAPPING
        elif body["producer_epoch"] != txn.producer_epoch:
            code = _fenced(req)
        elif req.version >= 5 and state.config.transaction_version >= 2:
            if group not in txn.groups:  # transactions v2: the group joins implicitly
                txn.groups.add(group)
                if txn.state != TxnState.ONGOING:
                    txn.state = TxnState.ONGOING
                    txn.started_at = req.now
        elif txn.state != TxnState.ONGOING or group not in txn.groups:
            code = ErrorCode.INVALID_TXN_STATE
    topics: list[TxnOffsetCommitResponseTopics] = []
    for t in body["topics"]:
        parts: list[TxnOffsetCommitResponseTopicsPartitions] = []
        for p in t["partitions"]:
            c = req.error_for(t["name"], p["partition_index"])
            if c is None:
                c = code
            if not c and txn is not None:
                offsets = txn.pending_offsets.setdefault(group, {})
                offsets[(t["name"], p["partition_index"])] = (p["committed_offset"], p["committed_metadata"])
            parts.append({"partition_index": p["partition_index"], "error_code": c})
        topics.append({"name": t["name"], "partitions": parts})
    out: TxnOffsetCommitResponse = {"throttle_time_ms": req.throttle_ms, "topics": topics}
    return Reply(out)
