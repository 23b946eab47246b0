"""Administration: CreateTopics (v2-v7), DeleteTopics (v1-v6), CreatePartitions (v0-v3), DescribeConfigs
(v1-v4), IncrementalAlterConfigs (v0-v1), DescribeCluster (v0-v2) and DeleteRecords (v0-v2).

Any broker answers them (the mock has no controller to forward to).  Topic configs are checked against
:mod:`josef.testing.configs` (an unknown name or a bad value is INVALID_CONFIG); broker configs are
described read-only from the cluster's settings, and altering them is refused with INVALID_REQUEST.
"""

from __future__ import annotations

from typing import Any

from josef.errors import ErrorCode
from josef.testing.configs import (
    BROKER_CONFIGS,
    DEFAULT_CONFIG,
    TOPIC_CONFIGS,
    ConfigError,
    broker_value,
    check_topic_config,
)
from josef.testing.handlers.base import Reply, Request, leader_error
from josef.testing.state import ClusterState, Topic, TopicError

__all__ = [
    "handle_create_partitions",
    "handle_create_topics",
    "handle_delete_records",
    "handle_delete_topics",
    "handle_describe_cluster",
    "handle_describe_configs",
    "handle_incremental_alter_configs",
]

TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _topic_configs(state: ClusterState, topic: Topic) -> list[dict[str, Any]]:
    out = []
    for name in sorted(TOPIC_CONFIGS):
        value, source = topic.config(name, state.config)
        out.append({"name": name, "value": value, "read_only": False, "config_source": source,
                    "is_sensitive": False})
    return out


def handle_create_topics(state: ClusterState, req: Request) -> Reply:
    body = req.body
    results = []
    seen: set[str] = set()
    for t in body["topics"]:
        name = t["name"]
        entry: dict[str, Any] = {"name": name, "error_code": ErrorCode.NONE, "error_message": None,
                                 "num_partitions": -1, "replication_factor": -1, "configs": None}
        results.append(entry)
        if req.error is not None:
            entry["error_code"] = req.error
            continue
        if name in seen:
            entry.update(error_code=ErrorCode.INVALID_REQUEST, error_message=f"topic {name!r} named twice")
            continue
        seen.add(name)
        assignments = {a["partition_index"]: list(a["broker_ids"]) for a in t["assignments"]} or None
        configs = {c["name"]: c["value"] for c in t["configs"]}
        try:
            topic = state.create_topic(name, t["num_partitions"], t["replication_factor"], assignments, configs,
                                       validate_only=body["validate_only"])
        except TopicError as exc:
            entry.update(error_code=exc.code, error_message=str(exc))
            continue
        entry.update(topic_id=topic.topic_id, num_partitions=len(topic.partitions),
                     replication_factor=len(topic.partitions[0].replicas), configs=_topic_configs(state, topic))
    return Reply({"throttle_time_ms": req.throttle_ms, "topics": results})


def handle_delete_topics(state: ClusterState, req: Request) -> Reply:
    body = req.body
    if req.version >= 6:
        wanted: list[tuple[str | None, Any]] = [(t["name"], t["topic_id"]) for t in body["topics"]]
    else:
        wanted = [(name, None) for name in body["topic_names"]]
    responses = []
    for name, topic_id in wanted:
        entry: dict[str, Any] = {"name": name, "topic_id": topic_id, "error_code": ErrorCode.NONE,
                                 "error_message": None}
        responses.append(entry)
        topic = state.topics.get(name) if name is not None else state.topics_by_id.get(topic_id)
        if req.error is not None:
            entry["error_code"] = req.error
        elif topic is None:
            entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if name is not None else \
                ErrorCode.UNKNOWN_TOPIC_ID
        else:
            entry.update(name=topic.name, topic_id=topic.topic_id)
            state.delete_topic(topic.name)
    return Reply({"throttle_time_ms": req.throttle_ms, "responses": responses})


def handle_create_partitions(state: ClusterState, req: Request) -> Reply:
    body = req.body
    results = []
    names = [t["name"] for t in body["topics"]]
    for t in body["topics"]:
        name = t["name"]
        entry: dict[str, Any] = {"name": name, "error_code": ErrorCode.NONE, "error_message": None}
        results.append(entry)
        if req.error is not None:
            entry["error_code"] = req.error
        elif names.count(name) > 1:
            entry.update(error_code=ErrorCode.INVALID_REQUEST, error_message=f"topic {name!r} named twice")
        elif name not in state.topics:
            entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        else:
            assignments = t["assignments"]
            try:
                state.add_partitions(name, t["count"],
                                     None if assignments is None else [list(a["broker_ids"]) for a in assignments],
                                     body["validate_only"])
            except TopicError as exc:
                entry.update(error_code=exc.code, error_message=str(exc))
    return Reply({"throttle_time_ms": req.throttle_ms, "results": results})


def _describe_topic(state: ClusterState, name: str, keys: list[str] | None, v: int) -> list[dict[str, Any]]:
    topic = state.topics[name]
    out = []
    for key in sorted(TOPIC_CONFIGS):
        if keys is not None and key not in keys:
            continue
        value, source = topic.config(key, state.config)
        synonyms = [{"name": key, "value": value, "source": source}]
        out.append({"name": key, "value": value, "read_only": False, "config_source": source, "is_sensitive": False,
                    "synonyms": synonyms, "config_type": TOPIC_CONFIGS[key].type, "documentation": None})
    return out


def _describe_broker(state: ClusterState, keys: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for key in sorted(BROKER_CONFIGS):
        if keys is not None and key not in keys:
            continue
        value = broker_value(key, state.config)
        out.append({"name": key, "value": value, "read_only": True, "config_source": DEFAULT_CONFIG,
                    "is_sensitive": False, "synonyms": [{"name": key, "value": value, "source": DEFAULT_CONFIG}],
                    "config_type": BROKER_CONFIGS[key].type, "documentation": None})
    return out


def _broker_named(state: ClusterState, name: str) -> bool:
    return name == "" or (name.isdigit() and int(name) in state.brokers)


def handle_describe_configs(state: ClusterState, req: Request) -> Reply:
    results = []
    for resource in req.body["resources"]:
        kind, name, keys = resource["resource_type"], resource["resource_name"], resource["configuration_keys"]
        entry: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": kind,
                                 "resource_name": name, "configs": []}
        results.append(entry)
        if req.error is not None:
            entry["error_code"] = req.error
        elif kind == TOPIC_RESOURCE:
            if name not in state.topics:
                entry.update(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, error_message=f"no topic {name!r}")
            else:
                entry["configs"] = _describe_topic(state, name, keys, req.version)
        elif kind == BROKER_RESOURCE:
            if not _broker_named(state, name):
                entry.update(error_code=ErrorCode.INVALID_REQUEST, error_message=f"no broker {name!r}")
            else:
                entry["configs"] = _describe_broker(state, keys)
        else:
            entry.update(error_code=ErrorCode.INVALID_REQUEST,
                         error_message=f"the mock cluster describes topic and broker configs, not type {kind}")
    return Reply({"throttle_time_ms": req.throttle_ms, "results": results})


def _altered(current: dict[str, str | None], changes: list[dict[str, Any]]) -> dict[str, str | None]:
    """The topic's configs after the incremental changes; raises :class:`ConfigError`."""
    configs = dict(current)
    for change in changes:
        name, op, value = change["name"], change["config_operation"], change["value"]
        check_topic_config(name, None)
        if op == SET:
            check_topic_config(name, value)
            configs[name] = value
        elif op == DELETE:
            configs.pop(name, None)
        elif op in (APPEND, SUBTRACT):
            if name != "cleanup.policy":
                raise ConfigError(f"{name!r} is not a list: it cannot be appended to or subtracted from")
            items = [p for p in (configs.get(name) or "delete").split(",") if p]
            given = [p.strip() for p in (value or "").split(",") if p.strip()]
            if op == APPEND:
                items += [p for p in given if p not in items]
            else:
                items = [p for p in items if p not in given]
            joined = ",".join(items)
            if not joined:
                configs.pop(name, None)
            else:
                check_topic_config(name, joined)
                configs[name] = joined
        else:
            raise ConfigError(f"unknown config operation {op}")
    return configs


def handle_incremental_alter_configs(state: ClusterState, req: Request) -> Reply:
    body = req.body
    responses = []
    for resource in body["resources"]:
        kind, name = resource["resource_type"], resource["resource_name"]
        entry: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": kind,
                                 "resource_name": name}
        responses.append(entry)
        if req.error is not None:
            entry["error_code"] = req.error
        elif kind == TOPIC_RESOURCE:
            topic = state.topics.get(name)
            if topic is None:
                entry.update(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, error_message=f"no topic {name!r}")
                continue
            try:
                configs = _altered(topic.configs, resource["configs"])
            except ConfigError as exc:
                entry.update(error_code=ErrorCode.INVALID_CONFIG, error_message=str(exc))
                continue
            if not body["validate_only"]:
                topic.configs = configs
                topic.apply_configs(state.config)
        else:
            entry.update(error_code=ErrorCode.INVALID_REQUEST,
                         error_message="the mock cluster alters topic configs only")
    return Reply({"throttle_time_ms": req.throttle_ms, "responses": responses})


def handle_describe_cluster(state: ClusterState, req: Request) -> Reply:
    up = state.up_brokers()
    return Reply({
        "throttle_time_ms": req.throttle_ms,
        "error_code": req.error or ErrorCode.NONE,
        "error_message": None,
        "endpoint_type": req.body.get("endpoint_type", 1),
        "cluster_id": state.config.cluster_id,
        "controller_id": min((b.node_id for b in up), default=-1),
        "brokers": [{"broker_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack} for b in up],
    })


def handle_delete_records(state: ClusterState, req: Request) -> Reply:
    topics = []
    for t in req.body["topics"]:
        name = t["name"]
        parts = []
        for p in t["partitions"]:
            index = p["partition_index"]
            entry: dict[str, Any] = {"partition_index": index, "low_watermark": -1, "error_code": ErrorCode.NONE}
            parts.append(entry)
            injected = req.error_for(name, index)
            partition = state.partition(name, index)
            if injected is not None:
                entry["error_code"] = injected
                continue
            if partition is None:
                entry["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            code = leader_error(state, partition, req.broker)
            offset = partition.high_watermark if p["offset"] == -1 else p["offset"]
            if code:
                entry["error_code"] = code
            elif not 0 <= offset <= partition.high_watermark:
                entry["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
            else:
                partition.delete_before(offset)
                entry["low_watermark"] = partition.log_start_offset
        topics.append({"name": name, "partitions": parts})
    return Reply({"throttle_time_ms": req.throttle_ms, "topics": topics})
