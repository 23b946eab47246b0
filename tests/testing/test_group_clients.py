"""Consumer groups of clients we did not write, against the mock cluster (issue 15 acceptance).

confluent-kafka: three consumers share a group and read 100,000 records exactly once between them while
one leaves and another joins (eager and cooperative rebalancing); a new consumer then resumes from the
committed offsets.  aiokafka's and kafka-python's group consumers each read every record.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

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


class Member(threading.Thread):
    """One confluent-kafka group member on its own thread (as an application runs it), committing
    synchronously after every batch and on revocation, so that nothing is read twice across rebalances."""

    def __init__(self, cluster: MockCluster, group: str, strategy: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({
            "bootstrap.servers": cluster.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "max.poll.interval.ms": 30000,
            "fetch.wait.max.ms": 50,
            **QUIET,
        })
        self.refused_commits = 0
        self.values: list[int] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.consumer.subscribe([TOPIC], on_revoke=lambda consumer, partitions: self.commit())
        self.start()

    def commit(self) -> None:
        """Commit what was read; a commit refused because a rebalance is under way is retried with the next
        one (the partitions stay with this member until revoked, and revocation commits)."""
        try:
            self.consumer.commit(asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() not in RETRIABLE_COMMIT:
                raise
            self.refused_commits += 1

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                messages = self.consumer.consume(500, 0.05)
                for message in messages:
                    assert message.error() is None, message.error()
                    self.values.append(int(message.value()))
                if messages:
                    self.commit()
            self.consumer.close()  # commits nothing new: every batch was committed
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)
        assert not self.is_alive(), "the consumer did not close"
        if self.error is not None:
            raise self.error


def wait_until(condition: Callable[[], bool], deadline: float, what: Callable[[], str]) -> None:
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.01)


def paced_producer(cluster: MockCluster, start: int, count: int, per_second: int) -> threading.Thread:
    """Produce ``count`` records at about ``per_second``, so that the group rebalances while records flow."""

    def run() -> None:
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 5, **QUIET})
        step = per_second // 20
        began = time.monotonic()
        for first in range(start, start + count, step):
            for i in range(first, min(first + step, start + count)):
                producer.produce(TOPIC, str(i).encode(), key=str(i).encode())
            producer.poll(0)
            time.sleep(max(0.0, began + (first - start + step) / per_second - time.monotonic()))  # pacing
        producer.flush(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(240)
@pytest.mark.parametrize("strategy", ["range,roundrobin", "cooperative-sticky"], ids=["eager", "cooperative"])
def test_confluent_group_reads_everything_once_through_rebalances(cluster: MockCluster, strategy: str) -> None:
    total, live = 100_000, 80_000
    members = [Member(cluster, "orders-app", strategy) for _ in range(3)]
    deadline = time.monotonic() + 180

    def read() -> int:
        return sum(len(m.values) for m in members)

    def progress() -> str:
        return f"read {[len(m.values) for m in members]}, group {cluster.group('orders-app')}"

    def group_size() -> int:
        group = cluster.group("orders-app")
        return len(group["members"]) if group is not None and group["state"] == "Stable" else -1

    try:
        wait_until(lambda: group_size() == 3, deadline, progress)
        producing = paced_producer(cluster, 0, live, 10_000)
        wait_until(lambda: read() >= 25_000, deadline, progress)
        members[1].stop()  # one leaves mid-way, while records flow
        wait_until(lambda: read() >= 45_000, deadline, progress)
        members.append(Member(cluster, "orders-app", strategy))  # one joins
        wait_until(lambda: read() >= live, deadline, progress)
        producing.join(30)
    finally:
        for member in members:
            member.stop()
    assert all(m.values for m in members), progress()  # the joiner got partitions and read from them
    generation = cluster.group("orders-app")["generation"]  # type: ignore[index]
    assert generation >= 4, generation  # the three joins, the leave, the join, the last leaves
    assert cluster.group("orders-app")["state"] == "Empty"  # type: ignore[index]
    assert sum(cluster.committed_offsets("orders-app").values()) == read() == live

    # A new member resumes from the committed offsets: it reads only what came after.
    produce(cluster, total - live, start=live)
    members.append(Member(cluster, "orders-app", strategy))
    try:
        wait_until(lambda: read() >= total, deadline, progress)
    finally:
        members[-1].stop()
    assert len(members[-1].values) == total - live
    everything = [v for m in members for v in m.values]
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
