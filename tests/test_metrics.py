"""Metrics (issue 6): windowed stats on a manual clock, the Java producer metrics against a real
broker and a scripted mock cluster, the Prometheus exposition and the Grafana dashboard."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from josef import Producer
from josef._core.metrics import COUNTER, NODE, PRODUCER, SPECS, TOPIC, Metric, ProducerMetrics, Sensor, find
from josef._core.records import RECORD_OVERHEAD
from josef.errors import BufferExhaustedError, RecordTooLargeError

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent


def _topic(kafka: Any, partitions: int = 1, **config: str) -> str:
    name = f"metrics-{uuid.uuid4().hex[:12]}"
    kafka.create_topic(name, partitions, config=config or None)
    return name


# -- the windowed stats, on a manual clock ------------------------------------------------------


def test_sensor_total_avg_max_and_rate_within_one_window() -> None:
    s = Sensor(window=30.0, samples=2)
    assert math.isnan(s.avg(0.0)) and math.isnan(s.max(0.0))
    assert s.rate(0.0) == 0.0
    for t, v in ((100.0, 10.0), (101.0, 30.0), (102.0, 20.0)):
        s.record(v, t)
    assert s.sum_total == 60.0 and s.count_total == 3
    assert s.avg(103.0) == 20.0
    assert s.max(103.0) == 30.0
    # 3 s of data, but a rate spans at least (samples - 1) whole windows: 3 s + 30 s (Java's rule).
    assert s.rate(103.0) == pytest.approx(60.0 / 33.0)
    assert s.event_rate(103.0) == pytest.approx(3 / 33.0)


def test_sensor_rolls_samples_and_forgets_old_ones() -> None:
    s = Sensor(window=10.0, samples=2)
    s.record(5.0, 0.0)  # sample A: [0, 10)
    s.record(7.0, 12.0)  # sample B starts at 12
    assert s.avg(15.0) == 6.0 and s.max(15.0) == 7.0
    # Rate over the span of the live samples: 15 s (>= 1 whole window, so no padding).
    assert s.rate(15.0) == pytest.approx(12.0 / 15.0)
    # A third window reuses A's slot: A's values are gone, totals keep them.
    s.record(1.0, 23.0)
    assert s.avg(24.0) == 4.0 and s.max(24.0) == 7.0
    assert s.sum_total == 13.0 and s.count_total == 3
    # Samples older than samples * window stop counting even without new records.
    assert s.max(33.0) == 1.0  # B (started 12) is 21 s old: obsolete; C (23) is live
    assert math.isnan(s.avg(50.0)) and s.rate(50.0) == 0.0
    assert s.sum_total == 13.0


def test_sensor_batch_records_count_each_event() -> None:
    s = Sensor(window=30.0, samples=2)
    s.record(160, 1.0, 160)  # a batch of 160 records, counted at once
    s.record(40, 2.0, 40)
    assert s.sum_total == 200 and s.count_total == 200
    assert s.avg(3.0) == 1.0 and s.max(3.0) == 1.0
    assert s.rate(3.0) == pytest.approx(200 / 32.0)


def test_sensor_percentiles_within_five_percent() -> None:
    s = Sensor(window=30.0, samples=2, histogram=True)
    for i in range(1, 1001):
        s.record(float(i), 1.0)
    for q, exact in ((50, 500.0), (95, 950.0), (99, 990.0)):
        assert s.percentile(q, 2.0) == pytest.approx(exact, rel=0.05)
    assert math.isnan(Sensor(1.0, 2, histogram=True).percentile(50, 0.0))


def test_producer_metrics_on_a_manual_clock() -> None:
    now = [1000.0]
    m = ProducerMetrics("c1", window_ms=10000, samples=3, clock=lambda: now[0])
    m.record_retry("orders", 5, now[0])
    m.record_error("orders", 2, now[0])
    m.record_error("audit", 1, now[0])
    now[0] += 5.0
    values = m.values()
    assert find(values, "record-error-total") == 3
    assert find(values, "record-error-total", topic="orders") == 2
    assert find(values, "record-retry-total", topic="orders") == 5
    # 5 s of data, padded to (3 - 1) windows of 10 s.
    assert find(values, "record-error-rate") == pytest.approx(3 / 25.0)
    assert math.isnan(find(values, "request-latency-avg"))
    assert all(isinstance(v, Metric) and v.tags["client-id"] == "c1" for v in values)
    with pytest.raises(KeyError):
        find(values, "no-such-metric")


def test_every_metric_has_a_spec_and_prometheus_names_are_unique() -> None:
    names = [spec.prometheus for spec in SPECS]
    assert len(names) == len(set(names))
    for spec in SPECS:
        assert re.fullmatch(r"josef_producer_[a-z0-9_]+", spec.prometheus), spec
        assert (spec.kind == COUNTER) == spec.prometheus.endswith("_total"), spec
        assert spec.description
    values = ProducerMetrics("x").values()
    assert {(m.group, m.name) for m in values} <= {(s.group, s.name) for s in SPECS}


def test_config_keys() -> None:
    from josef.config import ProducerConfig

    cfg = ProducerConfig.from_user({"bootstrap.servers": "h:1", "metrics.recording.level": "DEBUG"})
    assert cfg["metrics.recording.level"] == "debug"
    assert cfg["metrics.sample.window.ms"] == 30000 and cfg["metrics.num.samples"] == 2
    with pytest.raises(ValueError, match="metrics.recording.level"):
        ProducerConfig.from_user({"bootstrap.servers": "h:1", "metrics.recording.level": "loud"})


def test_record_size_max_is_the_largest_record_of_a_large_batch() -> None:
    """Each batch keeps its largest record's size as records are appended (as Java's ProducerBatch
    does): one outsized record among a thousand small ones is what record-size-max reports."""
    from josef.testing import MockCluster

    with (
        MockCluster(brokers=1, topics={"t": 1}) as cluster,
        Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 1000, "batch.size": 1_000_000}) as p,
    ):
        for i in range(1000):
            p.send("t", b"x" * 5000 if i == 501 else b"v" * 10, b"key", partition=0)
        assert p.flush(10) == 0
        assert p.metric("record-size-max") == 3 + 5000 + RECORD_OVERHEAD
        assert p.metric("record-send-total") == 1000


# -- against a real broker ----------------------------------------------------------------------


def test_totals_latency_and_buffer_after_ten_thousand_records(kafka: Any) -> None:
    topic = _topic(kafka, 3)
    config = {"bootstrap.servers": kafka.bootstrap_servers, "client.id": "metrics-10k", "linger.ms": 5}
    with Producer(config) as producer:
        started = time.monotonic()
        futures = [producer.send(topic, b"v" * 100 + str(i).encode()) for i in range(10_000)]
        assert producer.flush(60) == 0
        wall_ms = (time.monotonic() - started) * 1000
        assert all(f.exception() is None for f in futures)
        m = producer.metric
        assert m("record-send-total") == 10_000
        assert m("record-send-total", topic=topic) == 10_000
        assert m("record-error-total") == 0 and m("record-error-total", topic=topic) == 0
        assert m("record-retry-total") == 0
        assert 0 < m("request-latency-avg") <= m("request-latency-max") < wall_ms
        assert 0 < m("request-latency-p50") <= m("request-latency-p99") * 1.0001
        assert m("buffer-available-bytes") == m("buffer-total-bytes") == 33554432
        assert m("waiting-threads") == 0
        assert m("requests-in-flight") == 0
        assert m("record-send-rate") > 0
        assert 1 <= m("records-per-request-avg") <= 10_000
        assert 100 < m("record-size-max") < 200
        assert m("batch-size-avg") > 0 and m("batch-size-max") <= 16384 + 200
        assert m("compression-rate-avg") == pytest.approx(1.0)
        assert 0 <= m("record-queue-time-avg") <= m("record-queue-time-max") < wall_ms
        assert m("byte-total", topic=topic) > 10_000 * 100
        assert 0 <= m("metadata-age") < 60
        assert m("connection-count") >= 1
        assert m("flush-time-ns-total") > 0
        # Every produce request went to node 1, the only broker.
        assert m("request-latency-avg", node_id="node-1") > 0
        assert m("request-total", node_id="node-1") == m("response-total", node_id="node-1")
        assert m("outgoing-byte-total") >= m("outgoing-byte-total", node_id="node-1") > 10_000 * 100
        assert m("incoming-byte-total", node_id="node-1") > 0
        groups = {metric.group for metric in producer.metrics()}
        assert groups == {PRODUCER, TOPIC, NODE}


def test_compression_rate_is_reported(kafka: Any) -> None:
    topic = _topic(kafka)
    config = {"bootstrap.servers": kafka.bootstrap_servers, "compression.type": "gzip"}
    with Producer(config) as producer:
        for _ in range(2000):
            producer.send(topic, b"compressible " * 20)
        producer.flush()
        assert 0 < producer.metric("compression-rate-avg") < 0.5
        assert 0 < producer.metric("compression-rate", topic=topic) < 0.5


def test_error_totals_count_records_the_broker_refuses(kafka: Any) -> None:
    topic = _topic(kafka, **{"max.message.bytes": "2000"})
    config = {"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 50, "max.request.size": 100_000}
    with Producer(config) as producer:
        ok = [producer.send(topic, b"small") for _ in range(5)]
        assert producer.flush(60) == 0
        big = [producer.send(topic, b"x" * 5000, partition=0) for _ in range(7)]
        # Larger than max.request.size: refused by send() itself, also an error.
        refused = producer.send(topic, b"y" * 200_000)
        producer.flush(60)
        assert all(f.exception() is None for f in ok)
        assert all(isinstance(f.exception(), RecordTooLargeError) for f in [*big, refused])
        assert producer.metric("record-error-total") == 8
        assert producer.metric("record-error-total", topic=topic) == 8
        assert producer.metric("batch-split-total") >= 1  # the 7 went in one batch first
        assert producer.metric("record-error-rate") > 0


def test_buffer_and_retries_while_the_broker_is_paused(kafka_factory: Any) -> None:
    cluster = kafka_factory(1)
    topic = _topic(cluster)
    config = {
        "bootstrap.servers": cluster.bootstrap_servers,
        "batch.size": 16384,
        "buffer.memory": 32768,
        "max.block.ms": 2000,
        "linger.ms": 0,
        "request.timeout.ms": 3000,
        "socket.connection.setup.timeout.ms": 3000,
    }
    producer = Producer(config)
    try:
        producer.send_sync(topic, b"warm-up", partition=0)
        cluster.pause(1)  # SIGSTOP: no answers, so no memory comes back
        outcome: list[BaseException] = []
        sent: list[Any] = []

        def fill() -> None:
            try:
                for _ in range(200):
                    sent.append(producer.send(topic, b"z" * 1000, partition=0))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=fill)
        thread.start()
        deadline = time.monotonic() + 10
        while producer.metric("waiting-threads") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert producer.metric("waiting-threads") == 1
        assert producer.metric("buffer-available-bytes") < 16384
        first = producer.metric("bufferpool-wait-time-ns-total")
        time.sleep(0.3)
        assert producer.metric("bufferpool-wait-time-ns-total") >= first + 0.25e9
        thread.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], BufferExhaustedError)
        assert producer.metric("buffer-exhausted-total") == 1
        assert producer.metric("record-error-total") == 1  # as Java: the refused send() is an error
        assert producer.metric("bufferpool-wait-time-ns-total") >= 1.9e9
        assert producer.metric("bufferpool-wait-ratio") > 0
        assert producer.metric("waiting-threads") == 0
        # The unanswered request times out (request.timeout.ms): its batch is retried.
        deadline = time.monotonic() + 20
        while producer.metric("record-retry-total") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a metric: no event to wait for
        assert producer.metric("record-retry-total") > 0
        assert producer.metric("connection-close-total") >= 1
        cluster.resume(1)
        assert producer.flush(90) == 0
        assert all(f.exception() is None for f in sent)
        assert producer.metric("record-error-total") == 1
        assert producer.metric("record-error-total", topic=topic) == 0
        assert producer.metric("buffer-available-bytes") == 32768
    finally:
        if cluster.is_paused(1):
            cluster.resume(1)
        producer.close(10)


def test_transaction_times(kafka: Any) -> None:
    topic = _topic(kafka)
    config = {"bootstrap.servers": kafka.bootstrap_servers, "transactional.id": f"metrics-{uuid.uuid4().hex[:8]}"}
    with Producer(config) as producer:
        assert producer.metric("txn-init-time-ns-total") == 0
        producer.init_transactions()
        with producer.transaction():
            producer.send(topic, b"committed")
        producer.begin_transaction()
        producer.send(topic, b"aborted")
        producer.abort_transaction()
        for call in ("init", "commit", "abort"):
            assert producer.metric(f"txn-{call}-time-ns-total") > 0, call
        assert producer.metric("txn-begin-time-ns-total") >= 0
        assert producer.metric("txn-send-offsets-time-ns-total") == 0


def test_recording_off(kafka: Any) -> None:
    topic = _topic(kafka)
    config = {"bootstrap.servers": kafka.bootstrap_servers, "metrics.recording.level": "off"}
    with Producer(config) as producer:
        producer.send(topic, b"a").result(30)
        assert producer.metric("record-send-total") == 0
        assert producer.metric("buffer-total-bytes") == 33554432  # gauges still read


# -- scripted retries on the mock cluster -------------------------------------------------------


def test_retry_total_counts_each_retried_record_exactly() -> None:
    from josef._core.protocol import ApiKey
    from josef.testing import MockCluster

    with MockCluster(brokers=1, topics={"orders": 1}) as cluster:
        cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER", "NOT_LEADER_OR_FOLLOWER")
        config = {"bootstrap.servers": cluster.bootstrap_servers, "retry.backoff.ms": 10}
        with Producer(config) as producer:
            producer.send_sync("orders", b"hello", partition=0)
            assert producer.metric("record-retry-total") == 2
            assert producer.metric("record-retry-total", topic="orders") == 2
            assert producer.metric("record-send-total") == 3  # as Java: each attempt counts
            assert producer.metric("record-error-total") == 0


def test_retries_then_errors_when_replicas_are_missing() -> None:
    from josef._core.protocol import ApiKey
    from josef.testing import MockCluster

    with MockCluster(brokers=1, topics={"orders": 1}) as cluster:
        cluster.inject(ApiKey.PRODUCE, error="NOT_ENOUGH_REPLICAS", times=None)
        config = {
            "bootstrap.servers": cluster.bootstrap_servers,
            "linger.ms": 0,
            "request.timeout.ms": 1000,
            "delivery.timeout.ms": 1500,
            "retry.backoff.ms": 50,
            "retry.backoff.max.ms": 100,
        }
        with Producer(config) as producer:
            futures = [producer.send("orders", b"r", partition=0) for _ in range(10)]
            producer.flush(30)
            assert all(f.exception() is not None for f in futures)
            assert producer.metric("record-retry-total") > 0
            assert producer.metric("record-retry-total", topic="orders") == producer.metric("record-retry-total")
            assert producer.metric("record-error-total") == 10
            assert producer.metric("record-error-total", topic="orders") == 10


def test_throttle_time_from_produce_responses() -> None:
    from josef._core.protocol import ApiKey
    from josef.testing import MockCluster

    with MockCluster(brokers=1, topics={"orders": 1}) as cluster:
        cluster.inject(ApiKey.PRODUCE, throttle_ms=250, times=1)
        with Producer({"bootstrap.servers": cluster.bootstrap_servers}) as producer:
            producer.send_sync("orders", b"a", partition=0)
            producer.send_sync("orders", b"b", partition=0)
            assert producer.metric("produce-throttle-time-max") == 250
            assert producer.metric("produce-throttle-time-avg") == 125


# -- Prometheus ---------------------------------------------------------------------------------


def test_prometheus_endpoint_parses_with_the_expected_series(kafka: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from josef.prometheus import serve

    topic = _topic(kafka, 2)
    config = {"bootstrap.servers": kafka.bootstrap_servers, "client.id": "prom-test"}
    with Producer(config) as producer:
        for i in range(500):
            producer.send(topic, b"p%d" % i)
        producer.flush()
        server = serve(producer, port=0, addr="127.0.0.1")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
                text = response.read().decode()
        finally:
            server.shutdown()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"client_id": "prom-test", **labels}.items())))]

    assert value("josef_producer_record_send_total") == 500
    assert value("josef_producer_topic_record_send_total", topic=topic) == 500
    assert value("josef_producer_record_error_total") == 0
    assert value("josef_producer_buffer_available_bytes") == value("josef_producer_buffer_total_bytes")
    assert 0 < value("josef_producer_request_latency_avg_seconds") < 10
    assert value("josef_producer_node_request_total", node_id="node-1") > 0
    assert families["josef_producer_record_send"].type == "counter"
    assert families["josef_producer_buffer_available_bytes"].type == "gauge"
    assert "record-send-total" in families["josef_producer_record_send"].documentation
    exported = {spec.prometheus for spec in SPECS}
    for name, _ in samples:
        assert name in exported, name


def test_collector_in_a_users_registry_and_two_producers() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from josef.prometheus import JosefCollector

    a = Producer({"bootstrap.servers": "127.0.0.1:1", "client.id": "a", "reconnect.backoff.ms": 1000})
    b = Producer({"bootstrap.servers": "127.0.0.1:1", "client.id": "b", "reconnect.backoff.ms": 1000})
    try:
        registry = CollectorRegistry()
        registry.register(JosefCollector(a, b))
        text = generate_latest(registry).decode()
        assert 'josef_producer_buffer_total_bytes{client_id="a"} 3.3554432e+07' in text
        assert 'josef_producer_buffer_total_bytes{client_id="b"} 3.3554432e+07' in text
        with pytest.raises(ValueError):
            registry.register(JosefCollector(a))  # the same names twice
    finally:
        a.close(0)
        b.close(0)


# -- Grafana dashboard and docs -----------------------------------------------------------------

_DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "panels", "schemaVersion", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": {"type": "object", "required": ["name", "type"]}}},
        },
        "panels": {
            "type": "array",
            "minItems": 10,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["row", "timeseries", "stat", "gauge", "bargauge", "table"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {k: {"type": "integer", "minimum": 0} for k in ("x", "y", "w", "h")},
                    },
                    "datasource": {
                        "type": "object",
                        "required": ["type", "uid"],
                        "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
                    },
                    "targets": {
                        "type": "array",
                        "items": {"type": "object", "required": ["expr", "refId"]},
                    },
                },
            },
        },
    },
}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "dashboards" / "grafana-producer.json").read_text())
    return data


def test_dashboard_is_valid_grafana_json() -> None:
    import jsonschema  # a test dependency: the dashboard must validate, not be skipped
    dashboard = _dashboard()
    jsonschema.validate(dashboard, _DASHBOARD_SCHEMA)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_every_dashboard_query_names_an_exported_metric() -> None:
    exported = {spec.prometheus for spec in SPECS}
    seen: set[str] = set()
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            names = set(re.findall(r"\bjosef_[a-z0-9_]+", target["expr"]))
            assert names, target["expr"]
            assert names <= exported, (panel["title"], names - exported)
            seen |= names
    for must in ("josef_producer_topic_record_send_total", "josef_producer_node_request_latency_avg_seconds",
                 "josef_producer_buffer_available_bytes", "josef_producer_requests_in_flight",
                 "josef_producer_compression_rate_avg", "josef_producer_record_retry_total"):
        assert must in seen
    titles = " ".join(p["title"].lower() for p in _dashboard()["panels"])
    for topic in ("throughput", "error", "retr", "buffer", "latency", "batch size", "compression",
                  "in flight", "topic", "broker"):
        assert topic in titles, topic


def test_docs_list_every_metric() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    for spec in SPECS:
        assert f"`{spec.name}`" in text, spec.name
        assert f"`{spec.prometheus}`" in text, spec.prometheus
