"""The mock's admin APIs at the protocol level, and the topic configs it honours."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from josef._core.protocol import ApiKey
from josef.errors import ErrorCode
from josef.testing import MockCluster
from tests.testing.wire import Wire, batch, fetch_body, produce_body, produce_result


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}) as c:
        yield c
        assert c.internal_errors == []


def create(wire: Wire, name: str, configs: dict[str, str], validate_only: bool = False) -> dict[str, Any]:
    body = wire.call(ApiKey.CREATE_TOPICS, 7, {"topics": [{
        "name": name, "num_partitions": 2, "replication_factor": 2, "assignments": [],
        "configs": [{"name": k, "value": v} for k, v in configs.items()]}], "timeout_ms": 1000,
        "validate_only": validate_only})
    result: dict[str, Any] = body["topics"][0]
    return result


def alter(wire: Wire, topic: str, *changes: tuple[str, int, str | None]) -> int:
    body = wire.call(ApiKey.INCREMENTAL_ALTER_CONFIGS, 1, {"resources": [{
        "resource_type": 2, "resource_name": topic,
        "configs": [{"name": n, "config_operation": op, "value": v} for n, op, v in changes]}],
        "validate_only": False})
    code: int = body["responses"][0]["error_code"]
    return code


def test_create_topics_answers_with_configs_and_validates_only(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as wire:
        dry = create(wire, "dry", {"retention.bytes": "1000"}, validate_only=True)
        assert dry["error_code"] == 0 and dry["num_partitions"] == 2 and "dry" not in cluster.topics()
        made = create(wire, "made", {"retention.bytes": "1000"})
        configs = {c["name"]: (c["value"], c["config_source"]) for c in made["configs"]}
        assert configs["retention.bytes"] == ("1000", 1) and configs["cleanup.policy"] == ("delete", 5)
        assert create(wire, "bad", {"no.such": "1"})["error_code"] == ErrorCode.INVALID_CONFIG
        assert create(wire, "bad", {"min.insync.replicas": "zero"})["error_code"] == ErrorCode.INVALID_CONFIG
        assert create(wire, "made", {})["error_code"] == ErrorCode.TOPIC_ALREADY_EXISTS


def test_delete_topics_and_create_partitions(cluster: MockCluster) -> None:
    topic_id = cluster.create_topic("x", 1)
    with Wire(cluster.bootstrap_servers) as wire:
        grown = wire.call(ApiKey.CREATE_PARTITIONS, 3, {"topics": [
            {"name": "t", "count": 4, "assignments": None}, {"name": "t", "count": 1, "assignments": None},
            {"name": "nope", "count": 2, "assignments": None}], "timeout_ms": 1000, "validate_only": False})
        assert [r["error_code"] for r in grown["results"]] == [ErrorCode.INVALID_REQUEST] * 2 + [
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
        grown = wire.call(ApiKey.CREATE_PARTITIONS, 3, {"topics": [{"name": "t", "count": 4, "assignments": None}],
                                                        "timeout_ms": 1000, "validate_only": False})
        assert grown["results"][0]["error_code"] == 0 and cluster.topics()["t"] == 4
        shrink = wire.call(ApiKey.CREATE_PARTITIONS, 3, {"topics": [{"name": "t", "count": 2, "assignments": None}],
                                                         "timeout_ms": 1000, "validate_only": False})
        assert shrink["results"][0]["error_code"] == ErrorCode.INVALID_PARTITIONS
        deleted = wire.call(ApiKey.DELETE_TOPICS, 6, {"topics": [{"name": None, "topic_id": topic_id},
                                                                 {"name": "nope", "topic_id": topic_id}],
                                                      "timeout_ms": 1000})["responses"]
        assert [(r["name"], r["error_code"]) for r in deleted] == [("x", 0), ("nope", 3)]
        deleted = wire.call(ApiKey.DELETE_TOPICS, 5, {"topic_names": ["t"], "timeout_ms": 1000})["responses"]
        assert deleted[0]["error_code"] == 0
    assert cluster.topics() == {}


def test_topic_configs_are_honoured(cluster: MockCluster) -> None:
    with Wire(cluster.brokers[cluster.leader("t", 0)]) as wire:
        assert alter(wire, "t", ("max.message.bytes", 0, "100")) == 0
        code, _ = produce_result(wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"x" * 200))))
        assert code == ErrorCode.MESSAGE_TOO_LARGE
        assert alter(wire, "t", ("max.message.bytes", 1, None), ("min.insync.replicas", 0, "3")) == 0
        cluster.set_isr("t", 0, [cluster.leader("t", 0)])
        code, _ = produce_result(wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"x"))))
        assert code == ErrorCode.NOT_ENOUGH_REPLICAS
        assert alter(wire, "t", ("min.insync.replicas", 1, None), ("retention.ms", 0, "60000")) == 0
        old = int(time.time() * 1000) - 3_600_000
        for stamp in (old, old, int(time.time() * 1000)):
            code, _ = produce_result(wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"v", timestamp=stamp))))
            assert code == 0
    assert cluster.partition("t", 0).log_start_offset == 2  # the hour-old batches are gone
    with Wire(cluster.bootstrap_servers) as wire:
        assert alter(wire, "t", ("cleanup.policy", 2, "compact")) == 0
        assert alter(wire, "t", ("retention.ms", 2, "1")) == ErrorCode.INVALID_CONFIG
        assert alter(wire, "nope", ("retention.ms", 0, "1")) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        described = wire.call(ApiKey.DESCRIBE_CONFIGS, 4, {"resources": [
            {"resource_type": 2, "resource_name": "t", "configuration_keys": ["cleanup.policy", "retention.ms"]},
            {"resource_type": 4, "resource_name": "1", "configuration_keys": None}],
            "include_synonyms": False, "include_documentation": False})["results"]
        assert {c["name"]: c["value"] for c in described[0]["configs"]} == {
            "cleanup.policy": "delete,compact", "retention.ms": "60000"}
        broker = {c["name"]: c["value"] for c in described[1]["configs"]}
        assert broker["num.partitions"] == "1" and broker["default.replication.factor"] == "3"


def test_delete_records_moves_the_log_start(cluster: MockCluster) -> None:
    with Wire(cluster.brokers[cluster.leader("t", 0)]) as wire:
        for _ in range(3):
            wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"a", b"b")))

        def delete(offset: int) -> tuple[int, int]:
            body = wire.call(ApiKey.DELETE_RECORDS, 2, {"topics": [{"name": "t", "partitions": [
                {"partition_index": 0, "offset": offset}]}], "timeout_ms": 1000})
            p = body["topics"][0]["partitions"][0]
            return p["error_code"], p["low_watermark"]

        assert delete(3) == (0, 3)
        assert delete(7) == (ErrorCode.OFFSET_OUT_OF_RANGE, -1)
        fetched = wire.call(ApiKey.FETCH, 12, fetch_body("t", 0, 0))
        assert fetched["responses"][0]["partitions"][0]["error_code"] == ErrorCode.OFFSET_OUT_OF_RANGE
        assert delete(-1) == (0, 6)
    assert cluster.partition("t", 0).log_start_offset == 6 and cluster.records("t", 0) == []


def test_describe_cluster(cluster: MockCluster) -> None:
    cluster.broker_down(3)
    with Wire(cluster.bootstrap_servers) as wire:
        body = wire.call(ApiKey.DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": False,
                                                      "endpoint_type": 1})
    assert body["error_code"] == 0 and body["controller_id"] == 1
    assert [(b["broker_id"], b["port"]) for b in body["brokers"]] == [(n, cluster.brokers[n][1]) for n in (1, 2)]
