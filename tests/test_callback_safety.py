"""Issue 12, case 5: delivery callbacks run on the sender thread, so nothing they call may wait
for that thread. close() closes without joining (timeout 0, a warning), result()/flush() for a
record not done raise at once, and send() never blocks the sender: to a topic whose metadata is
known it queues, to one without metadata it fails at once."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import pytest

from josef import Producer, RecordFuture
from josef.errors import IllegalStateError, KafkaTimeoutError, ProducerClosedError
from josef.testing import MockCluster

AT_ONCE = 0.25  # seconds: what "at once" means on a loaded 2-core machine


def _first_callback(producer: Producer, topic: str, action: Any) -> tuple[Any, float, RecordFuture]:
    """Send one record whose callback runs ``action()`` on the sender thread; returns what it
    returned or raised, how long it took, and the record's future."""
    outcome: list[Any] = []
    done = threading.Event()

    def callback(metadata: Any, error: Any) -> None:
        started = time.monotonic()
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - started)
        done.set()

    future = producer.send(topic, BIG, partition=0, callback=callback)
    assert done.wait(30)
    return outcome[0], outcome[1], future


BIG = bytes(2048)  # larger than batch_size=1024: its batch is full at once and goes despite linger.ms


def test_close_from_a_callback_closes_without_joining(kafka: Any, new_topic: Any, caplog: Any) -> None:
    topic = new_topic()
    producer = Producer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=10_000, batch_size=1024)
    producer.send(topic, BIG).result(30)
    later: list[RecordFuture] = []
    close_took: list[float] = []

    def close_in_callback() -> None:
        later.extend(producer.send(topic, b"queued") for _ in range(10))  # lingering: never sent
        started = time.monotonic()
        producer.close()
        close_took.append(time.monotonic() - started)

    with caplog.at_level(logging.WARNING, logger="josef.producer"):
        outcome, _, _ = _first_callback(producer, topic, close_in_callback)
        assert outcome is None  # no RuntimeError("cannot join current thread")
        started = time.monotonic()
        producer.close(10)  # the application's own close: the sender stopped already
        assert time.monotonic() - started < AT_ONCE
    assert close_took[0] < AT_ONCE
    assert "close() called from a delivery callback" in caplog.text and "timeout 0" in caplog.text
    assert not producer._sender.thread.is_alive()
    for future in later:  # closed with timeout 0: the queued records fail, none stays pending
        with pytest.raises(KafkaTimeoutError, match="close"):
            future.result(0)
    with pytest.raises(ProducerClosedError):
        producer.send(topic, b"after")


def test_waits_on_the_sender_thread_raise_at_once() -> None:
    # Two brokers, one partition each: the lingering record's batch stays queued while the
    # callbacks' records (full batches) go to the other broker.
    with MockCluster(brokers=2, topics={"t": 2}) as cluster, Producer(
        bootstrap_servers=cluster.bootstrap_servers, linger_ms=10_000, batch_size=1024
    ) as producer:
        assert cluster.leader("t", 0) != cluster.leader("t", 1)
        topic = "t"
        producer.send(topic, BIG, partition=0).result(30)
        pending = producer.send(topic, b"lingering", partition=1)  # its batch lingers 10 s
        for action, pattern in (
            (lambda: pending.result(), r"RecordFuture.result\(\) .* sender thread"),
            (lambda: pending.exception(5), r"RecordFuture.exception\(\) .* sender thread"),
            (lambda: producer.flush(), r"Producer.flush\(\) with records pending .* sender thread"),
        ):
            outcome, took, _ = _first_callback(producer, topic, action)
            assert isinstance(outcome, IllegalStateError), outcome
            assert re.search(pattern, str(outcome)), outcome
            assert took < AT_ONCE
        # Without waiting, the same calls answer: result(0) is an ordinary timeout.
        outcome, _, _ = _first_callback(producer, topic, lambda: pending.result(0))
        assert isinstance(outcome, KafkaTimeoutError)
        assert not pending.done()  # nothing above waited for it or disturbed it
        assert producer.flush(30) == 0
        assert pending.result(0).offset >= 0


def test_send_from_a_callback_never_blocks_the_sender(kafka: Any, new_topic: Any) -> None:
    known, unknown = new_topic(), new_topic()
    with Producer(bootstrap_servers=kafka.bootstrap_servers) as producer:
        producer.send(known, b"warm-up").result(30)
        outcome, took, _ = _first_callback(producer, known, lambda: producer.send(unknown, b"x"))
        assert isinstance(outcome, IllegalStateError), outcome
        assert f"send() to topic {unknown!r} from a delivery callback" in str(outcome)
        assert "partitions_for" in str(outcome)
        assert took < AT_ONCE
        # A topic with metadata queues at once; after partitions_for() the other one does too.
        outcome, took, _ = _first_callback(producer, known, lambda: producer.send(known, b"from-callback"))
        assert isinstance(outcome, RecordFuture) and took < AT_ONCE
        assert outcome.result(30).topic == known
        producer.partitions_for(unknown)
        outcome, took, _ = _first_callback(producer, known, lambda: producer.send(unknown, b"now-known"))
        assert isinstance(outcome, RecordFuture) and took < AT_ONCE
        assert outcome.result(30).topic == unknown
    assert [m.value() for m in kafka.consume_all(unknown, 1)] == [b"now-known"]
