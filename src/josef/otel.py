"""OpenTelemetry tracing for the producer (``pip install josef[otel]``), as an interceptor.

``TracingInterceptor`` starts one ``PRODUCER`` span per record in ``on_send`` (a child of the
caller's current span), injects the W3C trace context (``traceparent``, and ``tracestate`` when
set) into the record's headers so consumers continue the trace, and ends the span when the
broker acknowledges the record, with the attributes of the OpenTelemetry messaging semantic
conventions for Kafka: ``messaging.system``, ``messaging.operation.name`` / ``.type``,
``messaging.destination.name``, ``messaging.destination.partition.id``, ``messaging.kafka.offset``,
``messaging.kafka.message.key`` (keyed records), ``messaging.kafka.message.tombstone``,
``messaging.client.id``, ``server.address`` / ``server.port``, and ``error.type`` with an
``ERROR`` status on failure::

    from josef.otel import TracingInterceptor

    producer = Producer(bootstrap_servers="...", interceptor_classes=[TracingInterceptor()])
    # or, in a .properties file: interceptor.classes=josef.otel.TracingInterceptor

A producer without it pays nothing for tracing (no interceptor: one attribute check per record).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from josef import __version__
from josef.future import RecordMetadata
from josef.interceptors import ProducerRecord

_PROPAGATED = ("traceparent", "tracestate")


class TracingInterceptor:
    """One ``send <topic>`` PRODUCER span per record; see the module docstring."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("josef", __version__, tracer_provider)
        self._common: dict[str, Any] = {"messaging.system": "kafka"}

    def configure(self, config: dict[str, Any]) -> None:
        """Client id and the first bootstrap server, from the producer's configuration."""
        self._common["messaging.client.id"] = config["client.id"]
        host, port = config["bootstrap.servers"][0]
        self._common["server.address"] = host
        self._common["server.port"] = port

    def on_send(self, record: ProducerRecord) -> ProducerRecord:
        attributes = {
            **self._common,
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": record.topic,
        }
        if record.key is not None:
            key = record.key
            attributes["messaging.kafka.message.key"] = (
                key.decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)
            )
        if record.value is None:
            attributes["messaging.kafka.message.tombstone"] = True
        if record.partition is not None:
            attributes["messaging.destination.partition.id"] = str(record.partition)
        span = self._tracer.start_span(f"send {record.topic}", kind=SpanKind.PRODUCER, attributes=attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        if carrier:
            headers = [(k, v) for k, v in record.headers if k not in _PROPAGATED]
            headers.extend((k, v.encode()) for k, v in carrier.items())
            record.headers[:] = headers
        record.__dict__["_josef_span"] = span
        return record

    def on_record_acknowledgement(
        self, record: ProducerRecord, metadata: RecordMetadata | None, exception: BaseException | None
    ) -> None:
        span = record.__dict__.pop("_josef_span", None)
        if span is None:
            return
        if metadata is not None and metadata.partition >= 0:
            span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
            if metadata.offset >= 0:
                span.set_attribute("messaging.kafka.offset", metadata.offset)
        if exception is not None:
            span.set_attribute("error.type", type(exception).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exception)))
            span.record_exception(exception)
        span.end()

    def close(self) -> None:
        pass


__all__ = ["TracingInterceptor"]
