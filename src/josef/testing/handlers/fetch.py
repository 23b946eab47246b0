"""Fetch (v4-v17) and ListOffsets (v1-v9): what consumers need to read back from the mock.

Fetch returns whole stored batches from the one holding ``fetch_offset``: up to the high watermark for
read_uncommitted, up to the last stable offset (the first offset of the oldest open transaction) for
read_committed, which also gets the aborted transactions overlapping the range so the consumer can drop
their records.  Control batches are returned as stored; consumers skip them.  A request that finds fewer
than ``min_bytes`` waits up to ``max_wait_ms`` for more (a long poll).  Fetch sessions (KIP-227) are not
kept: every answer has session id 0, which tells the client to send full requests.

Leader epochs are checked as a broker does: an older ``current_leader_epoch`` than the partition's gives
FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
"""

from __future__ import annotations

from typing import cast

from josef._core.protocol.types import (
    FetchRequest,
    FetchRequestTopics,
    FetchRequestTopicsPartitions,
    FetchResponse,
    FetchResponseResponses,
    FetchResponseResponsesPartitions,
    ListOffsetsRequest,
    ListOffsetsResponseTopics,
    ListOffsetsResponseTopicsPartitions,
)
from josef.errors import ErrorCode
from josef.testing.handlers.base import (
    Reply,
    Request,
    leader_error,
    node_endpoint,
    topic_by_name_or_id,
)
from josef.testing.log import Partition
from josef.testing.state import ClusterState

__all__ = ["fetch_topic_name", "handle_fetch", "handle_list_offsets"]

READ_COMMITTED = 1
_EARLIEST, _LATEST, _MAX_TIMESTAMP, _EARLIEST_LOCAL, _EARLIEST_PENDING_UPLOAD = -2, -1, -3, -4, -5


def fetch_topic_name(state: ClusterState, topic: FetchRequestTopics, version: int) -> str:
    return topic_by_name_or_id(state, topic, "topic", version)


def _epoch_error(partition: Partition, current_leader_epoch: int) -> int:
    if current_leader_epoch < 0 or current_leader_epoch == partition.leader_epoch:
        return ErrorCode.NONE
    if current_leader_epoch < partition.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    return ErrorCode.UNKNOWN_LEADER_EPOCH


def handle_fetch(state: ClusterState, req: Request) -> Reply:
    body = cast(FetchRequest, req.body)
    committed = body["isolation_level"] == READ_COMMITTED
    max_bytes = max(body["max_bytes"], 0)
    min_bytes = body["min_bytes"]

    def build(force: bool) -> FetchResponse | None:
        responses: list[FetchResponseResponses] = []
        total = 0
        errors = False
        leaders: set[int] = set()
        for topic in body["topics"]:
            name = fetch_topic_name(state, topic, req.version)
            parts: list[FetchResponseResponsesPartitions] = []
            for p in topic["partitions"]:
                entry = _fetch_partition(state, req, name, p, committed, max(max_bytes - total, 0), total == 0)
                records = entry["records"]
                total += len(records) if records else 0
                if entry["error_code"]:
                    errors = True
                    leader = entry["current_leader"]["leader_id"]
                    if leader >= 0:
                        leaders.add(leader)
                parts.append(entry)
            response: FetchResponseResponses = {"topic": name, "partitions": parts}
            if "topic_id" in topic:
                response["topic_id"] = topic["topic_id"]
            responses.append(response)
        if not force and not errors and total < max(min_bytes, 1):
            return None
        return {
            "throttle_time_ms": req.throttle_ms,
            "error_code": ErrorCode.NONE,
            "session_id": 0,
            "responses": responses,
            "node_endpoints": [node_endpoint(state, n) for n in sorted(leaders)],
        }

    first = build(body["max_wait_ms"] <= 0)
    if first is not None:
        return Reply(first)
    return Reply(None, wait=build, wait_until=req.now + body["max_wait_ms"] / 1000)


def _fetch_partition(
    state: ClusterState,
    req: Request,
    name: str,
    p: FetchRequestTopicsPartitions,
    committed: bool,
    budget: int,
    first: bool,
) -> FetchResponseResponsesPartitions:
    index = p["partition"]
    entry: FetchResponseResponsesPartitions = {
        "partition_index": index,
        "error_code": ErrorCode.NONE,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "aborted_transactions": None,
        "records": None,
        "current_leader": {"leader_id": -1, "leader_epoch": -1},
    }
    injected = req.error_for(name, index)
    if injected is not None:
        entry["error_code"] = injected
        return entry
    partition = state.partition(name, index)
    if partition is None:
        entry["error_code"] = (
            ErrorCode.UNKNOWN_TOPIC_ID if req.version >= 13 and not name else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        )
        return entry
    code = leader_error(state, partition, req.broker) or _epoch_error(partition, p.get("current_leader_epoch", -1))
    if code:
        entry["error_code"] = code
        if code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
            entry["current_leader"] = {"leader_id": partition.leader, "leader_epoch": partition.leader_epoch}
        return entry
    entry["high_watermark"] = partition.high_watermark
    entry["last_stable_offset"] = partition.last_stable_offset
    entry["log_start_offset"] = partition.log_start_offset
    offset = p["fetch_offset"]
    if offset < partition.log_start_offset or offset > partition.log_end_offset:
        entry["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
        return entry
    upper = partition.last_stable_offset if committed else partition.high_watermark
    if committed:
        entry["aborted_transactions"] = []
    if offset >= upper:
        entry["records"] = b""
        return entry
    limit = min(p["partition_max_bytes"], budget)
    # KIP-74: the first batch of the response goes out whatever its size, so consumers never stall.
    records = partition.read(offset, limit, upper) if limit > 0 or first else b""
    entry["records"] = records
    if committed and records:
        entry["aborted_transactions"] = [
            {"producer_id": pid, "first_offset": first_offset}
            for pid, first_offset in partition.aborted_between(offset, upper)
        ]
    return entry


def handle_list_offsets(state: ClusterState, req: Request) -> Reply:
    body = cast(ListOffsetsRequest, req.body)
    committed = body.get("isolation_level", 0) == READ_COMMITTED
    topics: list[ListOffsetsResponseTopics] = []
    for topic in body["topics"]:
        name = topic["name"]
        parts: list[ListOffsetsResponseTopicsPartitions] = []
        for p in topic["partitions"]:
            index = p["partition_index"]
            entry: ListOffsetsResponseTopicsPartitions = {
                "partition_index": index, "error_code": ErrorCode.NONE,
                "timestamp": -1, "offset": -1, "leader_epoch": -1,
            }
            parts.append(entry)
            injected = req.error_for(name, index)
            partition = state.partition(name, index)
            if injected is not None:
                entry["error_code"] = injected
                continue
            if partition is None:
                entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            code = leader_error(state, partition, req.broker) or _epoch_error(
                partition, p.get("current_leader_epoch", -1)
            )
            if code:
                entry["error_code"] = code
                continue
            entry["leader_epoch"] = partition.leader_epoch
            upper = partition.last_stable_offset if committed else partition.high_watermark
            ts = p["timestamp"]
            if ts == _LATEST:
                entry["offset"] = upper
            elif ts in (_EARLIEST, _EARLIEST_LOCAL, _EARLIEST_PENDING_UPLOAD):
                entry["offset"] = partition.log_start_offset
            elif ts == _MAX_TIMESTAMP:
                entry["offset"], entry["timestamp"] = partition.max_timestamp_offset()
            else:
                offset, found_ts = partition.offset_for_timestamp(ts)
                if 0 <= offset < upper:
                    entry["offset"], entry["timestamp"] = offset, found_ts
        topics.append({"name": name, "partitions": parts})
    return Reply({"throttle_time_ms": req.throttle_ms, "topics": topics})
