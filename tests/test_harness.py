"""Self-test of the real-broker harness, using confluent-kafka as a known-good client."""

from __future__ import annotations

import signal

import pytest
from confluent_kafka import Producer

from tests.harness.kafka import KafkaCluster, KafkaEndpoint, TopicFactory, consume_all


def _produce(bootstrap: str, topic: str, count: int, partitions: int, **config: str | int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    errors: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for i in range(count):
        producer.produce(
            topic,
            key=f"k{i}".encode(),
            value=f"v{i}".encode(),
            partition=i % partitions,
            headers=[("idx", str(i).encode())],
            on_delivery=on_delivery,
        )
    assert producer.flush(30) == 0, "records still queued after 30s"
    assert errors == []


def test_single_node_roundtrip(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(partitions=3)
    parts = kafka.topic_partitions(topic)
    assert sorted(parts) == [0, 1, 2]
    assert all(p.leader >= 0 for p in parts.values())

    _produce(kafka.bootstrap_servers, topic, 10, partitions=3)

    messages = consume_all(kafka.bootstrap_servers, topic, expected_count=10, timeout=30)
    assert len(messages) == 10
    got = {(m.partition(), m.key(), m.value(), tuple(m.headers() or ())) for m in messages}
    want = {(i % 3, f"k{i}".encode(), f"v{i}".encode(), (("idx", str(i).encode()),)) for i in range(10)}
    assert got == want
    # sorted by (partition, offset), offsets dense from 0 in each partition
    for p in range(3):
        assert [m.offset() for m in messages if m.partition() == p] == list(range(len(range(p, 10, 3))))

    lines = kafka.console_consume(
        topic,
        max_messages=10,
        timeout_ms=20_000,
        properties={
            "print.timestamp": True,
            "print.partition": True,
            "print.offset": True,
            "print.headers": True,
            "print.key": True,
        },
    )
    assert len(lines) == 10, lines
    rows = set()
    for line in lines:
        ts, partition, offset, headers, key, value = line.split("\t")
        assert ts.startswith("CreateTime:") and int(ts.split(":")[1]) > 0
        rows.add((int(partition.removeprefix("Partition:")), headers, key, value))
        assert offset.startswith("Offset:")
    assert rows == {(i % 3, f"idx:{i}", f"k{i}", f"v{i}") for i in range(10)}


def test_consume_all_reports_shortfall(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(partitions=2)
    assert consume_all(kafka.bootstrap_servers, topic, timeout=20) == []
    _produce(kafka.bootstrap_servers, topic, 3, partitions=2)
    with pytest.raises(TimeoutError, match=r"read 3 records, expected 5"):
        consume_all(kafka.bootstrap_servers, topic, expected_count=5, timeout=2)


def test_delete_topic(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(partitions=1, config={"retention.ms": 60_000})
    kafka.delete_topic(topic)
    assert kafka.topic_partitions(topic) == {}


def test_single_node_restart_keeps_data() -> None:
    """A private 1-node cluster (not the shared one): stop_node/start_node keeps the data."""
    with KafkaCluster(1) as cluster:
        assert list(cluster.pids) == [1]
        cluster.create_topic("keep", partitions=1)
        _produce(cluster.bootstrap_servers, "keep", 5, partitions=1, acks="all")
        cluster.stop_node(1)
        assert cluster.pids == {}
        cluster.start_node(1)
        assert len(cluster.consume_all("keep", expected_count=5, timeout=30)) == 5
        assert b"Kafka Server started" in cluster.log_path(1).read_bytes()
    assert cluster.pids == {}


@pytest.mark.cluster3
def test_three_nodes_kill_and_restart(kafka3: KafkaCluster, new_topic3: TopicFactory) -> None:
    assert len(kafka3.pids) == 3
    assert len(kafka3.bootstrap_servers.split(",")) == 3
    topic = new_topic3(partitions=3)
    parts = kafka3.topic_partitions(topic)
    assert {len(p.replicas) for p in parts.values()} == {3}
    assert {len(p.isrs) for p in parts.values()} == {3}

    victim = 3
    kafka3.kill(victim, signal.SIGKILL)
    assert victim not in kafka3.pids
    # the controller fences the dead broker (broker.session.timeout.ms) and shrinks the ISR
    kafka3.wait_for_isr(topic, 2, timeout=60)
    # acks=all with min.insync.replicas=2 still works with one node down
    _produce(kafka3.bootstrap_servers, topic, 30, partitions=3, acks="all")

    kafka3.start_node(victim)
    assert victim in kafka3.pids
    kafka3.wait_for_isr(topic, 3, timeout=60)
    assert len(kafka3.consume_all(topic, expected_count=30, timeout=30)) == 30

    # pause/resume: SIGSTOP leaves the JVM stopped but alive, SIGCONT lets it go on
    kafka3.pause(2)
    try:
        assert kafka3.is_paused(2)
        assert 2 in kafka3.pids
    finally:
        kafka3.resume(2)
    assert not kafka3.is_paused(2)
