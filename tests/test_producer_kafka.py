"""The producer core against a real Kafka broker, read back by confluent-kafka's consumer (#2)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest

from josef import Producer, RecordMetadata, json_serializer, partition_for_key
from josef.errors import (
    BufferExhaustedError,
    DeliveryTimeoutError,
    MetadataTimeoutError,
    RecordTooLargeError,
    SerializationError,
)

pytestmark = pytest.mark.timeout(600)


def _topic(kafka: Any, partitions: int, **config: str) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    kafka.create_topic(name, partitions, config=config or None)
    return name


def _records(n: int, partitions: int, seed: int) -> list[dict[str, Any]]:
    """Mixed keyed/keyless records, some with headers, explicit partitions and timestamps."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        kind = i % 4
        record: dict[str, Any] = {"value": f"value-{i}-".encode() + rng.randbytes(rng.randrange(0, 200))}
        if kind in (0, 1):
            record["key"] = f"key-{rng.randrange(5000)}".encode()
        if kind == 2:
            record["partition"] = rng.randrange(partitions)
        if i % 3 == 0:
            record["headers"] = [("h1", f"{i}".encode()), ("empty", b""), ("null", None)]
        if i % 5 == 0:
            record["timestamp_ms"] = now - rng.randrange(1_000_000)
        if i % 97 == 0:
            record["value"] = None  # tombstones travel too
        out.append(record)
    return out


@pytest.mark.parametrize("acks", ["all", "1", "0"])
def test_records_arrive_intact_and_in_order(kafka: Any, acks: str) -> None:
    partitions = 6
    topic = _topic(kafka, partitions)
    records = _records(100_000, partitions, seed=len(acks))
    callbacks: list[tuple[int, RecordMetadata | None, BaseException | None]] = []
    lock = threading.Lock()

    def on_delivery(i: int) -> Any:
        def cb(metadata: RecordMetadata | None, error: BaseException | None) -> None:
            with lock:
                callbacks.append((i, metadata, error))

        return cb

    with Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": acks}) as producer:
        futures = [
            producer.send(topic, callback=on_delivery(i) if i % 10 == 0 else None, **record)
            for i, record in enumerate(records)
        ]
        assert producer.flush(120) == 0
    metas = [f.result(0) for f in futures]
    assert len(callbacks) == len(records[::10])
    assert all(error is None and meta == metas[i] for i, meta, error in callbacks)

    messages = kafka.consume_all(topic, len(records), timeout=120)
    assert len(messages) == len(records)
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for message in messages:
        by_partition[message.partition()].append(message)
    assert len(by_partition) == partitions, "keyless and keyed records should reach every partition"

    sent_by_partition: dict[int, list[int]] = defaultdict(list)
    for i, meta in enumerate(metas):
        sent_by_partition[meta.partition].append(i)
    for partition, indexes in sent_by_partition.items():
        got = by_partition[partition]
        assert len(got) == len(indexes)  # exactly once
        for message, i in zip(got, indexes, strict=True):  # per-partition order equals send order
            record, meta = records[i], metas[i]
            assert message.value() == record["value"]
            assert message.key() == record.get("key")
            headers = message.headers() or []
            assert headers == [(k, v) for k, v in record.get("headers", [])]
            assert message.timestamp()[1] == meta.timestamp
            if "timestamp_ms" in record:
                assert meta.timestamp == record["timestamp_ms"]
            if acks == "0":
                assert meta.offset == -1
            else:
                assert meta.offset == message.offset()
            if "partition" in record:
                assert partition == record["partition"]
            elif "key" in record:
                assert partition == partition_for_key(record["key"], partitions)


def test_keyed_records_match_librdkafka_murmur2_random(kafka: Any) -> None:
    """Java, librdkafka's murmur2_random and josef put every key on the same partition."""
    from confluent_kafka import Producer as CKProducer

    topic = _topic(kafka, 12)
    rng = random.Random(11)
    keys = list({rng.randbytes(rng.randrange(1, 40)) for _ in range(10_000)})
    theirs: dict[bytes, int] = {}

    def report(err: Any, msg: Any) -> None:
        assert err is None, err
        theirs[msg.key()] = msg.partition()

    ck = CKProducer({"bootstrap.servers": kafka.bootstrap_servers, "partitioner": "murmur2_random"})
    for key in keys:
        ck.produce(topic, b"x", key, on_delivery=report)
        ck.poll(0)
    assert ck.flush(60) == 0
    with Producer(bootstrap_servers=kafka.bootstrap_servers) as producer:
        ours = {key: producer.send(topic, b"x", key).result(60).partition for key in keys[:200]}
        futures = {key: producer.send(topic, b"x", key) for key in keys}
        producer.flush(60)
        ours.update({key: f.result(0).partition for key, f in futures.items()})
    assert len(theirs) == len(keys)
    assert {k: v for k, v in ours.items() if theirs[k] != v} == {}
    assert len(set(ours.values())) == 12


def test_linger_gathers_a_slow_trickle_into_few_requests(kafka: Any) -> None:
    topic = _topic(kafka, 1)
    with Producer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=300) as producer:
        producer.send(topic, b"warm-up").result(30)
        before = producer._sender.requests_sent
        futures = []
        for i in range(40):  # 40 records over ~400 ms: the load pattern under test
            futures.append(producer.send(topic, f"{i}".encode()))
            time.sleep(0.01)
        for f in futures:
            f.result(30)
        requests = producer._sender.requests_sent - before
    assert requests <= 4, f"{requests} requests for a 400 ms trickle with linger.ms=300"


def test_small_batch_size_makes_many_small_batches(kafka: Any) -> None:
    topic = _topic(kafka, 1)
    with Producer(bootstrap_servers=kafka.bootstrap_servers, batch_size=1024, linger_ms=1000) as producer:
        futures = [producer.send(topic, bytes(100)) for _ in range(1000)]
        producer.flush(60)
        batches = producer._sender.batches_sent
    assert all(f.exception(0) is None for f in futures)
    # ~110 bytes a record in 1 KiB batches: at most 9 records a batch.
    assert batches >= 1000 // 9
    messages = kafka.consume_all(topic, 1000)
    assert len(messages) == 1000


def test_oversized_record_fails_alone(kafka: Any) -> None:
    topic = _topic(kafka, 3)
    errors: list[BaseException] = []
    with Producer(bootstrap_servers=kafka.bootstrap_servers, max_request_size=100_000) as producer:
        futures = []
        for i in range(10_000):
            if i == 5_000:
                big = producer.send(topic, bytes(200_000), callback=lambda m, e: errors.append(e))
            futures.append(producer.send(topic, f"good-{i}".encode()))
        producer.flush(60)
    with pytest.raises(RecordTooLargeError, match="max.request.size"):
        big.result(0)
    assert len(errors) == 1 and isinstance(errors[0], RecordTooLargeError)
    assert all(f.exception(0) is None for f in futures)
    assert len(kafka.consume_all(topic, 10_000)) == 10_000


def test_bad_input_raises_precise_errors(kafka: Any) -> None:
    topic = _topic(kafka, 2)
    with Producer(bootstrap_servers=kafka.bootstrap_servers) as producer:
        with pytest.raises(ValueError, match="partition 7 does not exist.*2 partitions"):
            producer.send(topic, b"x", partition=7)
        with pytest.raises(SerializationError, match="cannot send a dict without a serializer"):
            producer.send(topic, {"a": 1})
        with pytest.raises(SerializationError, match="header key must be a str"):
            producer.send(topic, b"x", headers=[(1, b"v")])
        # Nothing above reached the broker; a good record still goes through.
        assert producer.send(topic, b"ok", partition=0).result(30).offset == 0
    with Producer(bootstrap_servers=kafka.bootstrap_servers, value_serializer=json_serializer) as producer:
        producer.send(topic, {"a": 1}, partition=1).result(30)
    [message] = [m for m in kafka.consume_all(topic, 2) if m.partition() == 1]
    assert message.value() == b'{"a":1}'


def test_unknown_topic_fails_after_max_block(kafka_no_autocreate: Any) -> None:
    with Producer(bootstrap_servers=kafka_no_autocreate.bootstrap_servers, max_block_ms=1500) as producer:
        start = time.monotonic()
        with pytest.raises(MetadataTimeoutError, match="topic 'no-such-topic' not present in metadata after 1500 ms"):
            producer.send("no-such-topic", b"x")
        assert 1.4 <= time.monotonic() - start < 5


def test_broker_down_timeouts_and_recovery(kafka_factory: Any) -> None:
    cluster = kafka_factory(nodes=1)
    topic = _topic(cluster, 1)
    config = {
        "bootstrap.servers": cluster.bootstrap_servers,
        "buffer.memory": 200_000,
        "max.block.ms": 1000,
        "delivery.timeout.ms": 4000,
        "request.timeout.ms": 2000,
        "linger.ms": 0,
        "reconnect.backoff.max.ms": 200,
    }
    producer = Producer(config)
    try:
        producer.send(topic, b"before").result(30)
        cluster.stop_node(1)

        failures: list[BaseException | None] = []
        queued = [producer.send(topic, bytes(1000), callback=lambda m, e: failures.append(e)) for _ in range(50)]
        start = time.monotonic()
        with pytest.raises(BufferExhaustedError, match="buffer.memory exhausted"):
            for _ in range(1000):
                producer.send(topic, bytes(1000))
        assert time.monotonic() - start < 1000 / 1000 + 1.5

        start = time.monotonic()
        assert producer.flush(timeout=0.5) > 0
        assert time.monotonic() - start < 1.5

        for future in queued:
            assert isinstance(future.exception(timeout=10), DeliveryTimeoutError)
        assert len(failures) == 50 and all(isinstance(e, DeliveryTimeoutError) for e in failures)

        cluster.start_node(1)
        assert producer.send(topic, b"after").result(60).offset >= 1
        stuck = producer.send(topic, b"last")
        start = time.monotonic()
        producer.close(timeout=10)
        assert time.monotonic() - start < 11
        assert stuck.done()
    finally:
        producer.close(timeout=5)
    values = [m.value() for m in cluster.consume_all(topic, 3)]
    assert b"before" in values and b"after" in values


def test_close_timeout_fails_pending_records_instead_of_hanging(kafka_factory: Any) -> None:
    cluster = kafka_factory(nodes=1)
    topic = _topic(cluster, 1)
    producer = Producer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=0)
    producer.send(topic, b"x").result(30)
    cluster.stop_node(1)
    pending = [producer.send(topic, b"y") for _ in range(10)]
    start = time.monotonic()
    producer.close(timeout=1.0)
    assert time.monotonic() - start < 2.5
    for future in pending:
        assert future.exception(0) is not None


@pytest.mark.parametrize("acks", ["all", "1"])
def test_batches_the_broker_refuses_as_too_large_are_split(kafka: Any, acks: str) -> None:
    """MESSAGE_TOO_LARGE for a many-record batch: the records go again in smaller batches,
    each exactly once and in order; only a record too large on its own fails (KIP-126).
    Without idempotence order across retries takes max.in.flight.requests.per.connection=1,
    as in the Java client (with more, the batches behind the split one are already in flight)."""
    topic = _topic(kafka, 1, **{"max.message.bytes": "3000"})
    in_flight = 5 if acks == "all" else 1
    with Producer(bootstrap_servers=kafka.bootstrap_servers, acks=acks, linger_ms=100,
                  max_in_flight_requests_per_connection=in_flight) as producer:
        futures = [producer.send(topic, f"{i:05d}".encode() + bytes(395)) for i in range(300)]
        alone = producer.send(topic, bytes(5000))
        tail = [producer.send(topic, f"{i:05d}".encode()) for i in range(300, 310)]
        producer.flush(60)
        split = producer._sender.split_batches
    assert split >= 1
    assert isinstance(alone.exception(0), RecordTooLargeError)
    metas = [f.result(0) for f in futures + tail]
    assert [m.offset for m in metas] == list(range(310))
    values = [m.value()[:5] for m in kafka.consume_all(topic, 310)]
    assert values == [f"{i:05d}".encode() for i in range(310)]
