"""Issue 12, cases 1 and 6: send() refuses at once what the wire cannot carry, with an error that
names the argument and says whether it is a type or a range mistake; nothing invalid reaches the
sender thread, which goes on delivering (read back by confluent-kafka). A hypothesis test feeds
random, also out-of-range, values for every argument."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from josef import Producer, RecordFuture
from josef.errors import SerializationError
from josef.testing import MockCluster

# What send() may raise for bad input: a type mistake, a range mistake, or a serialization failure.
BAD_INPUT = (TypeError, ValueError, SerializationError)
AT_ONCE = 0.25  # seconds: a refusal involves no wait at all; the margin is for a loaded machine


def _raises_at_once(call: Any, error: type[BaseException] | tuple[type[BaseException], ...], match: str) -> None:
    started = time.monotonic()
    with pytest.raises(error, match=match):
        call()
    assert time.monotonic() - started < AT_ONCE


def _bad_calls(producer: Producer, topic: str) -> None:
    """Every case of the issue, each raising in send() with the argument named."""
    send = producer.send
    _raises_at_once(lambda: send(topic, b"v", timestamp_ms=2**63), ValueError, r"timestamp_ms must be in \[0, 2\*\*63")
    _raises_at_once(lambda: send(topic, b"v", timestamp_ms=-1), ValueError, "timestamp_ms")
    _raises_at_once(lambda: send(topic, b"v", timestamp_ms=1.5), TypeError, "timestamp_ms must be an int.*float")
    _raises_at_once(lambda: send(topic, b"v", partition="0"), TypeError, "partition must be an int.*str '0'")
    _raises_at_once(lambda: send(topic, b"v", partition=True), TypeError, "partition must be an int.*bool")
    _raises_at_once(lambda: send(topic, b"v", partition=-1), ValueError, "partition -1 does not exist")
    _raises_at_once(lambda: send([topic], b"v"), TypeError, r"topic must be a str, got list \[")
    _raises_at_once(lambda: send(b"t", b"v"), TypeError, "topic must be a str, got bytes")
    _raises_at_once(lambda: send("bad topic!", b"v"), ValueError, "not a valid topic name")
    _raises_at_once(lambda: send(topic, "\ud800"), SerializationError, "value: a str that cannot be encoded as UTF-8")
    _raises_at_once(lambda: send(topic, b"v", key="\udfff"), SerializationError, "key: a str that cannot be encoded")
    _raises_at_once(lambda: send(topic, {"a": 1}), SerializationError, "value: cannot send a dict")
    _raises_at_once(lambda: send(topic, b"v", headers=[("h\ud800", b"x")]), SerializationError, "headers: a str")
    _raises_at_once(lambda: send(topic, b"v", headers=[(b"k", b"x")]), SerializationError, "header key must be a str")
    _raises_at_once(lambda: send(topic, b"v", headers=[("k", 5)]), SerializationError, "value must be bytes")
    _raises_at_once(lambda: send(topic, b"v", headers="k=v"), SerializationError, "headers must be")
    _raises_at_once(lambda: send(topic, b"v", callback=5), TypeError, "callback must be callable")


def test_bad_input_raises_in_send_and_delivery_goes_on(kafka: Any, new_topic: Any) -> None:
    """Bad calls interleaved with 1000 good records: each raises at once; the good ones are all
    delivered and read back, the producer stays usable, and the extreme valid timestamps work."""
    topic = new_topic(partitions=2)
    with Producer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=20) as producer:
        futures: list[RecordFuture] = []
        for i in range(1000):
            futures.append(producer.send(topic, f"good-{i}".encode(), partition=i % 2))
            if i % 250 == 0:
                _bad_calls(producer, topic)
        edge = producer.send(topic, b"epoch", partition=0, timestamp_ms=0)
        assert producer.flush(60) == 0
        assert edge.result(0).timestamp == 0
        assert all(f.exception(0) is None for f in futures)
        # An int subclass or anything with __index__ is an int: normalised, not refused.
        assert producer.send(topic, b"ix", partition=_Index(1)).result(30).partition == 1
    values = [m.value() for m in kafka.consume_all(topic, 1002)]
    assert sorted(values) == sorted([f"good-{i}".encode() for i in range(1000)] + [b"epoch", b"ix"])


class _Index:
    def __init__(self, n: int) -> None:
        self.n = n

    def __index__(self) -> int:
        return self.n


def test_largest_timestamp_reaches_the_wire() -> None:
    """2**63 - 1 is the largest timestamp the record batch can carry: it is accepted, encoded and
    stored (the mock broker has no timestamp range limit), next to timestamp 0 in one batch."""
    with MockCluster(topics={"t": 1}) as cluster, Producer(bootstrap_servers=cluster.bootstrap_servers) as producer:
        low = producer.send("t", b"a", timestamp_ms=0)
        high = producer.send("t", b"b", timestamp_ms=2**63 - 1)
        assert high.result(10).timestamp == 2**63 - 1
        assert low.result(0).offset == 0
        stored = cluster.records("t", 0)
        assert [(r.value, r.timestamp) for r in stored] == [(b"a", 0), (b"b", 2**63 - 1)]


# -- random input ----------------------------------------------------------------------------------

TOPIC = "fuzz"
text = st.text(max_size=20)  # includes lone surrogates: not encodable as UTF-8
payload = st.one_of(
    st.none(), st.binary(max_size=64), text, st.integers(), st.floats(), st.booleans(),
    st.dictionaries(text, st.integers(), max_size=2), st.builds(bytearray, st.binary(max_size=8)),
)
ARGS = {
    "topic": st.one_of(
        st.just(TOPIC), st.sampled_from(["", ".", "..", "x" * 250, "sp ace", "é"]), st.integers(),
        st.none(), st.lists(st.just(TOPIC), max_size=2), st.binary(max_size=4),
    ),
    "value": payload,
    "key": payload,
    "partition": st.one_of(
        st.none(), st.integers(-3, 5), st.integers(), st.just("0"), st.booleans(), st.floats(), st.just(b"\x00"),
    ),
    "timestamp_ms": st.one_of(
        st.none(), st.integers(min_value=-(2**66), max_value=2**66), st.integers(0, 2**63 - 1),
        st.floats(), st.just("1700000000000"), st.booleans(),
    ),
    "headers": st.one_of(
        st.none(),
        st.lists(st.tuples(st.one_of(text, st.binary(max_size=4), st.integers()),
                           st.one_of(st.none(), st.binary(max_size=8), text, st.integers())), max_size=3),
        st.dictionaries(text, st.one_of(st.binary(max_size=4), st.none()), max_size=2),
        st.just("k=v"), st.lists(st.integers(), max_size=2), st.integers(),
    ),
    "callback": st.one_of(st.none(), st.just(lambda metadata, error: None), st.integers(), st.just("cb")),
}


def _send_random(producer: Producer, args: dict[str, Any]) -> RecordFuture | None:
    """One random call: it raises a bad-input error at once, or returns a future."""
    topic = args.pop("topic")
    started = time.monotonic()
    try:
        return producer.send(topic, **args)
    except BAD_INPUT:
        assert time.monotonic() - started < AT_ONCE
        return None


@pytest.fixture(scope="module")
def fuzz_producer() -> Iterator[Producer]:
    with (
        MockCluster(topics={TOPIC: 3}) as cluster,
        Producer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=0, max_block_ms=2000) as producer,
    ):
        yield producer


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(st.fixed_dictionaries(ARGS), min_size=1, max_size=8))
def test_random_send_arguments_raise_at_once_or_resolve(fuzz_producer: Producer, calls: list[dict[str, Any]]) -> None:
    futures = [f for f in (_send_random(fuzz_producer, call) for call in calls) if f is not None]
    assert fuzz_producer.flush(10) == 0
    assert all(f.done() for f in futures)
    # Whatever came before, the producer still delivers.
    assert fuzz_producer.send(TOPIC, b"after", partition=0).result(10).partition == 0


def test_random_send_arguments_against_kafka(kafka: Any, new_topic: Any) -> None:
    """The same random calls against a real broker (fewer: a smoke test), then a read-back."""
    topic = new_topic(partitions=3)
    strategy = st.fixed_dictionaries({**ARGS, "topic": ARGS["topic"].map(lambda t: topic if t == TOPIC else t)})
    delivered: list[bytes] = []
    with Producer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0, max_block_ms=5000) as producer:

        @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(call=strategy)
        def one(call: dict[str, Any]) -> None:
            future = _send_random(producer, call)
            if future is not None:
                producer.flush(30)
                assert future.done()
                if future.exception(0) is None:
                    delivered.append(future.result(0).topic.encode())

        one()
        marker = producer.send(topic, b"after-fuzz").result(30)
    assert marker.offset >= 0
    values = [m.value() for m in kafka.consume_all(topic, len(delivered) + 1)]
    assert b"after-fuzz" in values and len(values) == len(delivered) + 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(values=[], keys=None, timestamps=None, partition=0)  # once an IndexError in append_many
@example(values=["\ud800"], keys=None, timestamps=None, partition=0)  # every record failing alone
@given(
    values=st.lists(ARGS["value"], max_size=6),
    keys=st.one_of(st.none(), st.lists(ARGS["key"], min_size=6, max_size=6)),
    timestamps=st.one_of(st.none(), ARGS["timestamp_ms"], st.lists(ARGS["timestamp_ms"], min_size=6, max_size=6)),
    partition=ARGS["partition"],
)
def test_random_send_many_arguments_raise_at_once_or_resolve(
    fuzz_producer: Producer, values: list[Any], keys: list[Any] | None, timestamps: Any, partition: Any
) -> None:
    """send_many() with random columns: a bad call raises at once; otherwise every record is
    delivered or reported failed (a bad record fails alone)."""
    if keys is not None:
        keys = keys[: len(values)]
    if isinstance(timestamps, list):
        timestamps = timestamps[: len(values)]
    started = time.monotonic()
    try:
        completion = fuzz_producer.send_many(TOPIC, values, keys, timestamps=timestamps, partition=partition)
    except BAD_INPUT:
        assert time.monotonic() - started < AT_ONCE
        return
    summary = completion.result(10)
    assert summary.count == len(values)
    assert all(isinstance(error, BAD_INPUT) for _, error in summary.errors), summary.errors
    assert fuzz_producer.send(TOPIC, b"after", partition=0).result(10).partition == 0
