"""ApiVersions (v0-v4), Metadata (v1-v13) and FindCoordinator (v0-v6).

ApiVersions lists what the mock handles (``ClusterState.api_versions``).  A request newer than the mock
knows is answered by the server in the v0 format with UNSUPPORTED_VERSION and ApiVersions' own range, so
the client retries with a version both speak.  No features are finalized: transactions are version 1.

Metadata lists the brokers that are up; a partition whose leader is down has leader -1 and
LEADER_NOT_AVAILABLE.  Unknown topics are created when the request allows it and the cluster
auto-creates topics, else UNKNOWN_TOPIC_OR_PARTITION.  FindCoordinator spreads keys over the brokers that
are up, unless a test pinned a coordinator with :meth:`~josef.testing.MockCluster.set_coordinator`.
"""

from __future__ import annotations

from typing import cast

from josef._core.protocol.types import (
    ApiVersionsResponse,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    FindCoordinatorResponseCoordinators,
    MetadataRequest,
    MetadataResponse,
    MetadataResponseTopics,
    MetadataResponseTopicsPartitions,
)
from josef.errors import ErrorCode
from josef.testing.handlers.base import Reply, Request
from josef.testing.state import ClusterState, Topic, TopicError

__all__ = ["handle_api_versions", "handle_find_coordinator", "handle_metadata"]


def api_versions_body(state: ClusterState, error: int = ErrorCode.NONE) -> ApiVersionsResponse:
    body: ApiVersionsResponse = {
        "error_code": error,
        "api_keys": [
            {"api_key": key, "min_version": lo, "max_version": hi}
            for key, (lo, hi) in sorted(state.api_versions.items())
        ],
        "throttle_time_ms": 0,
    }
    if state.config.transaction_version >= 2 and not error:
        level = state.config.transaction_version
        body["supported_features"] = [{"name": "transaction.version", "min_version": 0, "max_version": level}]
        body["finalized_features_epoch"] = 1
        body["finalized_features"] = [{"name": "transaction.version", "max_version_level": level,
                                       "min_version_level": level}]
    return body


def handle_api_versions(state: ClusterState, req: Request) -> Reply:
    body = api_versions_body(state, req.error or ErrorCode.NONE)
    body["throttle_time_ms"] = req.throttle_ms
    return Reply(body)


def _topic_entry(state: ClusterState, topic: Topic, version: int) -> MetadataResponseTopics:
    partitions: list[MetadataResponseTopicsPartitions] = []
    for p in topic.partitions:
        down = [b for b in p.replicas if not state.brokers[b].up]
        partitions.append({
            "error_code": ErrorCode.NONE if p.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
            "partition_index": p.index,
            "leader_id": p.leader,
            "leader_epoch": p.leader_epoch,
            "replica_nodes": list(p.replicas),
            "isr_nodes": list(p.isr),
            "offline_replicas": down,
        })
    return {"error_code": ErrorCode.NONE, "name": topic.name, "topic_id": topic.topic_id, "is_internal": False,
            "partitions": partitions}


def handle_metadata(state: ClusterState, req: Request) -> Reply:
    body = cast(MetadataRequest, req.body)
    up = state.up_brokers()
    out: MetadataResponse = {
        "throttle_time_ms": req.throttle_ms,
        "brokers": [{"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack} for b in up],
        "cluster_id": state.config.cluster_id,
        "controller_id": min((b.node_id for b in up), default=-1),
        "topics": [],
        "error_code": ErrorCode.NONE,
    }
    if req.error is not None:
        out["error_code"] = req.error
    requested = body.get("topics")
    if requested is None:
        out["topics"] = [_topic_entry(state, t, req.version) for t in state.topics.values()]
        return Reply(out)
    auto = body.get("allow_auto_topic_creation", True) and state.config.auto_create_topics
    for wanted in requested:
        name = wanted.get("name")
        topic: Topic | None
        if name is None:
            topic = state.topics_by_id.get(wanted["topic_id"])
            if topic is None:
                # The name is nullable in responses from v12 only.
                unknown: MetadataResponseTopics = {"error_code": ErrorCode.UNKNOWN_TOPIC_ID,
                                                   "name": None if req.version >= 12 else "", "is_internal": False,
                                                   "partitions": []}
                if "topic_id" in wanted:
                    unknown["topic_id"] = wanted["topic_id"]
                out["topics"].append(unknown)
                continue
        else:
            topic = state.topics.get(name)
        if req.error is not None:
            out["topics"].append({"error_code": req.error, "name": name, "is_internal": False, "partitions": []})
            continue
        if topic is None:
            assert name is not None  # a topic asked for by id was found above, or answered as unknown
            code: int = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if not state.valid_topic_name(name):
                code = ErrorCode.INVALID_TOPIC_EXCEPTION
            elif auto:
                try:
                    topic = state.create_topic(name)
                except TopicError as exc:
                    code = exc.code
            if topic is None:
                out["topics"].append({"error_code": code, "name": name, "is_internal": False, "partitions": []})
                continue
        out["topics"].append(_topic_entry(state, topic, req.version))
    return Reply(out)


def handle_find_coordinator(state: ClusterState, req: Request) -> Reply:
    body = cast(FindCoordinatorRequest, req.body)
    key_type = body.get("key_type", 0)
    keys = body.get("coordinator_keys", []) if req.version >= 4 else [body.get("key", "")]
    coordinators: list[FindCoordinatorResponseCoordinators] = []
    for key in keys:
        entry: FindCoordinatorResponseCoordinators = {
            "key": key, "node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.NONE, "error_message": None
        }
        node = state.coordinator_for(key_type, key)
        if req.error is not None:
            entry["error_code"] = req.error
        elif key_type not in (0, 1):
            entry["error_code"] = ErrorCode.INVALID_REQUEST
        elif node < 0:
            entry["error_code"] = ErrorCode.COORDINATOR_NOT_AVAILABLE
        else:
            broker = state.brokers[node]
            entry.update({"node_id": node, "host": broker.host, "port": broker.port})
        coordinators.append(entry)
    out: FindCoordinatorResponse = {"throttle_time_ms": req.throttle_ms, "coordinators": coordinators}
    if req.version < 4:
        first = coordinators[0]
        out.update({"error_code": first["error_code"], "error_message": first["error_message"],
                    "node_id": first["node_id"], "host": first["host"], "port": first["port"]})
    return Reply(out)

