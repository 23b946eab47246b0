"""send()'s C shortcut (josef._core._speedups.send_fast) against the pure-Python send path it shortcuts.

The same calls go through a producer using the shortcut and one without it, each to its own topic
of the same mock cluster; the batches the broker stores must be equal field by field (record
section, timestamps, sizes, CRC checked on decoding), and so must every future's metadata and
every callback. Sticky partition choice is made deterministic for the comparison."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import josef._core.accumulator
from josef import Producer, speedups
from josef.errors import ProducerClosedError, RecordTooLargeError
from josef.future import RecordFuture, RecordMetadata
from josef.testing import MockCluster

pytestmark = pytest.mark.skipif(not speedups.AVAILABLE, reason="the C accelerator is not built")

PARTITIONS = 3
_topics = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=1) as mock:
        yield mock


@pytest.fixture(autouse=True)
def cyclic_sticky(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sticky partitioning picks at random; here it takes the next partition, for both paths alike."""

    def pick(available: Sequence[int], num_partitions: int, previous: int = -1) -> int:
        return (previous + 1) % num_partitions

    monkeypatch.setattr(josef._core.accumulator, "pick_partition", pick)


def _producer(cluster: MockCluster, fast: bool, **config: Any) -> Producer:
    producer = Producer({
        "bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 60_000, "batch.size": 600,
        "enable.idempotence": False, "acks": 1, **config,
    })
    if not fast:
        producer.try_send = None
    else:
        assert producer.try_send is not None
    return producer


record_args = st.fixed_dictionaries({
    "value": st.one_of(st.none(), st.binary(max_size=300), st.text(max_size=20)),
    "key": st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=10)),
    "partition": st.one_of(st.none(), st.none(), st.integers(0, PARTITIONS - 1)),
    "timestamp_ms": st.integers(0, 2**63 - 1),
    "headers": st.one_of(st.none(), st.none(), st.none(), st.just({"h": b"v"})),
    "callback": st.booleans(),
})


def _run(cluster: MockCluster, fast: bool, calls: list[dict[str, Any]], **config: Any) -> tuple[Any, ...]:
    topic = f"twin-{next(_topics)}"
    cluster.create_topic(topic, PARTITIONS)
    seen: list[tuple[int, RecordMetadata | None, BaseException | None]] = []
    futures: list[RecordFuture] = []
    with _producer(cluster, fast, **config) as producer:
        producer.partitions_for(topic)
        for i, call in enumerate(calls):
            args = dict(call)
            if args.pop("callback"):
                args["callback"] = lambda md, exc, i=i: seen.append((i, md, exc))
            futures.append(producer.send(topic, **args))
        assert producer.flush(30) == 0
    results = [(f.result(0)[1:], f._index) for f in futures]
    batches = [[(b.attributes, b.base_offset, b.base_timestamp, b.max_timestamp, b.last_offset_delta,
                 b.producer_id, b.records, b.size) for b in cluster.batches(topic, p)] for p in range(PARTITIONS)]
    return results, batches, sorted(((i, md[1:] if md else None, exc) for i, md, exc in seen), key=lambda x: x[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(record_args, min_size=1, max_size=60))
def test_batches_equal_with_and_without_the_shortcut(cluster: MockCluster, calls: list[dict[str, Any]]) -> None:
    assert _run(cluster, True, calls) == _run(cluster, False, calls)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(record_args, min_size=1, max_size=40))
def test_batches_equal_ignoring_keys(cluster: MockCluster, calls: list[dict[str, Any]]) -> None:
    config = {"partitioner.ignore.keys": True}
    assert _run(cluster, True, calls, **config) == _run(cluster, False, calls, **config)


def test_large_batches_grow_their_buffer_as_the_python_path_writes_it(cluster: MockCluster) -> None:
    """The C shortcut grows a batch's buffer (by doubling, up to the batch's limit) as records arrive;
    big batches of mixed sizes come out byte for byte as the Python appends write them."""
    calls = [{"value": bytes([i % 251]) * (i * 97 % 3_000), "key": b"k%d" % (i % 5) if i % 2 else None,
              "partition": None, "timestamp_ms": 1_700_000_000_000 + i * 13 % 500, "headers": None,
              "callback": i % 3 == 0} for i in range(600)]
    fast = _run(cluster, True, calls, **{"batch.size": 200_000})
    assert sum(len(b) for b in fast[1]) < 30  # a few big batches, not hundreds of small ones
    assert fast == _run(cluster, False, calls, **{"batch.size": 200_000})


@pytest.fixture
def appended(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records ``Accumulator.append`` (the Python path) has added: ``appended[0]``."""
    count = [0]
    python_append = josef._core.accumulator.Accumulator.append

    def counting_append(self: josef._core.accumulator.Accumulator, *args: Any) -> RecordFuture:
        count[0] += 1
        return python_append(self, *args)

    monkeypatch.setattr(josef._core.accumulator.Accumulator, "append", counting_append)
    return count


def test_many_records_take_the_shortcut_and_keep_their_order(cluster: MockCluster, appended: list[int]) -> None:
    """Every record of a long run is added by the C shortcut, including those that open a batch or
    fill one (it asks the Python accumulator to choose or close the batch, and appends itself);
    per-partition order and every offset come out as the Python path gives them."""
    calls = [{"value": b"v%d" % i, "key": None if i % 3 else b"k%d" % (i % 7), "partition": None,
              "timestamp_ms": 1_700_000_000_000 + i, "headers": None, "callback": i % 5 == 0} for i in range(3000)]
    fast = _run(cluster, True, calls)
    in_python = appended[0]
    slow = _run(cluster, False, calls)
    assert appended[0] - in_python == len(calls)  # without the shortcut: every record
    assert in_python == 0  # with it: none, new and full batches included
    assert fast == slow
    assert sum(len(batches) for batches in fast[1]) > 20


def test_timestamp_defaults_to_now(cluster: MockCluster) -> None:
    import time

    with _producer(cluster, True) as producer:
        before = int(time.time() * 1000)
        future = producer.send("now", b"x")
        after = int(time.time() * 1000)
        producer.flush(10)
        assert before <= future.result(10).timestamp <= after


def test_falls_back_for_what_it_does_not_handle(cluster: MockCluster) -> None:
    """Records too large, and sends after close(), take the Python path and its errors."""
    with _producer(cluster, True, **{"max.request.size": 1000}) as producer:
        error = producer.send("fallback", b"x" * 2000).exception(10)
        assert isinstance(error, RecordTooLargeError)
    with pytest.raises(ProducerClosedError):
        producer.send("fallback", b"x")


def test_async_send_takes_the_shortcut_on_the_loop(cluster: MockCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """``await AsyncProducer.send()`` queues through try_send on the event loop: no executor hop and
    no Python send() except for the records that open a batch; offsets come back in order."""
    import asyncio

    from josef import AsyncProducer

    python_sends = [0]
    python_send = Producer.send

    def counting_send(self: Producer, *args: Any, **kwargs: Any) -> RecordFuture:
        python_sends[0] += 1
        return python_send(self, *args, **kwargs)

    monkeypatch.setattr(Producer, "send", counting_send)

    cluster.create_topic("aio-fast", 2)

    async def main() -> list[RecordMetadata]:
        async with AsyncProducer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=5) as producer:
            await producer.partitions_for("aio-fast")
            pending = [await producer.send("aio-fast", b"v%d" % i, partition=i % 2) for i in range(2000)]
            return [await p for p in pending]

    results = asyncio.run(main())
    assert python_sends[0] < 200
    for partition in (0, 1):
        offsets = [md.offset for md in results if md.partition == partition]
        assert offsets == list(range(1000))
    assert [r.value for r in cluster.records("aio-fast", 1)][:3] == [b"v1", b"v3", b"v5"]


def test_async_send_is_a_coroutine_to_asyncio_on_both_paths(cluster: MockCluster) -> None:
    """What ``AsyncProducer.send()`` returns, queued already (the shortcut: a done awaitable, no
    coroutine made) or not (a coroutine), works wherever asyncio takes a coroutine: ``await``,
    ``create_task``, ``gather``; and it gives the record's future either way."""
    import asyncio
    import collections.abc

    from josef import AsyncProducer
    from josef._core._speedups import Ready

    cluster.create_topic("aio-ready", 1)

    async def main() -> None:
        async with AsyncProducer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=60_000) as producer:
            await producer.partitions_for("aio-ready")
            first = producer.send("aio-ready", b"first", headers=[("h", b"1")])  # the Python path: a coroutine
            assert asyncio.iscoroutine(first) and not isinstance(first, Ready)
            opened = await first
            queued = producer.send("aio-ready", b"second")  # joins it: queued by the call itself
            assert isinstance(queued, Ready) and isinstance(queued, collections.abc.Coroutine)
            assert asyncio.iscoroutine(queued)
            with pytest.raises(StopIteration) as stop:
                queued.send(None)
            assert isinstance(stop.value.value, RecordFuture)
            futures = [opened, stop.value.value]
            futures.append(await asyncio.create_task(producer.send("aio-ready", b"third")))
            futures += await asyncio.gather(*(producer.send("aio-ready", b"v%d" % i) for i in range(20)))
            done = producer.send("aio-ready", b"last")
            assert isinstance(done, Ready)
            with pytest.raises(ValueError, match="thrown"):
                done.throw(ValueError("thrown"))
            assert done.close() is None
            futures.append(await done)
            await producer.flush()
            assert [(await f).offset for f in futures] == list(range(24))

    asyncio.run(main())
    assert [r.value for r in cluster.records("aio-ready", 0)][:3] == [b"first", b"second", b"third"]


def test_async_send_is_one_c_call_taking_every_form_the_python_method_takes(cluster: MockCluster) -> None:
    """``AsyncProducer.send`` is the C ``AsyncSend`` when the shortcut is on: the Python method's
    signature (for ``inspect`` and ``help``), each argument where the Python method puts it whether
    given by position or keyword, and calls the method would refuse refused with its ``TypeError``."""
    import asyncio
    import inspect

    from josef import AsyncProducer
    from josef._core._speedups import AsyncSend

    cluster.create_topic("aio-c-send", 2)
    seen: list[tuple[Any, Any]] = []

    async def main() -> None:
        async with AsyncProducer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=5) as producer:
            assert isinstance(producer.send, AsyncSend)
            assert inspect.signature(producer.send) == inspect.signature(AsyncProducer.send.__get__(producer))
            assert producer.send.__doc__ == AsyncProducer.send.__doc__
            await producer.partitions_for("aio-c-send")
            futures = [
                await producer.send("aio-c-send", b"v0", b"k0", partition=1, timestamp_ms=1_000),
                await producer.send("aio-c-send", value=b"v1", key=b"k1", partition=1, timestamp_ms=1_001),
                await producer.send("aio-c-send", b"v2", partition=1, timestamp_ms=1_002,
                                    callback=lambda md, exc: seen.append((md, exc))),
                await producer.send("aio-c-send", key=b"k3", partition=1, timestamp_ms=1_003),
                await producer.send("aio-c-send", b"v4", partition=1, timestamp_ms=1_004, headers=[("h", b"x")]),
                await producer.send(topic="aio-c-send", value=b"v5", partition=1, timestamp_ms=1_005),
            ]
            await producer.flush()
            assert [(f.result().partition, f.result().timestamp) for f in futures] == [
                (1, 1_000 + i) for i in range(6)
            ]
            for bad_call, message in [
                (lambda: producer.send(), "topic"),
                (lambda: producer.send("aio-c-send", b"v", value=b"w"), "value"),
                (lambda: producer.send("aio-c-send", b"v", b"k", 1), "positional"),
                (lambda: producer.send("aio-c-send", b"v", bogus=1), "bogus"),
            ]:
                with pytest.raises(TypeError, match=message):
                    bad_call()

    asyncio.run(main())
    assert len(seen) == 1 and seen[0][1] is None and seen[0][0].timestamp == 1_002
    stored = [(r.key, r.value, r.timestamp, list(r.headers)) for r in cluster.records("aio-c-send", 1)]
    assert stored == [
        (b"k0", b"v0", 1_000, []), (b"k1", b"v1", 1_001, []), (None, b"v2", 1_002, []),
        (b"k3", None, 1_003, []), (None, b"v4", 1_004, [("h", b"x")]), (None, b"v5", 1_005, []),
    ]


def test_async_send_in_c_falls_back_when_closed_and_leaves_a_subclass_send_alone(cluster: MockCluster) -> None:
    """The C ``send`` reads ``try_send_ready`` at each call, as the Python method does: once the
    producer is closed the call raises ``ProducerClosedError``. A subclass's own ``send`` is never
    replaced, a producer the shortcut cannot serve (a serializer) keeps the Python method, and an
    ``AsyncProducer`` is collected once dropped (the C call's references to it are traversed)."""
    import asyncio
    import gc
    import weakref

    from josef import AsyncProducer
    from josef._core._speedups import AsyncSend

    cluster.create_topic("aio-c-closed", 1)
    calls: list[str] = []

    class Counting(AsyncProducer):
        def send(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            calls.append(topic)
            return super().send(topic, value, key, **kwargs)

    async def main() -> None:
        producer = AsyncProducer(bootstrap_servers=cluster.bootstrap_servers)
        await producer.partitions_for("aio-c-closed")
        await (await producer.send("aio-c-closed", b"a"))
        await producer.close()
        with pytest.raises(ProducerClosedError):
            await producer.send("aio-c-closed", b"b")
        async with Counting(bootstrap_servers=cluster.bootstrap_servers) as counting:
            assert not isinstance(counting.send, AsyncSend)
            await (await counting.send("aio-c-closed", b"c"))
        assert calls == ["aio-c-closed"]
        async with AsyncProducer(bootstrap_servers=cluster.bootstrap_servers, value_serializer=str.encode) as other:
            assert not isinstance(other.send, AsyncSend)
            await (await other.send("aio-c-closed", "d"))
        dropped = AsyncProducer(bootstrap_servers=cluster.bootstrap_servers)
        assert isinstance(dropped.send, AsyncSend)
        await dropped.close()
        ref = weakref.ref(dropped)
        del dropped
        gc.collect()
        assert ref() is None

    asyncio.run(main())
    assert [r.value for r in cluster.records("aio-c-closed", 0)] == [b"a", b"c", b"d"]


def test_a_record_that_would_wait_for_memory_goes_to_the_python_path(
    cluster: MockCluster, appended: list[int]
) -> None:
    """With ``buffer.memory`` too small for the records in flight, a batch the shortcut would open
    is left to ``Accumulator.append``, which waits; records larger than a batch go alone. Every
    record arrives, in order per partition, whichever path took it."""
    calls = [(i % PARTITIONS, b"k%d" % i, bytes([i % 251]) * (200 + i * 37 % 1_300)) for i in range(400)]
    topic = f"tight-{next(_topics)}"
    cluster.create_topic(topic, PARTITIONS)
    with _producer(cluster, True, **{"buffer.memory": 4_000, "linger.ms": 1}) as producer:
        producer.partitions_for(topic)
        futures = [producer.send(topic, value, key, partition=p, timestamp_ms=1_000 + i)
                   for i, (p, key, value) in enumerate(calls)]
        assert producer.flush(30) == 0
    assert all(f.exception(0) is None for f in futures)
    assert 0 < appended[0] < len(calls)  # some waited, in Python; the others took the shortcut
    for p in range(PARTITIONS):
        stored = [(r.key, r.value, r.timestamp) for r in cluster.records(topic, p)]
        assert stored == [(key, value, 1_000 + i) for i, (q, key, value) in enumerate(calls) if q == p]
