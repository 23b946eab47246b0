"""send_many(): many records in one call, with send()'s semantics (real broker, read back with
confluent-kafka; argument checks on the embedded mock cluster)."""

from __future__ import annotations

import array
import asyncio
import random
import uuid
from collections import defaultdict
from typing import Any

import pytest

from josef import AsyncProducer, Producer
from josef.bulk import SendManyResult, as_column
from josef.errors import ProducerClosedError, RecordTooLargeError, SerializationError
from josef.future import RecordFuture
from josef.testing import MockCluster
from tests.harness.kafka import KafkaEndpoint, TopicFactory


def _producer(kafka: KafkaEndpoint, **config: Any) -> Producer:
    return Producer({"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 5, **config})


def test_100k_records_arrive_in_order_per_partition(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(6)
    count = 100_000
    with _producer(kafka) as producer:  # idempotent by default: sequences per batch as for send()
        future = producer.send_many(topic, [b"%d" % i for i in range(count)])
        summary = future.result(120)
    assert summary == SendManyResult(topic, count, [])
    assert summary.delivered == count and summary.ok
    messages = kafka.consume_all(topic, expected_count=count, timeout=120)
    assert len(messages) == count
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in messages:
        by_partition[m.partition()].append(int(m.value()))
    assert sorted(v for vs in by_partition.values() for v in vs) == list(range(count))
    for partition, values in by_partition.items():
        assert values == sorted(values), f"partition {partition} is out of order"
    assert len(by_partition) > 1  # sticky partitioning moved on as batches filled


def test_keyed_placement_equals_send(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    many, single = new_topic(12), new_topic(12)
    keys = [f"key-{i % 10_000}".encode() for i in range(20_000)]
    values = [b"%d" % i for i in range(20_000)]
    with _producer(kafka) as producer:
        futures = producer.send_many(many, values, keys, per_record_futures=True)
        for key, value in zip(keys, values, strict=True):
            producer.send(single, value, key)
        producer.flush()
        assert all(isinstance(f, RecordFuture) for f in futures)
        reported = {keys[i]: f.result(0).partition for i, f in enumerate(futures)}
    read_many = {m.key(): m.partition() for m in kafka.consume_all(many, expected_count=20_000, timeout=120)}
    read_single = {m.key(): m.partition() for m in kafka.consume_all(single, expected_count=20_000, timeout=120)}
    assert read_many == read_single == reported
    assert len(set(read_many.values())) == 12


def test_a_bad_record_fails_alone(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(1)
    values: list[Any] = [b"%d" % i for i in range(1_000)]
    values[10] = bytes(20_000)  # larger than max.request.size
    values[20] = 12345  # no serializer for an int
    headers: list[Any] = [None] * 1_000
    headers[30] = [("h", 3.5)]  # a header value that is not bytes/str
    timestamps: list[Any] = [1_700_000_000_000 + i for i in range(1_000)]
    timestamps[40] = -5
    seen: list[tuple[int, BaseException | None]] = []
    with _producer(kafka, max_request_size=10_000) as producer:
        futures = producer.send_many(
            topic, values, headers=headers, timestamps=timestamps, per_record_futures=True,
            callback=lambda md, exc: seen.append((-1 if md is None else md.offset, exc)),
        )
        summary = producer.send_many(topic, values, headers=headers, timestamps=timestamps).result(60)
        producer.flush()
    assert len(futures) == 1_000
    assert isinstance(futures[10].exception(0), RecordTooLargeError)
    assert isinstance(futures[20].exception(0), SerializationError)
    assert isinstance(futures[30].exception(0), SerializationError)
    assert isinstance(futures[40].exception(0), ValueError)
    assert [i for i, f in enumerate(futures) if f.exception(0) is not None] == [10, 20, 30, 40]
    assert [i for i, _ in summary.errors] == [10, 20, 30, 40] and summary.delivered == 996
    assert isinstance(summary.errors[0][1], RecordTooLargeError)
    assert len(seen) == 1_000 and sum(1 for _, exc in seen if exc is not None) == 4
    messages = kafka.consume_all(topic, expected_count=2 * 996, timeout=60)
    good = [v for i, v in enumerate(values) if i not in (10, 20, 30, 40)]
    assert [m.value() for m in messages] == good + good
    assert [m.timestamp()[1] for m in messages[:3]] == timestamps[:3]
    assert [m.offset() for m in messages[:996]] == [f.result(0).offset for f in futures if f.exception(0) is None]


def test_headers_for_all_or_per_record_and_one_partition(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(3)
    with _producer(kafka) as producer:
        producer.send_many(topic, (b"a", b"b"), headers={"source": "bulk"}, partition=2).result(30)
        producer.send_many(topic, [b"c", None], [b"k", None], headers=[[("n", b"1")], None], partition=1).result(30)
    messages = kafka.consume_all(topic, expected_count=4, timeout=60)
    got = sorted(((m.partition(), m.value(), m.key(), m.headers()) for m in messages), key=repr)
    assert got == [
        (1, None, None, None),
        (1, b"c", b"k", [("n", b"1")]),
        (2, b"a", None, [("source", b"bulk")]),
        (2, b"b", None, [("source", b"bulk")]),
    ]


def test_send_many_in_transactions(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(3)
    with _producer(kafka, transactional_id=f"bulk-{uuid.uuid4().hex[:8]}") as producer:
        producer.init_transactions()
        with pytest.raises(Exception, match="outside a transaction"):
            producer.send_many(topic, [b"no"])
        producer.begin_transaction()
        committed = producer.send_many(topic, [b"c%d" % i for i in range(5_000)], [b"%d" % i for i in range(5_000)])
        producer.commit_transaction()
        assert committed.result(0).delivered == 5_000
        producer.begin_transaction()
        aborted = producer.send_many(topic, [b"aborted"] * 100)
        producer.flush()
        producer.abort_transaction()
        assert aborted.result(0).ok  # written, then aborted: read_committed never shows them
    messages = kafka.consume_all(topic, expected_count=5_000, timeout=60, isolation_level="read_committed")
    assert sorted(m.value() for m in messages) == sorted(b"c%d" % i for i in range(5_000))


def test_async_producer_send_many(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(4)

    async def main() -> tuple[SendManyResult, list[Any]]:
        async with AsyncProducer(bootstrap_servers=kafka.bootstrap_servers, max_request_size=10_000) as producer:
            whole = await producer.send_many(topic, [b"w%d" % i for i in range(10_000)])
            assert isinstance(whole, asyncio.Future)
            summary = await whole
            each = await producer.send_many(topic, [b"e0", bytes(20_000), b"e2"], per_record_futures=True)
            assert isinstance(each, list)
            outcomes = await asyncio.gather(*each, return_exceptions=True)
            return summary, outcomes

    summary, outcomes = asyncio.run(main())
    assert summary.delivered == 10_000 and summary.errors == []
    assert isinstance(outcomes[1], RecordTooLargeError)
    assert outcomes[0].topic == topic and outcomes[2].topic == topic
    values = {m.value() for m in kafka.consume_all(topic, expected_count=10_002, timeout=60)}
    assert values == {b"w%d" % i for i in range(10_000)} | {b"e0", b"e2"}


def test_columns_and_argument_errors() -> None:
    class ArrowLike:  # what pyarrow's Array and ChunkedArray offer
        def to_pylist(self) -> list[Any]:
            return [b"x", None]

    assert as_column(ArrowLike(), "values") == [b"x", None]
    assert as_column((b"a", b"b"), "values") == [b"a", b"b"]
    assert as_column(memoryview(b"abcdef").cast("B", (3, 2)), "values") == [b"ab", b"cd", b"ef"]
    assert as_column((b"v%d" % i for i in range(3)), "values") == [b"v0", b"v1", b"v2"]
    numpy = pytest.importorskip("numpy")  # installed with matplotlib (test extra)
    assert as_column(numpy.array([b"ab", b"cd"], dtype="S2"), "values") == [b"ab", b"cd"]
    assert as_column(numpy.frombuffer(b"abcdef", dtype=numpy.uint8).reshape(2, 3), "values") == [b"abc", b"def"]
    assert as_column(numpy.array([b"x", None], dtype=object), "values") == [b"x", None]
    with pytest.raises(TypeError, match="got a single bytes"):
        as_column(b"one record", "values")
    with pytest.raises(TypeError, match="fixed-width rows"):
        as_column(array.array("q", [1, 2]), "values")
    with MockCluster(brokers=1, default_partitions=2) as mock, Producer(bootstrap_servers=mock.bootstrap_servers) as p:
        with pytest.raises(ValueError, match="keys has 1 entries for 2 values"):
            p.send_many("t", [b"a", b"b"], [b"k"])
        with pytest.raises(ValueError, match="partition 5 does not exist"):
            p.send_many("t", [b"a"], partition=5)
        with pytest.raises(ValueError, match=r"timestamps must be in \[0, 2\*\*63 - 1\]"):
            p.send_many("t", [b"a"], timestamps=-1)
        with pytest.raises(ValueError, match=r"timestamps must be in \[0, 2\*\*63 - 1\]"):
            p.send_many("t", [b"a"], timestamps=2**63)
        with pytest.raises(TypeError, match="topic must be a str, got list"):
            p.send_many(["t"], [b"a"])
        with pytest.raises(TypeError, match="partition must be an int"):
            p.send_many("t", [b"a"], partition="0")
        # A record the wire cannot carry fails alone, with an error naming what is wrong.
        summary = p.send_many("t", [b"a", "\ud800", b"c"], timestamps=[1, 2, 2**63]).result(10)
        assert summary.delivered == 1
        assert [(i, type(e).__name__) for i, e in summary.errors] == [(1, "SerializationError"), (2, "ValueError")]
        assert "value: a str that cannot be encoded as UTF-8" in str(summary.errors[0][1])
        assert p.send_many("t", []).result(10) == SendManyResult("t", 0, [])
        assert p.send_many("t", [b"a"] * 3, timestamps=1_700_000_000_000).result(10).delivered == 3
        p.close()
        with pytest.raises(ProducerClosedError):
            p.send_many("t", [b"a"])


@pytest.mark.parametrize("keys", ["none", "all", "some"])
def test_append_many_builds_the_batches_append_builds(keys: str) -> None:
    """Same records, same batches, in the same order: one append() per record, or append_many()
    (runs found by bisecting cumulative sizes, grouped by partition)."""
    from josef._core.accumulator import Accumulator
    from josef._core.metadata import TopicInfo

    rng = random.Random(7)
    info = TopicInfo(leaders=[1, 1, 1, 1], epochs=[0] * 4, available=[0, 1, 2, 3])
    records = [(1_000 + i, None, bytes(rng.randrange(0, 400)), None) for i in range(3_000)]
    sizes = [len(r[2]) + 10 for r in records]
    partitions: list[int | None] | None = None
    if keys != "none":  # "some": keyless records among keyed ones, those go sticky
        partitions = [None if keys == "some" and i % 7 == 0 else rng.randrange(4) for i in range(len(records))]

    def batches(acc: Accumulator) -> list[tuple[Any, ...]]:
        out = []
        for tp in [("t", p) for p in range(4)]:
            while drained := acc.drain(1, [tp], 1 << 30, 0.0, lambda batch: True):
                out += [(b.partition, bytes(b.buf), b.count, b.base_ts, b.max_ts, b.size, b.max_record)
                        for b in drained]
        return out

    one, many = (Accumulator(batch_size=2_000, linger=0, buffer_memory=1 << 26, max_block=1, wake_sender=lambda: None)
                 for _ in range(2))
    random.seed(3)
    for i, (record, size) in enumerate(zip(records, sizes, strict=True)):
        one.append("t", None if partitions is None else partitions[i], info, record, size, -1, len(record[2]), None)
    random.seed(3)
    results, slots, futures = many.append_many("t", info, partitions, records, sizes, [-1] * len(records),
                                               [len(r[2]) for r in records], None, True)
    assert batches(one) == batches(many)
    assert futures is not None and [f._index for f in futures] == slots
    assert len(set(map(id, results))) > 10
