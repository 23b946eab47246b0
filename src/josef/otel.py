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

``TracingInterceptor(span_per="batch")`` shares one span among consecutive records instead (see
the class). A producer without it pays nothing for tracing (no interceptor: one attribute check per record).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from josef import __version__
from josef.future import RecordMetadata
from josef.interceptors import ProducerRecord

_PROPAGATED = ("traceparent", "tracestate")


class _Group:
    """Records sharing one span in ``span_per="batch"`` mode."""

    __slots__ = ("acked", "errors", "headers", "partitions", "sealed", "sent", "span", "started")

    def __init__(self, span: Span, started: float) -> None:
        self.span = span
        self.headers = _context_headers(span)  # the same for every record of the group
        self.started = started
        self.sent = 0
        self.acked = 0
        self.errors: list[BaseException] = []
        self.partitions: set[int] = set()
        self.sealed = False


class TracingInterceptor:
    """``send <topic>`` PRODUCER spans; see the module docstring.

    ``span_per="record"`` (the default): one span per record. ``span_per="batch"``: consecutive
    records to one topic under one parent span share a span (``messaging.batch.message_count``
    says how many) until ``batch_records`` records or ``batch_ms`` milliseconds; it ends when the
    last of them is acknowledged after that (a window that ends in a pause is closed by the next
    record, or by ``close()``). Spans cost far more than josef's send path, so this is the
    setting for high rates.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        span_per: str = "record",
        batch_records: int = 1000,
        batch_ms: float = 100.0,
    ) -> None:
        if span_per not in ("record", "batch"):
            raise ValueError(f"span_per: {span_per!r} is not one of record, batch")
        self._tracer = trace.get_tracer("josef", __version__, tracer_provider)
        self._common: dict[str, Any] = {"messaging.system": "kafka"}
        self._per_batch = span_per == "batch"
        self._batch_records = batch_records
        self._batch_seconds = batch_ms / 1000
        self._groups: dict[tuple[str, int], _Group] = {}
        self._lock = threading.Lock()

    def configure(self, config: dict[str, Any]) -> None:
        """Client id and the first bootstrap server, from the producer's configuration."""
        self._common["messaging.client.id"] = config["client.id"]
        host, port = config["bootstrap.servers"][0]
        self._common["server.address"] = host
        self._common["server.port"] = port

    def on_send(self, record: ProducerRecord) -> ProducerRecord:
        if self._per_batch:
            return self._on_send_batched(record)
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
        _inject(record, span)
        record.__dict__["_josef_span"] = span
        return record

    def _on_send_batched(self, record: ProducerRecord) -> ProducerRecord:
        key = (record.topic, trace.get_current_span().get_span_context().span_id)
        now = time.monotonic()
        with self._lock:
            group = self._groups.get(key)
            if group is None or group.sent >= self._batch_records or now - group.started >= self._batch_seconds:
                # Close every group whose window is over (other topics and parents too), so none lingers.
                for stale_key, stale in list(self._groups.items()):
                    if stale is group or now - stale.started >= self._batch_seconds:
                        del self._groups[stale_key]
                        self._seal(stale)
                attributes = {
                    **self._common,
                    "messaging.operation.name": "send",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": record.topic,
                }
                span = self._tracer.start_span(f"send {record.topic}", kind=SpanKind.PRODUCER, attributes=attributes)
                group = self._groups[key] = _Group(span, now)
            group.sent += 1
        _set_headers(record, group.headers)
        record.__dict__["_josef_group"] = group
        return record

    def _seal(self, group: _Group) -> None:
        """No more records join ``group``; its span ends once all it has are acknowledged."""
        group.sealed = True
        if group.acked == group.sent:
            self._end_group(group)

    def _end_group(self, group: _Group) -> None:
        span = group.span
        span.set_attribute("messaging.batch.message_count", group.sent)
        if len(group.partitions) == 1:
            span.set_attribute("messaging.destination.partition.id", str(next(iter(group.partitions))))
        if group.errors:
            span.set_attribute("error.type", type(group.errors[0]).__name__)
            span.set_status(Status(StatusCode.ERROR, f"{len(group.errors)} of {group.sent} records failed: "
                                   f"{group.errors[0]}"))
        span.end()

    def on_record_acknowledgement(
        self, record: ProducerRecord, metadata: RecordMetadata | None, exception: BaseException | None
    ) -> None:
        group = record.__dict__.pop("_josef_group", None)
        if group is not None:
            with self._lock:
                group.acked += 1
                if metadata is not None and metadata.partition >= 0:
                    group.partitions.add(metadata.partition)
                if exception is not None:
                    group.errors.append(exception)
                if group.acked == group.sent and not group.sealed and (
                    time.monotonic() - group.started >= self._batch_seconds
                ):
                    group.sealed = True  # the window is over: the next record starts a new span
                    for key, current in list(self._groups.items()):
                        if current is group:
                            del self._groups[key]
                if group.sealed and group.acked == group.sent:
                    self._end_group(group)
            return
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
        """Ends the batch spans still open (the producer has delivered or failed every record)."""
        with self._lock:
            groups, self._groups = list(self._groups.values()), {}
            for group in groups:
                self._seal(group)


def _context_headers(span: Span) -> list[tuple[str, bytes | None]]:
    """The span's W3C trace context (``traceparent``, ``tracestate``) as record headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return [(k, v.encode()) for k, v in carrier.items()]


def _set_headers(record: ProducerRecord, context: list[tuple[str, bytes | None]]) -> None:
    if context:
        headers = [(k, v) for k, v in record.headers if k not in _PROPAGATED] if record.headers else []
        headers.extend(context)
        record.headers[:] = headers


def _inject(record: ProducerRecord, span: Span) -> None:
    """The span's W3C trace context into the record's headers, replacing any there."""
    _set_headers(record, _context_headers(span))
