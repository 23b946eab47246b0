"""OpenTelemetry spans and trace-context headers, against a real broker read back by confluent-kafka."""

from __future__ import annotations

import time
import uuid
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from josef import Producer
from josef.otel import TracingInterceptor


def test_producer_spans_and_traceparent(kafka: Any) -> None:
    topic = f"otel-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 3)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with Producer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id="traced",
        max_request_size=10_000,
        interceptor_classes=[TracingInterceptor(provider)],
    ) as producer, tracer.start_as_current_span("request") as parent:
        keyed = producer.send(topic, b"v1", key="order-1").result(30)
        placed = producer.send(topic, b"v2", partition=2, headers={"traceparent": b"stale"}).result(30)
        tombstone = producer.send(topic, None, key=b"order-1").result(30)
        too_large = producer.send(topic, b"x" * 20_000)
        assert too_large.exception(30) is not None

    spans = [s for s in exporter.get_finished_spans() if s.name != "request"]
    assert len(spans) == 4

    def where(span: Any) -> tuple[Any, Any]:
        attrs = span.attributes or {}
        return attrs.get("messaging.destination.partition.id"), attrs.get("messaging.kafka.offset")

    by_place = {where(s): s for s in spans}
    for span in spans:
        attrs = span.attributes or {}
        assert span.name == f"send {topic}"
        assert span.kind is SpanKind.PRODUCER
        assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
        assert attrs["messaging.system"] == "kafka"
        assert attrs["messaging.operation.name"] == "send" and attrs["messaging.operation.type"] == "send"
        assert attrs["messaging.destination.name"] == topic
        assert attrs["messaging.client.id"] == "traced"
        assert attrs["server.address"] == kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    assert (by_place[str(keyed.partition), keyed.offset].attributes or {})["messaging.kafka.message.key"] == "order-1"
    assert placed.partition == 2 and ("2", placed.offset) in by_place
    tombstone_attrs = by_place[str(tombstone.partition), tombstone.offset].attributes or {}
    assert tombstone_attrs["messaging.kafka.message.tombstone"] is True
    (failed,) = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert (failed.attributes or {})["error.type"] == "RecordTooLargeError"
    assert "messaging.kafka.offset" not in (failed.attributes or {})

    messages = kafka.consume_all(topic, expected_count=3)
    assert len(messages) == 3
    for message in messages:
        span = by_place[str(message.partition()), message.offset()]
        ctx = span.get_span_context()
        traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}".encode()
        assert [v for k, v in message.headers() or [] if k == "traceparent"] == [traceparent]


def test_span_per_batch(kafka: Any) -> None:
    topic = f"otel-b-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 2)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = TracingInterceptor(provider, span_per="batch", batch_records=200, batch_ms=60_000)
    with Producer(bootstrap_servers=kafka.bootstrap_servers, interceptor_classes=[tracing]) as producer:
        for i in range(500):
            producer.send(topic, f"{i}".encode(), partition=i % 2)
        assert producer.flush(30) == 0
    spans = exporter.get_finished_spans()
    assert sorted((s.attributes or {})["messaging.batch.message_count"] for s in spans) == [100, 200, 200]
    assert all(s.kind is SpanKind.PRODUCER and s.name == f"send {topic}" for s in spans)
    assert all("messaging.destination.partition.id" not in (s.attributes or {}) for s in spans)  # two partitions
    per_span: dict[str, int] = {}
    for message in kafka.consume_all(topic, expected_count=500):
        (traceparent,) = [v for k, v in message.headers() or [] if k == "traceparent"]
        per_span[traceparent.decode().split("-")[2]] = per_span.get(traceparent.decode().split("-")[2], 0) + 1
    expected = {f"{s.get_span_context().span_id:016x}": (s.attributes or {})["messaging.batch.message_count"]
                for s in spans}
    assert per_span == expected


def test_batch_spans_per_parent_end_and_do_not_linger() -> None:
    from josef.testing import MockCluster

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    tracing = TracingInterceptor(provider, span_per="batch", batch_ms=300)

    def ended() -> int:
        return len([s for s in exporter.get_finished_spans() if s.name == "send t"])

    with MockCluster(topics={"t": 1}) as cluster, Producer(
        bootstrap_servers=cluster.bootstrap_servers, interceptor_classes=[tracing]
    ) as producer:
        for request in range(3):  # one parent span per "request", as in a web server
            with tracer.start_as_current_span(f"request-{request}"):
                producer.send("t", b"v").result(10)  # acknowledged well inside its 300 ms window
            time.sleep(0.35)  # the window ends in a pause: the next record, whatever its parent, closes it
        assert ended() >= 2
    assert ended() == 3  # the last one at close()
    assert all((s.attributes or {})["messaging.batch.message_count"] == 1 for s in exporter.get_finished_spans()
               if s.name == "send t")
