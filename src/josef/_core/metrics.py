"""Producer metrics: the Java client's names, groups and windowed-statistics semantics.

The core is :class:`Sensor`: it keeps ``metrics.num.samples`` samples, each covering
``metrics.sample.window.ms``, of (event count, value sum, value max), plus cumulative totals.
From one sensor come every statistic the Java client derives from it: the rate of values or of
events per second, the average and maximum over the live samples, and the cumulative total.
A sample older than ``num.samples * window`` no longer counts; a rate divides by the time the
live samples span, but never by less than ``num.samples - 1`` whole windows (as Java does, so a
young producer does not report absurd rates). Averages and maxima of an empty window are NaN.

Nothing is recorded per record on the user's thread: the sender records once per request and
once per batch (record counts are added per batch), the connections once per request, response
and socket read, and the accumulator only when ``send()`` has to wait for buffer memory. Gauges
(buffer bytes, in-flight requests, metadata age, ...) are read from the producer's state when
metrics are read. ``metrics.recording.level=off`` (a josef extension to the Java levels
``INFO``, ``DEBUG``, ``TRACE``, which all record everything) stops the recording.

:meth:`josef.Producer.metrics` returns :class:`Metric` values; :data:`SPECS` describes every
metric (see ``docs/metrics.md``), including its Prometheus name (:mod:`josef.prometheus`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from josef._core.records import FRAMING_ESTIMATE, HEADER_SIZE, RECORD_OVERHEAD

if TYPE_CHECKING:
    from josef._core.batch import ProducerBatch

PRODUCER = "producer-metrics"
TOPIC = "producer-topic-metrics"
NODE = "producer-node-metrics"

COUNTER, GAUGE = "counter", "gauge"

# Latency histograms: bucket i holds values in (B**(i-1), B**i] (ms), so percentiles are within 5 %.
_BUCKET_BASE = 1.05
_LOG_BASE = math.log(_BUCKET_BASE)
_PERCENTILES = (50, 95, 99)

# Java's txn-<name>-time-ns-total metrics and the Producer calls they time.
_TXN_CALLS = {
    "init": "init_transactions",
    "begin": "begin_transaction",
    "send-offsets": "send_offsets_to_transaction",
    "commit": "commit_transaction",
    "abort": "abort_transaction",
}


class Sensor:
    """Windowed samples of one measured quantity, plus its cumulative count and sum.

    ``record(value, now)`` adds one event; ``record(value, now, events)`` adds ``events`` events
    whose values sum to ``value`` (e.g. a whole batch's records at once). ``now`` is in seconds
    on any monotonic clock; the same clock must be used for reading.
    """

    __slots__ = ("_counts", "_current", "_hist", "_maxes", "_samples", "_starts", "_sums", "_window",
                 "count_total", "sum_total")

    def __init__(self, window: float, samples: int, *, histogram: bool = False) -> None:
        self._window = window
        self._samples = max(samples, 1)
        n = self._samples
        self._starts = [-math.inf] * n  # -inf: never used
        self._counts = [0] * n
        self._sums = [0.0] * n
        self._maxes = [-math.inf] * n
        self._hist: list[dict[int, int]] | None = [{} for _ in range(n)] if histogram else None
        self._current = 0
        self.count_total = 0
        self.sum_total = 0.0

    def record(self, value: float, now: float, events: int = 1, peak: float | None = None) -> None:
        """Add ``events`` events whose values sum to ``value``; ``peak``: the largest of them
        (default: their average)."""
        i = self._current
        if now - self._starts[i] >= self._window:
            if self._starts[i] != -math.inf:
                i = self._current = (i + 1) % self._samples
            self._starts[i] = now
            self._counts[i] = 0
            self._sums[i] = 0.0
            self._maxes[i] = -math.inf
            if self._hist is not None:
                self._hist[i].clear()
        self._counts[i] += events
        self._sums[i] += value
        single = value / events if events > 1 else value
        if peak is None:
            peak = single
        if peak > self._maxes[i]:
            self._maxes[i] = peak
        self.count_total += events
        self.sum_total += value
        if self._hist is not None:
            bucket = math.ceil(math.log(single) / _LOG_BASE) if single > 0 else -(1 << 30)
            h = self._hist[i]
            h[bucket] = h.get(bucket, 0) + events

    def _live(self, now: float) -> list[int]:
        horizon = self._samples * self._window
        return [i for i in range(self._samples) if now - self._starts[i] < horizon]

    def window_size(self, now: float) -> float:
        """Seconds a rate is taken over: the span of the live samples, at least ``samples - 1``
        whole windows."""
        live = self._live(now)
        elapsed = now - min(self._starts[i] for i in live) if live else 0.0
        full = int(elapsed // self._window) if self._window > 0 else 0
        minimum = self._samples - 1
        if full < minimum:
            elapsed += (minimum - full) * self._window
        return max(elapsed, 0.001)

    def rate(self, now: float) -> float:
        """Sum of the values recorded per second."""
        return sum(self._sums[i] for i in self._live(now)) / self.window_size(now)

    def event_rate(self, now: float) -> float:
        """Events recorded per second."""
        return sum(self._counts[i] for i in self._live(now)) / self.window_size(now)

    def avg(self, now: float) -> float:
        live = self._live(now)
        count = sum(self._counts[i] for i in live)
        return sum(self._sums[i] for i in live) / count if count else math.nan

    def max(self, now: float) -> float:
        live = self._live(now)
        if not any(self._counts[i] for i in live):
            return math.nan
        return max(self._maxes[i] for i in live)

    def percentile(self, q: float, now: float) -> float:
        """The ``q``-th percentile (0-100) of the single values in the live samples, within 5 %."""
        if self._hist is None:
            raise ValueError("this sensor keeps no histogram")
        merged: dict[int, int] = {}
        for i in self._live(now):
            for bucket, n in self._hist[i].items():
                merged[bucket] = merged.get(bucket, 0) + n
        total = sum(merged.values())
        if not total:
            return math.nan
        rank = q / 100 * total
        seen = 0
        for bucket in sorted(merged):
            seen += merged[bucket]
            if seen >= rank:
                return 0.0 if bucket == -(1 << 30) else _BUCKET_BASE**bucket
        return _BUCKET_BASE ** max(merged)


@dataclass(frozen=True)
class Metric:
    """One metric's current value, as plain data.

    ``name`` and ``group`` are the Java client's (``record-send-total``, ``producer-metrics``);
    ``tags`` are Java's too (``client-id``, plus ``topic`` or ``node-id``); ``value`` is in the
    Java unit (ms for times, ns for ``*-ns-total``, bytes, records, per second for rates) and is
    NaN for an average or maximum with no events in the window; ``kind`` is ``"counter"``
    (cumulative, only grows) or ``"gauge"``.
    """

    name: str
    group: str
    tags: dict[str, str]
    value: float
    description: str
    kind: str = GAUGE


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is named, typed and exported."""

    group: str
    name: str
    kind: str
    unit: str  # the Java unit: "ms", "ns", "s", "bytes", "records", "requests", "ratio", "1/s", ...
    description: str
    prometheus: str  # the Prometheus sample name (counters end in _total)
    scale: float  # Java value * scale = Prometheus value (ms/ns -> seconds)


_PROM_PREFIX = {PRODUCER: "josef_producer_", TOPIC: "josef_producer_topic_", NODE: "josef_producer_node_"}


def _spec(group: str, name: str, unit: str, description: str, kind: str = GAUGE) -> MetricSpec:
    if name.endswith("-total") and name != "buffer-total-bytes":
        kind = COUNTER
    base = name.replace("-", "_")
    scale = 1.0
    if unit == "ms":
        base, scale = base + "_seconds", 1e-3
    elif unit == "ns":
        base, scale = base.replace("_ns_total", "_seconds_total"), 1e-9
    elif unit == "s" and not base.endswith("_seconds"):
        base += "_seconds"
    elif unit == "bytes" and not base.endswith("bytes"):
        base = base.replace("byte_total", "bytes_total") if base.endswith("byte_total") else base + "_bytes"
    return MetricSpec(group, name, kind, unit, description, _PROM_PREFIX[group] + base, scale)


_P = PRODUCER
SPECS: tuple[MetricSpec, ...] = (
    # -- records -------------------------------------------------------------------------------
    _spec(_P, "record-send-rate", "1/s", "Records sent per second (counted when a batch goes into a request; "
          "a retried batch counts again)"),
    _spec(_P, "record-send-total", "records", "Records sent (counted when a batch goes into a request; "
          "a retried batch counts again)"),
    _spec(_P, "record-retry-rate", "1/s", "Records per second in batches queued again for a retry"),
    _spec(_P, "record-retry-total", "records", "Records in batches queued again for a retry"),
    _spec(_P, "record-error-rate", "1/s", "Records per second whose send finally failed"),
    _spec(_P, "record-error-total", "records", "Records whose send finally failed (also those refused by send())"),
    _spec(_P, "record-size-avg", "bytes", "Average of each batch's largest record size (an upper-bound "
          "estimate)"),
    _spec(_P, "record-size-max", "bytes", "Largest record size sent (an upper-bound estimate)"),
    _spec(_P, "records-per-request-avg", "records", "Average records per produce request"),
    _spec(_P, "record-queue-time-avg", "ms", "Average time a batch waited in the accumulator (created to sent)"),
    _spec(_P, "record-queue-time-max", "ms", "Longest time a batch waited in the accumulator (created to sent)"),
    # -- batches -------------------------------------------------------------------------------
    _spec(_P, "batch-size-avg", "bytes", "Average bytes per partition batch sent (after compression)"),
    _spec(_P, "batch-size-max", "bytes", "Largest partition batch sent, in bytes (after compression)"),
    _spec(_P, "compression-rate-avg", "ratio", "Average compressed size / uncompressed size of the batches sent "
          "(lower is better; 1 without compression)"),
    _spec(_P, "batch-split-rate", "1/s", "Batches split per second after the broker refused them as too large"),
    _spec(_P, "batch-split-total", "batches", "Batches split after the broker refused them as too large"),
    # -- requests ------------------------------------------------------------------------------
    _spec(_P, "request-latency-avg", "ms", "Average produce request latency (request queued to response read)"),
    _spec(_P, "request-latency-max", "ms", "Longest produce request latency"),
    *(
        _spec(_P, f"request-latency-p{q}", "ms", f"{q}th percentile of the produce request latency (josef)")
        for q in _PERCENTILES
    ),
    _spec(_P, "requests-in-flight", "requests", "Requests sent and not yet answered, over all connections"),
    _spec(_P, "produce-throttle-time-avg", "ms", "Average throttle time the brokers reported in produce responses"),
    _spec(_P, "produce-throttle-time-max", "ms", "Longest throttle time the brokers reported in produce responses"),
    _spec(_P, "metadata-age", "s", "Seconds since the last successful metadata update"),
    # -- buffer memory -------------------------------------------------------------------------
    _spec(_P, "buffer-total-bytes", "bytes", "buffer.memory: bytes the producer may hold for unsent records"),
    _spec(_P, "buffer-available-bytes", "bytes", "Bytes of buffer.memory not held by batches"),
    _spec(_P, "waiting-threads", "threads", "Threads blocked in send() waiting for buffer memory"),
    _spec(_P, "bufferpool-wait-ratio", "ratio", "Fraction of time send() callers spent waiting for buffer memory"),
    _spec(_P, "bufferpool-wait-time-ns-total", "ns", "Time send() callers spent waiting for buffer memory "
          "(waits still under way included)"),
    _spec(_P, "buffer-exhausted-rate", "1/s", "send() calls per second that failed: no buffer memory within "
          "max.block.ms"),
    _spec(_P, "buffer-exhausted-total", "calls", "send() calls that failed: no buffer memory within max.block.ms"),
    _spec(_P, "flush-time-ns-total", "ns", "Time spent in flush()"),
    _spec(_P, "metadata-wait-time-ns-total", "ns", "Time send() spent waiting for a topic's metadata"),
    # -- transactions --------------------------------------------------------------------------
    *(_spec(_P, f"txn-{name}-time-ns-total", "ns", f"Time spent in {call}()") for name, call in _TXN_CALLS.items()),
    # -- network -------------------------------------------------------------------------------
    _spec(_P, "connection-count", "connections", "Open broker connections"),
    _spec(_P, "connection-creation-rate", "1/s", "Connections opened per second"),
    _spec(_P, "connection-creation-total", "connections", "Connections opened"),
    _spec(_P, "connection-close-rate", "1/s", "Connections closed per second"),
    _spec(_P, "connection-close-total", "connections", "Connections closed"),
    _spec(_P, "outgoing-byte-rate", "bytes/s", "Bytes per second written to all brokers"),
    _spec(_P, "outgoing-byte-total", "bytes", "Bytes written to all brokers"),
    _spec(_P, "incoming-byte-rate", "bytes/s", "Bytes per second read from all brokers"),
    _spec(_P, "incoming-byte-total", "bytes", "Bytes read from all brokers"),
    _spec(_P, "request-rate", "1/s", "Requests per second sent to all brokers (all APIs)"),
    _spec(_P, "request-total", "requests", "Requests sent to all brokers (all APIs)"),
    _spec(_P, "request-size-avg", "bytes", "Average request size (all APIs)"),
    _spec(_P, "request-size-max", "bytes", "Largest request (all APIs)"),
    _spec(_P, "response-rate", "1/s", "Responses per second read from all brokers"),
    _spec(_P, "response-total", "responses", "Responses read from all brokers"),
    # -- per topic -----------------------------------------------------------------------------
    _spec(TOPIC, "record-send-rate", "1/s", "Records of this topic sent per second"),
    _spec(TOPIC, "record-send-total", "records", "Records of this topic sent"),
    _spec(TOPIC, "byte-rate", "bytes/s", "Bytes of this topic's batches sent per second (after compression)"),
    _spec(TOPIC, "byte-total", "bytes", "Bytes of this topic's batches sent (after compression)"),
    _spec(TOPIC, "compression-rate", "ratio", "Average compressed / uncompressed size of this topic's batches"),
    _spec(TOPIC, "record-retry-rate", "1/s", "Records of this topic per second in batches queued for a retry"),
    _spec(TOPIC, "record-retry-total", "records", "Records of this topic in batches queued for a retry"),
    _spec(TOPIC, "record-error-rate", "1/s", "Records of this topic per second whose send finally failed"),
    _spec(TOPIC, "record-error-total", "records", "Records of this topic whose send finally failed"),
    # -- per broker ----------------------------------------------------------------------------
    _spec(NODE, "request-rate", "1/s", "Requests per second sent to this broker (all APIs)"),
    _spec(NODE, "request-total", "requests", "Requests sent to this broker (all APIs)"),
    _spec(NODE, "request-size-avg", "bytes", "Average request size to this broker"),
    _spec(NODE, "request-size-max", "bytes", "Largest request to this broker"),
    _spec(NODE, "request-latency-avg", "ms", "Average produce request latency of this broker"),
    _spec(NODE, "request-latency-max", "ms", "Longest produce request latency of this broker"),
    _spec(NODE, "outgoing-byte-rate", "bytes/s", "Bytes per second written to this broker"),
    _spec(NODE, "outgoing-byte-total", "bytes", "Bytes written to this broker"),
    _spec(NODE, "incoming-byte-rate", "bytes/s", "Bytes per second read from this broker"),
    _spec(NODE, "incoming-byte-total", "bytes", "Bytes read from this broker"),
    _spec(NODE, "response-rate", "1/s", "Responses per second read from this broker"),
    _spec(NODE, "response-total", "responses", "Responses read from this broker"),
)
SPEC_BY_KEY: dict[tuple[str, str], MetricSpec] = {(s.group, s.name): s for s in SPECS}

class _Topic:
    __slots__ = ("bytes", "compression", "errors", "records", "retries")

    def __init__(self, window: float, samples: int) -> None:
        self.records = Sensor(window, samples)
        self.bytes = Sensor(window, samples)
        self.compression = Sensor(window, samples)
        self.retries = Sensor(window, samples)
        self.errors = Sensor(window, samples)


class NodeStats:
    """One broker connection's sensors; :class:`~josef._core.connection.BrokerConnection` records
    into it (as ``conn.stats``) from the sender thread."""

    __slots__ = ("_m", "incoming", "latency", "node_id", "outgoing", "responses")

    def __init__(self, metrics: ProducerMetrics, node_id: int) -> None:
        window, samples = metrics.window, metrics.samples
        self._m = metrics
        self.node_id = node_id
        self.outgoing = Sensor(window, samples)
        self.incoming = Sensor(window, samples)
        self.responses = Sensor(window, samples)
        self.latency = Sensor(window, samples)

    def connected(self, now: float) -> None:
        with self._m.lock:
            self._m.conn_created.record(1, now)

    def closed(self, now: float) -> None:
        with self._m.lock:
            self._m.conn_closed.record(1, now)

    def request(self, size: int, now: float) -> None:
        m = self._m
        with m.lock:
            self.outgoing.record(size, now)
            m.outgoing.record(size, now)

    def received(self, size: int, now: float) -> None:
        m = self._m
        with m.lock:
            self.incoming.record(size, now)
            m.incoming.record(size, now)

    def response(self, produce: bool, sent_at: float, now: float, throttle_ms: int) -> None:
        m = self._m
        with m.lock:
            self.responses.record(1, now)
            m.responses.record(1, now)
            if produce:
                latency = (now - sent_at) * 1000
                self.latency.record(latency, now)
                m.latency.record(latency, now)
                m.throttle.record(throttle_ms, now)


class BufferStats:
    """Waits for ``buffer.memory``, recorded by the accumulator under its lock (a rare path)."""

    __slots__ = ("_m", "_waiting", "_waiting_since")

    def __init__(self, metrics: ProducerMetrics) -> None:
        self._m = metrics
        self._waiting = 0
        self._waiting_since = 0.0  # sum of the start times of waits under way

    def wait_started(self, now: float) -> None:
        with self._m.lock:
            self._waiting += 1
            self._waiting_since += now

    def wait_ended(self, started: float, now: float, exhausted: bool) -> None:
        m = self._m
        with m.lock:
            self._waiting -= 1
            self._waiting_since -= started
            m.buffer_wait.record((now - started) * 1e9, now)
            if exhausted:  # send() raises: an error of one record, as in Java (no topic tag)
                m.exhausted.record(1, now)
                m.errors.record(1, now)

    def waiting_ns(self, now: float) -> float:
        """Time spent by waits still under way."""
        return max(self._waiting * now - self._waiting_since, 0.0) * 1e9


#: A gauge's reading function: the value at ``now`` (seconds on the metrics clock).
Gauge = Callable[[float], float]

# The gauges whose values live in other objects, with the value reported until their owner registers them.
_OWNED_GAUGES: dict[str, float] = {
    "buffer-total-bytes": math.nan,
    "buffer-available-bytes": math.nan,
    "waiting-threads": math.nan,
    "metadata-wait-time-ns-total": 0.0,
    "metadata-age": math.nan,
    "requests-in-flight": 0.0,
    "connection-count": 0.0,
}


class ProducerMetrics:
    """All of one producer's sensors and gauges (one per producer, owned by its sender)."""

    def __init__(
        self,
        client_id: str,
        *,
        window_ms: int = 30000,
        samples: int = 2,
        recording: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.window = window_ms / 1000
        self.samples = samples
        self.recording = recording
        self.clock = clock
        self.lock = threading.Lock()
        w, n = self.window, samples
        self.records_per_request = Sensor(w, n)  # value: records; gives record-send-* too
        self.batch_size = Sensor(w, n)
        self.compression = Sensor(w, n)
        self.queue_time = Sensor(w, n)
        self.record_size = Sensor(w, n)
        self.retries = Sensor(w, n)
        self.errors = Sensor(w, n)
        self.splits = Sensor(w, n)
        self.latency = Sensor(w, n, histogram=True)
        self.throttle = Sensor(w, n)
        self.buffer_wait = Sensor(w, n)
        self.exhausted = Sensor(w, n)
        self.outgoing = Sensor(w, n)
        self.incoming = Sensor(w, n)
        self.responses = Sensor(w, n)
        self.conn_created = Sensor(w, n)
        self.conn_closed = Sensor(w, n)
        self.flush_ns = 0.0
        self.txn_ns = dict.fromkeys(_TXN_CALLS.values(), 0.0)
        self.topics: dict[str, _Topic] = {}
        self.nodes: dict[int, NodeStats] = {}
        self.buffer = BufferStats(self)
        self._gauges: dict[str, Gauge] = {}
        self._extra: dict[str, Callable[[], float]] = {}

    @classmethod
    def from_config(cls, config: Any) -> ProducerMetrics:
        return cls(
            config["client.id"],
            window_ms=config["metrics.sample.window.ms"],
            samples=config["metrics.num.samples"],
            recording=config["metrics.recording.level"] != "off",
        )

    def register_gauge(self, name: str, read: Gauge) -> None:
        """Report ``read(now)`` as the ``producer-metrics`` gauge ``name``: called by the object that owns
        the value (the accumulator its buffer, the sender its connections), so this module needs none of them."""
        if name not in _OWNED_GAUGES:
            raise KeyError(f"{name!r} is not a gauge read from another object; known: {sorted(_OWNED_GAUGES)}")
        self._gauges[name] = read

    # -- recording (sender thread) -------------------------------------------------------------

    def node(self, node_id: int) -> NodeStats:
        stats = self.nodes.get(node_id)
        if stats is None:
            with self.lock:
                stats = self.nodes.setdefault(node_id, NodeStats(self, node_id))
        return stats

    def _topic(self, topic: str) -> _Topic:
        stats = self.topics.get(topic)
        if stats is None:
            stats = self.topics[topic] = _Topic(self.window, self.samples)
        return stats

    def record_produce(self, batches: Sequence[ProducerBatch], now: float) -> None:
        """A produce request with these (encoded) batches is being sent."""
        # Summed over the batches first, then recorded once per request.
        records = sizes = record_sizes = 0
        ratios = waits = 0.0
        max_size = max_record = 0
        max_wait = 0.0
        topics: dict[str, list[float]] = {}  # topic -> [records, bytes, sum of ratios, batches]
        for batch in batches:
            count = batch.count
            size = len(batch.encoded) if batch.encoded is not None else batch.size
            ratio = (size - HEADER_SIZE) / batch.raw_size if batch.raw_size else 1.0
            waited = now - batch.created
            # Java's upper bound for the batch's largest record (AbstractRecords.estimateSizeInBytesUpperBound).
            record_size = batch.max_record - FRAMING_ESTIMATE + RECORD_OVERHEAD
            records += count
            sizes += size
            ratios += ratio
            waits += waited
            record_sizes += record_size
            max_size = max(max_size, size)
            max_wait = max(max_wait, waited)
            max_record = max(max_record, record_size)
            sums = topics.get(batch.topic)
            if sums is None:
                topics[batch.topic] = [count, size, ratio, 1]
            else:
                sums[0] += count
                sums[1] += size
                sums[2] += ratio
                sums[3] += 1
        n = len(batches)
        with self.lock:
            self.records_per_request.record(records, now)
            self.batch_size.record(sizes, now, n, max_size)
            self.compression.record(ratios, now, n)
            self.queue_time.record(waits * 1000, now, n, max_wait * 1000)
            self.record_size.record(record_sizes, now, n, max_record)
            for name, (topic_records, topic_bytes, topic_ratios, k) in topics.items():
                topic = self._topic(name)
                topic.records.record(topic_records, now, int(topic_records))
                topic.bytes.record(topic_bytes, now, int(k))
                topic.compression.record(topic_ratios, now, int(k))

    def record_retry(self, topic: str, records: int, now: float) -> None:
        with self.lock:
            self.retries.record(records, now, records)
            self._topic(topic).retries.record(records, now, records)

    def record_error(self, topic: str, records: int, now: float) -> None:
        with self.lock:
            self.errors.record(records, now, records)
            self._topic(topic).errors.record(records, now, records)

    def record_split(self, now: float) -> None:
        with self.lock:
            self.splits.record(1, now)

    def add_flush_time(self, seconds: float) -> None:
        with self.lock:
            self.flush_ns += seconds * 1e9

    def add_txn_time(self, call: str, seconds: float) -> None:
        """Time spent in the transactional ``call`` (e.g. ``"commit_transaction"``)."""
        with self.lock:
            self.txn_ns[call] = self.txn_ns.get(call, 0.0) + seconds * 1e9

    def add_gauge(self, name: str, read: Callable[[], float]) -> None:
        """Expose ``read()`` as a ``producer-metrics`` gauge (for extensions, e.g. transactions)."""
        self._extra[name] = read

    # -- reading -------------------------------------------------------------------------------

    def values(self, now: float | None = None) -> list[Metric]:
        """Every metric's current value."""
        if now is None:
            now = self.clock()
        out: list[Metric] = []
        base = {"client-id": self.client_id}

        def add(group: str, name: str, value: float, tags: dict[str, str] = base) -> None:
            spec = SPEC_BY_KEY[(group, name)]
            out.append(Metric(name, group, tags, float(value), spec.description, spec.kind))

        def meter(group: str, prefix: str, sensor: Sensor, tags: dict[str, str] = base) -> None:
            add(group, f"{prefix}-rate", sensor.rate(now), tags)
            add(group, f"{prefix}-total", sensor.sum_total, tags)

        def avg_max(group: str, prefix: str, sensor: Sensor, tags: dict[str, str] = base) -> None:
            add(group, f"{prefix}-avg", sensor.avg(now), tags)
            add(group, f"{prefix}-max", sensor.max(now), tags)

        gauges = self._gauges

        def gauge(name: str) -> None:
            read = gauges.get(name)
            add(PRODUCER, name, read(now) if read is not None else _OWNED_GAUGES[name])

        with self.lock:
            meter(PRODUCER, "record-send", self.records_per_request)
            meter(PRODUCER, "record-retry", self.retries)
            meter(PRODUCER, "record-error", self.errors)
            avg_max(PRODUCER, "record-size", self.record_size)
            add(PRODUCER, "records-per-request-avg", self.records_per_request.avg(now))
            avg_max(PRODUCER, "record-queue-time", self.queue_time)
            avg_max(PRODUCER, "batch-size", self.batch_size)
            add(PRODUCER, "compression-rate-avg", self.compression.avg(now))
            add(PRODUCER, "batch-split-rate", self.splits.event_rate(now))
            add(PRODUCER, "batch-split-total", self.splits.count_total)
            avg_max(PRODUCER, "request-latency", self.latency)
            for q in _PERCENTILES:
                add(PRODUCER, f"request-latency-p{q}", self.latency.percentile(q, now))
            avg_max(PRODUCER, "produce-throttle-time", self.throttle)
            gauge("buffer-total-bytes")
            gauge("buffer-available-bytes")
            gauge("waiting-threads")
            add(PRODUCER, "bufferpool-wait-ratio", self.buffer_wait.rate(now) / 1e9)
            add(PRODUCER, "bufferpool-wait-time-ns-total", self.buffer_wait.sum_total + self.buffer.waiting_ns(now))
            add(PRODUCER, "buffer-exhausted-rate", self.exhausted.event_rate(now))
            add(PRODUCER, "buffer-exhausted-total", self.exhausted.count_total)
            add(PRODUCER, "flush-time-ns-total", self.flush_ns)
            for name, call in _TXN_CALLS.items():
                add(PRODUCER, f"txn-{name}-time-ns-total", self.txn_ns[call])
            gauge("metadata-wait-time-ns-total")
            gauge("metadata-age")
            gauge("requests-in-flight")
            gauge("connection-count")
            meter(PRODUCER, "connection-creation", self.conn_created)
            meter(PRODUCER, "connection-close", self.conn_closed)
            meter(PRODUCER, "outgoing-byte", self.outgoing)
            meter(PRODUCER, "incoming-byte", self.incoming)
            add(PRODUCER, "request-rate", self.outgoing.event_rate(now))
            add(PRODUCER, "request-total", self.outgoing.count_total)
            avg_max(PRODUCER, "request-size", self.outgoing)
            meter(PRODUCER, "response", self.responses)
            for topic, ts in sorted(self.topics.items()):
                tags = {"client-id": self.client_id, "topic": topic}
                meter(TOPIC, "record-send", ts.records, tags)
                meter(TOPIC, "byte", ts.bytes, tags)
                add(TOPIC, "compression-rate", ts.compression.avg(now), tags)
                meter(TOPIC, "record-retry", ts.retries, tags)
                meter(TOPIC, "record-error", ts.errors, tags)
            for node_id, ns in sorted(self.nodes.items()):
                tags = {"client-id": self.client_id, "node-id": f"node-{node_id}"}
                add(NODE, "request-rate", ns.outgoing.event_rate(now), tags)
                add(NODE, "request-total", ns.outgoing.count_total, tags)
                avg_max(NODE, "request-size", ns.outgoing, tags)
                avg_max(NODE, "request-latency", ns.latency, tags)
                meter(NODE, "outgoing-byte", ns.outgoing, tags)
                meter(NODE, "incoming-byte", ns.incoming, tags)
                meter(NODE, "response", ns.responses, tags)
        for name, read in self._extra.items():
            out.append(Metric(name, PRODUCER, base, float(read()), name, GAUGE))
        return out


def find(metrics: Iterable[Metric], name: str, group: str | None = None, **tags: str) -> float:
    """The value of the one metric called ``name`` (in ``group``, with these tags; tag keys
    with underscores match Java's dashes: ``topic="t"``, ``node_id="node-1"``). Without
    ``group``, ``producer-metrics`` wins over the per-topic and per-node groups unless tags
    say otherwise."""
    wanted = {key.replace("_", "-"): value for key, value in tags.items()}
    found = [
        m for m in metrics
        if m.name == name and (group is None or m.group == group)
        and all(m.tags.get(k) == v for k, v in wanted.items())
    ]
    if group is None and not wanted:
        found = [m for m in found if m.group == PRODUCER] or found
    if len(found) != 1:
        detail = f"{len(found)} metrics match" if found else "no metric matches"
        raise KeyError(f"{detail} {name!r} (group={group!r}, tags={wanted!r})")
    return found[0].value


__all__ = [
    "COUNTER",
    "GAUGE",
    "NODE",
    "PRODUCER",
    "SPECS",
    "TOPIC",
    "BufferStats",
    "Gauge",
    "Metric",
    "MetricSpec",
    "NodeStats",
    "ProducerMetrics",
    "Sensor",
    "find",
]
