"""Kafka's own command-line tools (from the harness's 4.4 jars) against the mock cluster (issue 15 acceptance):
ConsoleConsumer in group mode, kafka-consumer-groups, kafka-topics and kafka-configs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from josef._core.protocol import ApiKey
from josef.testing import MockCluster
from tests.harness.kafka import run_tool

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.timeout(240)
QUIET = {"log_level": 3}


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"orders": 3}) as c:
        yield c
        assert c.internal_errors == []
        assert c.connections_closed_for_bad_input == 0


def produce(cluster: MockCluster, count: int) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap_servers, **QUIET})
    for i in range(count):
        producer.produce("orders", str(i).encode(), partition=i % 3)  # every partition gets records
    assert producer.flush(30) == 0


def tool(cluster: MockCluster, name: str, *args: str) -> str:
    return run_tool(name, "--bootstrap-server", cluster.bootstrap_servers, *args, timeout=120).stdout


def test_console_consumer_group_and_consumer_groups_describe(cluster: MockCluster) -> None:
    produce(cluster, 300)
    out = tool(cluster, "console-consumer", "--topic", "orders", "--group", "console", "--from-beginning",
               "--max-messages", "300", "--timeout-ms", "30000")
    assert sorted(int(v) for v in out.split()) == list(range(300))
    assert sum(cluster.committed_offsets("console").values()) == 300

    # A live member that committed part of the log: describe shows it, its partitions and the lag.
    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "live",
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **QUIET})
    consumer.subscribe(["orders"])
    read = 0
    partitions: set[int] = set()
    deadline = time.monotonic() + 60
    while (read < 100 or len(partitions) < 3) and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            read += 1
            partitions.add(message.partition())
    consumer.commit(asynchronous=False)
    assert sum(cluster.committed_offsets("live").values()) == read
    try:
        described = tool(cluster, "consumer-groups", "--describe", "--group", "live")
        listed = tool(cluster, "consumer-groups", "--list")
    finally:
        consumer.close()
    rows = [line.split() for line in described.splitlines() if line.startswith("live ")]
    assert len(rows) == 3, described
    lag = sum(int(row[5]) for row in rows)
    assert lag == 300 - read
    assert all(row[6] != "-" for row in rows)  # CONSUMER-ID: the live member owns every partition
    assert {"console", "live"} <= set(listed.split())
    after = run_tool("consumer-groups", "--bootstrap-server", cluster.bootstrap_servers, "--describe", "--group",
                     "live")
    assert "has no active members" in after.stderr, after.stderr  # the tool says so on stderr


def test_kafka_topics_create_describe_alter_delete(cluster: MockCluster) -> None:
    tool(cluster, "topics", "--create", "--topic", "t1", "--partitions", "3", "--replication-factor", "2",
         "--config", "retention.ms=100000")
    assert cluster.topics()["t1"] == 3
    described = tool(cluster, "topics", "--describe", "--topic", "t1")
    assert "PartitionCount: 3" in described and "ReplicationFactor: 2" in described
    assert "retention.ms=100000" in described
    tool(cluster, "topics", "--alter", "--topic", "t1", "--partitions", "5")
    assert cluster.topics()["t1"] == 5
    assert len(re.findall(r"Partition: \d", tool(cluster, "topics", "--describe", "--topic", "t1"))) == 5
    tool(cluster, "topics", "--delete", "--topic", "t1")
    assert "t1" not in cluster.topics()
    assert "t1" not in tool(cluster, "topics", "--list").split()


def test_kafka_configs_describe_and_alter_a_topic(cluster: MockCluster) -> None:
    tool(cluster, "configs", "--entity-type", "topics", "--entity-name", "orders", "--alter",
         "--add-config", "retention.bytes=1000000,min.insync.replicas=2")
    described = tool(cluster, "configs", "--entity-type", "topics", "--entity-name", "orders", "--describe")
    assert "retention.bytes=1000000" in described and "min.insync.replicas=2" in described
    assert cluster.partition("orders", 0)  # still there
    tool(cluster, "configs", "--entity-type", "topics", "--entity-name", "orders", "--alter",
         "--delete-config", "min.insync.replicas")
    described = tool(cluster, "configs", "--entity-type", "topics", "--entity-name", "orders", "--describe", "--all")
    assert "min.insync.replicas=1 " in described
    bad = run_tool("configs", "--bootstrap-server", cluster.bootstrap_servers, "--entity-type", "topics",
                   "--entity-name", "orders", "--alter", "--add-config", "no.such.config=1", check=False)
    assert bad.returncode != 0 and "no.such.config" in bad.stdout + bad.stderr


JAVA_TXN = r"""
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class JosefMockTxn {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("transactional.id", "java-txn");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            int n = 0;
            for (String outcome : new String[] {"commit", "abort", "commit"}) {
                producer.beginTransaction();
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>("orders", i % 3, null, outcome + "-" + n++));
                }
                producer.flush();
                if (outcome.equals("commit")) producer.commitTransaction(); else producer.abortTransaction();
            }
        }
        System.out.println("done");
    }
}
"""


@pytest.mark.parametrize("transaction_version", [2, 1], ids=["tv2", "tv1"])
def test_java_transactional_producer_commits_and_aborts(tmp_path: Path, transaction_version: int) -> None:
    source = tmp_path / "JosefMockTxn.java"
    source.write_text(JAVA_TXN)
    with MockCluster(brokers=3, topics={"orders": 3}, transaction_version=transaction_version) as cluster:
        out = run_tool(str(source), cluster.bootstrap_servers, timeout=180)
        assert out.stdout.strip() == "done"
        consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "reader",
                                             "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                                             **QUIET})
        consumer.subscribe(["orders"])
        values: list[str] = []
        deadline = time.monotonic() + 30
        while len(values) < 20 and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value().decode())
        consumer.close()
        versions = {(r.api_key, r.version) for r in cluster.requests()}
        assert cluster.internal_errors == []
    expected = [f"commit-{i}" for i in list(range(10)) + list(range(20, 30))]
    assert sorted(values, key=lambda v: int(v.split("-")[1])) == expected
    if transaction_version == 2:  # KIP-890: EndTxn v5, partitions added by Produce v12+
        assert (ApiKey.END_TXN, 5) in versions
        assert not any(key == ApiKey.ADD_PARTITIONS_TO_TXN for key, _ in versions)
    else:
        assert max(v for key, v in versions if key == ApiKey.END_TXN) == 4
