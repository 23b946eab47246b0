"""Produce, v3-v13 (v13 names topics by id).

Per partition, in the order a broker checks: the partition exists and this broker leads it; the records
are exactly one RecordBatch v2 with a good CRC, a record count that matches its records, no control flag
and a size within ``max_message_bytes``; a transactional batch belongs to an ongoing transaction that
added this partition, with the transaction's epoch; acks=all finds at least ``min.insync.replicas`` in the
ISR; then the idempotence checks of :mod:`josef.testing.log` (duplicates are answered with the original
offset and not appended again).

acks=all responses wait ``replication_delay`` (the simulated followers catching up); the high watermark
moves then.  With acks=0 nothing is answered, and an error closes the connection, as a broker does.
"""

from __future__ import annotations

from typing import cast

from josef._core.protocol.types import (
    ProduceRequest,
    ProduceRequestTopicData,
    ProduceResponse,
    ProduceResponseResponses,
    ProduceResponseResponsesPartitionResponses,
)
from josef.errors import ErrorCode
from josef.testing.handlers.base import (
    Reply,
    Request,
    leader_error,
    node_endpoint,
    topic_by_name_or_id,
)
from josef.testing.handlers.transactions import add_partition
from josef.testing.log import InvalidBatch, count_records, parse_batch_header
from josef.testing.state import ClusterState, TxnState

__all__ = ["handle_produce", "topic_name"]

_MAX_UNCOMPRESSED = 256 * 1024 * 1024


def topic_name(state: ClusterState, topic_data: ProduceRequestTopicData, version: int) -> str:
    return topic_by_name_or_id(state, topic_data, "name", version)


def handle_produce(state: ClusterState, req: Request) -> Reply:
    body = cast(ProduceRequest, req.body)
    acks = body["acks"]
    responses: list[ProduceResponseResponses] = []
    leaders: set[int] = set()
    delay = 0.0
    failed = False
    for topic_data in body["topic_data"]:
        name = topic_name(state, topic_data, req.version)
        parts: list[ProduceResponseResponsesPartitionResponses] = []
        for part in topic_data["partition_data"]:
            entry = _partition(state, req, name, part["index"], part["records"], acks, body["transactional_id"])
            code = entry["error_code"]
            if code:
                failed = True
                leader = entry.get("current_leader", {"leader_id": -1, "leader_epoch": -1})["leader_id"]
                if code == ErrorCode.NOT_LEADER_OR_FOLLOWER and leader >= 0:
                    leaders.add(leader)
            elif acks == -1:
                delay = max(delay, state.config.replication_delay)
            parts.append(entry)
        response: ProduceResponseResponses = {"name": name, "partition_responses": parts}
        if "topic_id" in topic_data:
            response["topic_id"] = topic_data["topic_id"]
        responses.append(response)
    if acks == 0:
        return Reply(None, close=failed)
    out: ProduceResponse = {
        "responses": responses,
        "throttle_time_ms": req.throttle_ms,
        "node_endpoints": [node_endpoint(state, n) for n in sorted(leaders)],
    }
    return Reply(out, delay=delay)


def _partition(
    state: ClusterState,
    req: Request,
    name: str,
    index: int,
    records: bytes | None,
    acks: int,
    transactional_id: str | None,
) -> ProduceResponseResponsesPartitionResponses:
    entry: ProduceResponseResponsesPartitionResponses = {
        "index": index, "error_code": ErrorCode.NONE, "base_offset": -1, "log_append_time_ms": -1,
        "log_start_offset": -1, "current_leader": {"leader_id": -1, "leader_epoch": -1},
    }

    def fail(code: int, message: str | None = None) -> ProduceResponseResponsesPartitionResponses:
        entry["error_code"] = code
        entry["error_message"] = message
        return entry

    injected = req.error_for(name, index)
    if injected is not None:
        return fail(injected, "injected by the mock cluster")
    partition = state.partition(name, index)
    if partition is None:
        by_id = req.version >= 13 and not name
        return fail(ErrorCode.UNKNOWN_TOPIC_ID if by_id else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    code = leader_error(state, partition, req.broker)
    if code:
        if partition.leader >= 0:
            entry["current_leader"] = {"leader_id": partition.leader, "leader_epoch": partition.leader_epoch}
        return fail(code, f"broker {req.broker} does not lead {name}-{index}")
    if acks not in (-1, 0, 1):
        return fail(ErrorCode.INVALID_REQUIRED_ACKS)
    if not records:
        return fail(ErrorCode.INVALID_RECORD, "no records")
    max_bytes = partition.max_message_bytes or state.config.max_message_bytes
    if len(records) > max_bytes:
        return fail(ErrorCode.MESSAGE_TOO_LARGE, f"batch of {len(records)} bytes > {max_bytes}")
    try:
        header = parse_batch_header(records)
        count_records(records, header, _MAX_UNCOMPRESSED)
    except InvalidBatch as exc:
        return fail(exc.code, str(exc))
    if header.transactional:
        txn = state.txn_by_pid.get(header.producer_id)
        if txn is None or transactional_id is None or txn.transactional_id != transactional_id:
            return fail(ErrorCode.INVALID_TXN_STATE, "transactional batch outside a known transaction")
        if header.producer_epoch < txn.producer_epoch:
            return fail(ErrorCode.INVALID_PRODUCER_EPOCH,
                        f"epoch {header.producer_epoch} was fenced by {txn.producer_epoch}")
        if txn.state != TxnState.ONGOING or (name, index) not in txn.partitions:
            if req.version < 12 or state.config.transaction_version < 2:
                return fail(ErrorCode.INVALID_TXN_STATE, f"{name}-{index} was not added to the transaction")
            add_partition(txn, (name, index), req.now)  # transactions v2: the partition joins implicitly
    if acks == -1 and len(partition.isr) < partition.min_insync_replicas:
        return fail(ErrorCode.NOT_ENOUGH_REPLICAS,
                    f"ISR {partition.isr} is smaller than min.insync.replicas={partition.min_insync_replicas}")
    verdict = partition.check_producer(header, header.producer_id in state.issued_producer_ids)
    if verdict is not None:
        if verdict.code:
            return fail(verdict.code, verdict.message)
        entry["base_offset"] = verdict.base_offset
        entry["log_start_offset"] = partition.log_start_offset
        return entry
    entry["base_offset"] = partition.append(records, header, partition.leader_epoch)
    if partition.retention_ms >= 0:
        partition.expire_older_than(req.now_ms - partition.retention_ms)
    entry["log_start_offset"] = partition.log_start_offset
    if state.config.replication_delay > 0 and len(partition.isr) > 1:
        partition.pending_hw.append((req.now + state.config.replication_delay, partition.log_end_offset))
    else:
        partition.high_watermark = partition.log_end_offset
    return entry
