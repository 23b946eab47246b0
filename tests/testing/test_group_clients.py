"""Consumer groups of clients we did not write, against the mock cluster (issue 15 acceptance).

confluent-kafka: three consumers share a group and read 100,000 records exactly once between them while
one leaves and another joins (eager and cooperative rebalancing); a new consumer then resumes from the
committed offsets.  aiokafka's and kafka-python's group consumers each read every record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from josef.testing import MockCluster

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402

TOPIC = "orders"
PARTITIONS = 6
QUIET = {"log_level": 3}
RETRIABLE_COMMIT = {
    confluent_kafka.KafkaError._NO_OFFSET,
    confluent_kafka.KafkaError.ILLEGAL_GENERATION,
    confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS,
}


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={TOPIC: PARTITIONS}) as c:
        yield c
        assert c.internal_errors == []


def produce(cluster: MockCluster, count: int, start: int = 0) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 5, **QUIET})
    for i in range(start, start + count):
        producer.produce(TOPIC, str(i).encode(), key=str(i).encode())
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


class Member:
    """One confluent-kafka group member that commits synchronously after every batch and on revocation,
    so that nothing is read twice across rebalances."""

    def __init__(self, cluster: MockCluster, group: str, strategy: str) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": cluster.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "fetch.wait.max.ms": 50,
            **QUIET,
        })
        self.rebalances = 0
        self.refused_commits = 0
        self.consumer.subscribe([TOPIC], on_assign=self._assigned, on_revoke=self._revoked)
        self.values: list[int] = []

    def _assigned(self, consumer: Any, partitions: Any) -> None:
        self.rebalances += 1

    def _revoked(self, consumer: Any, partitions: Any) -> None:
        self.commit()

    def commit(self) -> None:
        """Commit what was read; a commit refused because a rebalance is under way is retried with the next
        one (the partitions stay with this member until revoked, and revocation commits)."""
        try:
            self.consumer.commit(asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() not in RETRIABLE_COMMIT:
                raise
            self.refused_commits += 1

    def poll(self) -> None:
        messages = self.consumer.consume(500, 0.05)
        for message in messages:
            assert message.error() is None, message.error()
            self.values.append(int(message.value()))
        if messages:
            self.commit()

    def close(self) -> None:
        self.consumer.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("strategy", ["range,roundrobin", "cooperative-sticky"], ids=["eager", "cooperative"])
def test_confluent_group_reads_everything_once_through_rebalances(cluster: MockCluster, strategy: str) -> None:
    total = 100_000
    produce(cluster, total)
    members = [Member(cluster, "orders-app", strategy) for _ in range(3)]
    leaver = members[1]
    finished: list[Member] = []
    deadline = time.monotonic() + 180

    def read() -> int:
        return sum(len(m.values) for m in members + finished)

    joiner: Member | None = None
    while time.monotonic() < deadline:
        for member in members:
            member.poll()
        if leaver in members and read() >= 25_000:
            members.remove(leaver)
            leaver.close()
            finished.append(leaver)
        if joiner is None and read() >= 45_000:
            joiner = Member(cluster, "orders-app", strategy)
            members.append(joiner)
        if joiner is not None and len(joiner.values) >= 1_000 and read() >= 70_000:
            break
    assert joiner is not None and len(joiner.values) >= 1_000, f"the joiner read nothing ({read()} read)"
    assert all(m.values for m in members + finished)
    generation = cluster.group("orders-app")["generation"]
    assert generation >= 3, generation  # at least: all three joined, one left, one joined
    for member in members:
        member.close()
        finished.append(member)
    members.clear()
    assert cluster.group("orders-app")["state"] == "Empty"
    committed = cluster.committed_offsets("orders-app")
    assert sum(committed.values()) == read()

    # A new member resumes from the committed offsets.
    resumed = Member(cluster, "orders-app", strategy)
    finished.append(resumed)
    while read() < total and time.monotonic() < deadline:
        resumed.poll()
    resumed.close()
    everything = [v for m in finished for v in m.values]
    assert len(everything) == total, f"{len(everything) - len(set(everything))} duplicates"
    assert sorted(everything) == list(range(total))
    assert sum(cluster.committed_offsets("orders-app").values()) == total


@pytest.mark.timeout(60)
def test_aiokafka_group_reads_everything(cluster: MockCluster) -> None:
    aiokafka = pytest.importorskip("aiokafka")
    total = 5_000
    produce(cluster, total)

    async def run() -> list[int]:
        consumers = [
            aiokafka.AIOKafkaConsumer(TOPIC, bootstrap_servers=cluster.bootstrap_servers, group_id="aio-app",
                                      auto_offset_reset="earliest", session_timeout_ms=6000,
                                      heartbeat_interval_ms=300)
            for _ in range(2)
        ]
        for consumer in consumers:
            await consumer.start()
        seen: list[int] = []

        async def read() -> None:
            while len(seen) < total:
                for consumer in consumers:
                    batches = await consumer.getmany(timeout_ms=100)
                    seen.extend(int(r.value) for records in batches.values() for r in records)

        try:
            await asyncio.wait_for(read(), 45)
            for consumer in consumers:
                await consumer.commit()
        finally:
            for consumer in consumers:
                await consumer.stop()
        return seen

    seen = asyncio.run(run())
    assert sorted(seen) == list(range(total))
    assert sum(cluster.committed_offsets("aio-app").values()) == total


@pytest.mark.timeout(60)
def test_kafka_python_group_reads_everything(cluster: MockCluster) -> None:
    kafka = pytest.importorskip("kafka")
    total = 5_000
    produce(cluster, total)
    consumer = kafka.KafkaConsumer(TOPIC, bootstrap_servers=cluster.bootstrap_servers.split(","),
                                   group_id="kp-app", auto_offset_reset="earliest", session_timeout_ms=6000,
                                   heartbeat_interval_ms=300, enable_auto_commit=False)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 45
        while len(seen) < total and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                seen.extend(int(r.value) for r in records)
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(seen) == list(range(total))
    assert sum(cluster.committed_offsets("kp-app").values()) == total
