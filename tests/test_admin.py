"""josef.Admin against a real broker, every call checked with Java's kafka-topics / kafka-configs tools."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from josef.admin import Admin, AlterConfigOp, ConfigResource, NewTopic
from josef.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

pytestmark = pytest.mark.timeout(600)
T = TypeVar("T")


def _eventually(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """The broker's metadata catches up with the controller a moment after a change."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout}s") from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def admin(kafka: Any) -> Iterator[Admin]:
    with Admin(bootstrap_servers=kafka.bootstrap_servers) as client:
        yield client


def _topics_tool(kafka: Any, *args: str) -> str:
    out: str = kafka.run_tool("topics", "--bootstrap-server", kafka.bootstrap_servers, *args).stdout
    return out


def _configs_tool(kafka: Any, *args: str) -> str:
    out: str = kafka.run_tool("configs", "--bootstrap-server", kafka.bootstrap_servers, *args).stdout
    return out


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_describe_list_partitions_delete(kafka: Any, admin: Admin) -> None:
    name = _name("adm")
    created = admin.create_topics([NewTopic(name, 3, 1, {"retention.ms": "3600000", "cleanup.policy": "compact"})])
    assert created[name].result(30) is None

    def java_sees_it() -> str:
        out = _topics_tool(kafka, "--describe", "--topic", name)
        assert "PartitionCount: 3" in out, out
        return out

    described_by_java = _eventually(java_sees_it, "kafka-topics --describe")
    assert "retention.ms=3600000" in described_by_java and "cleanup.policy=compact" in described_by_java
    assert name in _topics_tool(kafka, "--list").split()
    assert name in admin.list_topics().result(30)

    description = admin.describe_topics([name])[name].result(30)
    assert description.name == name and not description.internal and description.topic_id is not None
    row = r"Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]+)\s+Isr: ([\d,]*)"
    java_rows = re.findall(row, described_by_java)
    assert [(str(p.partition), str(p.leader), ",".join(map(str, p.replicas)), ",".join(map(str, p.isr)))
            for p in description.partitions] == java_rows
    kafka_id = base64.urlsafe_b64encode(description.topic_id.bytes).rstrip(b"=").decode()  # Kafka prints ids so
    assert f"TopicId: {kafka_id}\t" in described_by_java

    assert admin.create_partitions({name: 5})[name].result(30) is None
    _eventually(lambda: _assert_in("PartitionCount: 5", _topics_tool(kafka, "--describe", "--topic", name)),
                "PartitionCount: 5")
    with pytest.raises(InvalidPartitionsError, match=f"topic '{name}'"):
        admin.create_partitions({name: 2})[name].result(30)

    assert admin.delete_topics([name])[name].result(30) is None
    _eventually(lambda: _assert_not_in(name, _topics_tool(kafka, "--list").split()), "topic deleted")


def test_errors_name_the_topic(kafka: Any, admin: Admin) -> None:
    name = _name("adm-err")
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    with pytest.raises(TopicAlreadyExistsError, match=f"topic '{name}'"):
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    with pytest.raises(InvalidReplicationFactorError, match=f"topic '{name}-rf'"):
        admin.create_topics([NewTopic(f"{name}-rf", 1, 3)])[f"{name}-rf"].result(30)  # one broker
    assert f"{name}-rf" not in _topics_tool(kafka, "--list").split()
    missing = f"{name}-missing"
    with pytest.raises(UnknownTopicOrPartitionError, match=f"topic '{missing}'"):
        admin.describe_topics([missing])[missing].result(30)
    with pytest.raises(UnknownTopicOrPartitionError, match=f"topic '{missing}'"):
        admin.delete_topics([missing])[missing].result(30)
    checked = admin.create_topics([NewTopic(f"{name}-v", 2, 1)], validate_only=True)
    assert checked[f"{name}-v"].result(30) is None
    assert f"{name}-v" not in _topics_tool(kafka, "--list").split()  # validate_only created nothing


def test_configs_both_ways_with_kafka_configs(kafka: Any, admin: Admin) -> None:
    name = _name("adm-cfg")
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    resource = ConfigResource("topic", name)
    altered = admin.incremental_alter_configs(
        {resource: [AlterConfigOp("retention.ms", "7200000"), AlterConfigOp("cleanup.policy", "compact")]}
    )
    assert altered[resource].result(30) is None

    def java_shows(expected: str, present: bool = True) -> None:
        out = _configs_tool(kafka, "--describe", "--entity-type", "topics", "--entity-name", name)
        assert (expected in out) is present, out

    _eventually(lambda: java_shows("retention.ms=7200000"), "retention.ms via kafka-configs")
    java_shows("cleanup.policy=compact")

    admin.incremental_alter_configs({resource: [AlterConfigOp("cleanup.policy", None, "delete"),
                                                AlterConfigOp("cleanup.policy", "delete", "append")]})
    admin.incremental_alter_configs({resource: [AlterConfigOp("retention.ms", op="delete")]})[resource].result(30)
    _eventually(lambda: java_shows("retention.ms=", present=False), "retention.ms deleted")

    # The other way round: set by Java's tool, read by josef.
    _configs_tool(kafka, "--alter", "--entity-type", "topics", "--entity-name", name,
                  "--add-config", "max.message.bytes=123456")

    def josef_reads() -> None:
        entries = admin.describe_configs([resource])[resource].result(30)
        entry = entries["max.message.bytes"]
        assert (entry.value, entry.source) == ("123456", "DYNAMIC_TOPIC_CONFIG"), entry
        assert entries["retention.ms"].is_default

    _eventually(josef_reads, "max.message.bytes via describe_configs")

    broker = ConfigResource("broker", str(admin.describe_cluster().result(30).nodes[0].id))
    broker_configs = admin.describe_configs([broker])[broker].result(30)
    java_broker = _configs_tool(kafka, "--describe", "--all", "--entity-type", "brokers", "--entity-name", broker.name)
    assert f"log.retention.hours={broker_configs['log.retention.hours'].value} " in java_broker
    with pytest.raises(ValueError, match="operation 'replace'"):
        admin.incremental_alter_configs({resource: [AlterConfigOp("retention.ms", "1", "replace")]})


def test_describe_cluster_matches_the_brokers(kafka: Any, admin: Admin) -> None:
    cluster = admin.describe_cluster().result(30)
    out = kafka.run_tool("broker-api-versions", "--bootstrap-server", kafka.bootstrap_servers).stdout
    java_nodes = sorted((int(i), h, int(p)) for h, p, i in re.findall(r"^(\S+):(\d+) \(id: (\d+) ", out, re.M))
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == java_nodes
    assert cluster.cluster_id and cluster.controller in [n.id for n in cluster.nodes] + [-1]


def test_unreachable_cluster_times_out_clearly() -> None:
    with Admin(bootstrap_servers="127.0.0.1:9", reconnect_backoff_ms=10) as admin:
        future = admin.list_topics(timeout=1.0)
        with pytest.raises(KafkaTimeoutError, match="list_topics: timed out"):
            future.result(10)


def _assert_in(needle: str, haystack: str) -> None:
    assert needle in haystack, haystack


def _assert_not_in(needle: str, haystack: list[str]) -> None:
    assert needle not in haystack, haystack
