"""Clients we did not write use the mock cluster: confluent-kafka (librdkafka) and aiokafka produce to
it and consume back, with and without idempotence; librdkafka's transactional producer commits and aborts
and a read_committed consumer sees only committed records (issue 7 acceptance)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from josef.testing import MockCluster

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

pytestmark = pytest.mark.timeout(60)

QUIET = {"log_level": 3}  # librdkafka logs connection closes at INFO; the tests stop brokers on purpose


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"orders": 3}) as c:
        yield c
        assert c.internal_errors == []


def consume_all(cluster: MockCluster, topic: str, partitions: int, expected: int, *,
                isolation: str = "read_uncommitted", settle: float = 0.0) -> list[bytes]:
    """Everything a confluent-kafka consumer reads from the start of every partition (no group)."""
    consumer = Consumer({
        "bootstrap.servers": cluster.bootstrap_servers,
        "group.id": "josef-mock-reader",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "fetch.wait.max.ms": 50,
        **QUIET,
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    values: list[bytes] = []
    deadline = time.monotonic() + 15
    settle_until = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None:
                assert message.error() is None, message.error()
                values.append(message.value() or b"")
            if len(values) >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize("idempotence", [False, True], ids=["plain", "idempotent"])
def test_confluent_kafka_produces_and_consumes_back(cluster: MockCluster, idempotence: bool) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "enable.idempotence": idempotence,
                         "linger.ms": 2, "acks": "all", **QUIET})
    sent = [b"v%d" % i for i in range(2000)]
    for i, value in enumerate(sent):
        producer.produce("orders", value=value, key=b"k%d" % (i % 17))
    assert producer.flush(15) == 0
    received = consume_all(cluster, "orders", 3, len(sent), settle=0.2)
    assert sorted(received) == sorted(sent)
    if idempotence:
        assert cluster.requests(22), "no InitProducerId was sent"


def test_confluent_kafka_compressed_batches_round_trip(cluster: MockCluster) -> None:
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "compression.type": codec,
                             "linger.ms": 5, **QUIET})
        for i in range(100):
            producer.produce("orders", value=b"%s-%d" % (codec.encode(), i), partition=0)
        assert producer.flush(10) == 0
    values = consume_all(cluster, "orders", 1, 400)
    assert len(values) == 400 and len(set(values)) == 400


def test_confluent_kafka_idempotent_producer_survives_lost_responses(cluster: MockCluster) -> None:
    """Responses lost after the append: librdkafka retries, the mock deduplicates, nothing is doubled."""
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 5, "retry.backoff.ms": 20, **QUIET})
    producer.produce("orders", value=b"warm-up", partition=0)
    assert producer.flush(10) == 0
    cluster.drop_connection(0, when="after", times=2)
    sent = [b"m%d" % i for i in range(200)]
    for value in sent:
        producer.produce("orders", value=value, partition=0)
    assert producer.flush(20) == 0
    values = [r.value for r in cluster.records("orders", 0)]
    assert values == [b"warm-up", *sent]


def test_aiokafka_produces_and_consumes_back(cluster: MockCluster) -> None:
    aiokafka = pytest.importorskip("aiokafka")

    async def run(idempotence: bool) -> tuple[list[bytes], list[bytes]]:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers,
                                             enable_idempotence=idempotence, acks="all")
        await producer.start()
        sent = [b"a%s-%d" % (b"i" if idempotence else b"p", i) for i in range(300)]
        try:
            batch = [await producer.send(f"ai-{idempotence}", value, partition=i % 2)
                     for i, value in enumerate(sent)]
            await asyncio.gather(*batch)
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap_servers,
                                             enable_auto_commit=False, auto_offset_reset="earliest",
                                             fetch_max_wait_ms=50)
        await consumer.start()
        received: list[bytes] = []
        try:
            consumer.assign([aiokafka.TopicPartition(f"ai-{idempotence}", p) for p in range(2)])
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + 15
            while len(received) < len(sent) and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    received.extend(m.value for m in messages)
        finally:
            await consumer.stop()
        return sent, received

    cluster.create_topic("ai-False", 2)
    cluster.create_topic("ai-True", 2)
    for idempotence in (False, True):
        sent, received = asyncio.run(run(idempotence))
        assert sorted(received) == sorted(sent)


def transactional_producer(cluster: MockCluster, txn_id: str) -> Producer:
    return Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": txn_id,
                     "linger.ms": 2, **QUIET})


def test_librdkafka_transactions_commit_and_abort_read_committed(cluster: MockCluster) -> None:
    producer = transactional_producer(cluster, "txn-a")
    producer.init_transactions(10)
    committed, aborted = [], []
    for round_ in range(3):
        producer.begin_transaction()
        for i in range(50):
            value = b"c%d-%d" % (round_, i)
            committed.append(value)
            producer.produce("orders", value=value, key=value)
        producer.commit_transaction(10)
        producer.begin_transaction()
        for i in range(30):
            value = b"a%d-%d" % (round_, i)
            aborted.append(value)
            producer.produce("orders", value=value, key=value)
        producer.flush(10)
        producer.abort_transaction(10)
    # an open transaction at the end holds the last stable offset back
    producer.begin_transaction()
    producer.produce("orders", value=b"open", partition=0)
    producer.flush(10)
    assert cluster.partition("orders", 0).last_stable_offset < cluster.partition("orders", 0).high_watermark

    seen = consume_all(cluster, "orders", 3, len(committed), isolation="read_committed", settle=0.5)
    assert sorted(seen) == sorted(committed)
    everything = consume_all(cluster, "orders", 3, len(committed) + len(aborted) + 1, settle=0.2)
    assert sorted(everything) == sorted([*committed, *aborted, b"open"])
    mock_view = [r.value or b"" for p in range(3) for r in cluster.records("orders", p, isolation="read_committed")]
    assert sorted(mock_view) == sorted(committed)
    producer.abort_transaction(10)
    assert cluster.transaction("txn-a")["state"] == "CompleteAbort"  # type: ignore[index]


def test_librdkafka_send_offsets_to_transaction(cluster: MockCluster) -> None:
    producer = transactional_producer(cluster, "txn-offsets")
    producer.init_transactions(10)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "copier",
                         "enable.auto.commit": False, **QUIET})
    try:
        producer.begin_transaction()
        producer.produce("orders", value=b"x", partition=1)
        producer.send_offsets_to_transaction([TopicPartition("orders", 0, 42)], consumer.consumer_group_metadata(),
                                             10)
        assert cluster.committed_offsets("copier") == {}
        producer.commit_transaction(10)
    finally:
        consumer.close()
    assert cluster.committed_offsets("copier") == {("orders", 0): 42}


def test_librdkafka_zombie_is_fenced(cluster: MockCluster) -> None:
    zombie = transactional_producer(cluster, "txn-z")
    zombie.init_transactions(10)
    zombie.begin_transaction()
    zombie.produce("orders", value=b"zombie", partition=0)
    zombie.flush(10)
    successor = transactional_producer(cluster, "txn-z")
    successor.init_transactions(10)  # bumps the epoch and aborts the zombie's open transaction
    successor.begin_transaction()
    successor.produce("orders", value=b"successor", partition=0)
    successor.commit_transaction(10)
    with pytest.raises(KafkaException) as info:
        zombie.commit_transaction(10)
    assert info.value.args[0].fatal() or not info.value.args[0].retriable()
    assert [r.value for r in cluster.records("orders", 0, isolation="read_committed")] == [b"successor"]


def test_librdkafka_transaction_survives_coordinator_errors(cluster: MockCluster) -> None:
    producer = transactional_producer(cluster, "txn-retry")
    cluster.push_errors(22, "COORDINATOR_LOAD_IN_PROGRESS", "NOT_COORDINATOR")
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce("orders", value=b"kept", partition=2)
    cluster.push_errors(26, "CONCURRENT_TRANSACTIONS", "COORDINATOR_NOT_AVAILABLE")
    producer.commit_transaction(15)
    assert [r.value for r in cluster.records("orders", 2, isolation="read_committed")] == [b"kept"]
