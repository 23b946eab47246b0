"""interceptor.classes against a real broker, read back by confluent-kafka."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from josef import Producer, RecordMetadata
from josef.errors import RecordTooLargeError
from josef.interceptors import ProducerInterceptor, ProducerRecord


class CountingInterceptor:
    """Adds a header naming itself and counts outcomes."""

    instances: list[CountingInterceptor] = []

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked = 0
        self.failed: list[BaseException] = []
        self.offsets: list[tuple[int, int]] = []
        self.closed = False
        self.config: dict[str, Any] = {}
        CountingInterceptor.instances.append(self)

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_send(self, record: ProducerRecord) -> ProducerRecord:
        record.headers.append(("intercepted-by", b"counting"))
        return record

    def on_acknowledgement(self, metadata: RecordMetadata | None, exception: BaseException | None) -> None:
        with self.lock:
            if exception is None:
                assert metadata is not None
                self.acked += 1
                self.offsets.append((metadata.partition, metadata.offset))
            else:
                self.failed.append(exception)

    def close(self) -> None:
        self.closed = True


class BrokenInterceptor:
    """Fails everywhere: the records must go through all the same."""

    def __init__(self) -> None:
        self.calls = 0

    def on_send(self, record: ProducerRecord) -> ProducerRecord:
        self.calls += 1
        record.headers.append(("half-done", b"1"))  # changes made before the failure are kept
        raise RuntimeError("on_send broke")

    def on_acknowledgement(self, metadata: RecordMetadata | None, exception: BaseException | None) -> None:
        raise RuntimeError("on_acknowledgement broke")

    def close(self) -> None:
        raise RuntimeError("close broke")


class Renaming:
    """Changes the value and the key: what on_send returns is what is sent."""

    def on_send(self, record: ProducerRecord) -> ProducerRecord:
        return ProducerRecord(record.topic, f"<{record.value}>", "k", None, None, record.headers)


def test_header_added_and_acknowledgements_counted(kafka: Any, caplog: pytest.LogCaptureFixture) -> None:
    topic = f"icpt-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 3)
    CountingInterceptor.instances.clear()
    broken = BrokenInterceptor()
    callbacks: list[BaseException | None] = []
    n = 2000
    producer = Producer(
        bootstrap_servers=kafka.bootstrap_servers,
        interceptor_classes=["tests.test_interceptors.CountingInterceptor", broken],
        max_request_size=10_000,
    )
    (counting,) = CountingInterceptor.instances
    assert counting.config["bootstrap.servers"] == producer.config["bootstrap.servers"]
    def note(_metadata: RecordMetadata | None, error: BaseException | None) -> None:
        callbacks.append(error)

    futures = [producer.send(topic, f"v{i}".encode(), headers={"i": str(i)}, callback=note) for i in range(n)]
    too_large = producer.send(topic, b"x" * 20_000)
    producer.close(30)
    assert counting.closed
    assert all(f.exception(0) is None for f in futures)
    assert isinstance(too_large.exception(0), RecordTooLargeError)
    assert counting.acked == n  # exact: each record once
    assert len(counting.failed) == 1 and isinstance(counting.failed[0], RecordTooLargeError)
    assert sorted(counting.offsets) == sorted({(f.result(0).partition, f.result(0).offset) for f in futures})
    assert callbacks == [None] * n  # the user's callbacks still run, after the interceptors
    assert broken.calls == n + 1
    assert "on_send broke" in caplog.text and "close broke" in caplog.text

    messages = kafka.consume_all(topic, expected_count=n)
    assert len(messages) == n
    for message in messages:
        headers = message.headers()
        i = int(dict(headers)["i"])
        assert message.value() == f"v{i}".encode()
        assert headers == [("i", str(i).encode()), ("intercepted-by", b"counting"), ("half-done", b"1")]


def test_on_send_may_replace_the_record(kafka: Any) -> None:
    topic = f"icpt-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 1)
    with Producer(bootstrap_servers=kafka.bootstrap_servers, interceptor_classes=[Renaming()]) as producer:
        producer.send(topic, "v").result(30)
    (message,) = kafka.consume_all(topic, expected_count=1)
    assert (message.key(), message.value()) == (b"k", b"<v>")


def test_bad_interceptor_config() -> None:
    with pytest.raises(ValueError, match="interceptor.classes: cannot load 'tests.nope.X'"):
        Producer(bootstrap_servers="127.0.0.1:9", interceptor_classes="tests.nope.X")
    with pytest.raises(ValueError, match="has no on_send"):
        Producer(bootstrap_servers="127.0.0.1:9", interceptor_classes=[object()])
    assert isinstance(CountingInterceptor(), ProducerInterceptor)


def test_send_many_goes_through_interceptors_and_contextual_serializers() -> None:
    from josef.testing import MockCluster

    class Tagging:
        def serialize(self, topic: str, headers: list[tuple[str, bytes | None]], data: object) -> bytes:
            headers.append(("schema", b"1"))
            return f"{topic}:{data}".encode()

    CountingInterceptor.instances.clear()
    with MockCluster(topics={"t": 2}) as cluster:
        with Producer(bootstrap_servers=cluster.bootstrap_servers, value_serializer=Tagging(),
                      interceptor_classes=[CountingInterceptor()]) as producer:
            outcome = producer.send_many("t", [1, 2, 3], keys=[b"a", b"b", b"c"], headers={"h": b"x"})
            result = outcome.result(10)
            futures = producer.send_many("t", [4], per_record_futures=True)
            assert futures[0].result(10).topic == "t"
        records = [r for p in (0, 1) for r in cluster.records("t", p)]
    assert result.ok and result.count == 3
    assert sorted(r.value for r in records) == [b"t:1", b"t:2", b"t:3", b"t:4"]
    by_value = {r.value: r.headers for r in records}
    assert by_value[b"t:1"] == [("h", b"x"), ("intercepted-by", b"counting"), ("schema", b"1")]
    (counting,) = CountingInterceptor.instances
    assert counting.acked == 4
