"""Prometheus export of josef's producer metrics (needs ``pip install josef[prometheus]``).

Register a collector in your own registry::

    from prometheus_client import REGISTRY
    from josef.prometheus import JosefCollector

    REGISTRY.register(JosefCollector(producer))        # several producers: JosefCollector(p1, p2)

or serve one over HTTP in one line (a daemon thread; ``/metrics`` on ``port``)::

    server = josef.prometheus.serve(producer, port=9464)

Names follow Prometheus conventions: ``josef_producer_`` + the Java name with underscores for
``producer-metrics`` (``josef_producer_record_send_total{client_id="..."}``),
``josef_producer_topic_`` for ``producer-topic-metrics``
(``josef_producer_topic_record_send_total{client_id="...",topic="orders"}``) and
``josef_producer_node_`` for ``producer-node-metrics`` (label ``node_id="node-1"``); the groups
stay apart so that ``sum()`` never counts a record twice. Times are converted to seconds and the
unit is in the name (``josef_producer_request_latency_avg_seconds``); sizes end in ``_bytes``;
cumulative metrics are counters (``_total``), everything else gauges. Each HELP text names the
Java metric. ``docs/metrics.md`` lists every series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from josef._core.metrics import COUNTER, NODE, PRODUCER, SPECS, TOPIC, MetricSpec
from josef._core.metrics import Metric as JosefMetric

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer


class Producer(Protocol):
    """Anything with josef's ``metrics()``: a :class:`josef.Producer` or :class:`josef.AsyncProducer`."""

    def metrics(self) -> list[JosefMetric]: ...

_LABELS = {PRODUCER: ["client_id"], TOPIC: ["client_id", "topic"], NODE: ["client_id", "node_id"]}
_SPECS = {(spec.group, spec.name): spec for spec in SPECS}


def _help(spec: MetricSpec) -> str:
    return f"{spec.description} (Java: {spec.group} {spec.name}, {spec.unit})"


def _family(spec: MetricSpec, labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    if spec.kind == COUNTER:
        return CounterMetricFamily(spec.prometheus, _help(spec), labels=labels)
    return GaugeMetricFamily(spec.prometheus, _help(spec), labels=labels)


class JosefCollector(Collector):
    """A ``prometheus_client`` collector over one or more producers' :meth:`~josef.Producer.metrics`."""

    def __init__(self, *producers: Producer) -> None:
        if not producers:
            raise ValueError("JosefCollector needs at least one producer")
        self.producers = list(producers)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for producer in self.producers:
            for metric in producer.metrics():
                spec = _SPECS.get((metric.group, metric.name))
                if spec is None:
                    continue  # an extension gauge without a Prometheus name
                labels = _LABELS[spec.group]
                family = families.get(spec.prometheus)
                if family is None:
                    family = families[spec.prometheus] = _family(spec, labels)
                value = metric.value * spec.scale if not math.isnan(metric.value) else math.nan
                family.add_metric([metric.tags.get(label.replace("_", "-"), "") for label in labels], value)
        yield from families.values()

    def describe(self) -> Iterable[Metric]:
        """The producer-level families (per-topic and per-broker ones come and go), so that a
        registry refuses a second collector exporting the same names."""
        return [_family(spec, _LABELS[spec.group]) for spec in SPECS if spec.group == PRODUCER]


def serve(
    *producers: Producer,
    port: int,
    addr: str = "0.0.0.0",
    registry: CollectorRegistry | None = None,
) -> WSGIServer:
    """Serve the producers' metrics at ``http://addr:port/metrics`` from a daemon thread.

    Uses a registry of its own (not the process-wide default) unless ``registry`` is given.
    ``port=0`` picks a free port: read it from ``server.server_port``. Stop with
    ``server.shutdown()``.
    """
    from prometheus_client import start_http_server

    registry = registry if registry is not None else CollectorRegistry()
    registry.register(JosefCollector(*producers))
    server, _thread = start_http_server(port, addr, registry=registry)
    return server


def prometheus_names() -> list[str]:
    """Every Prometheus sample name josef exports (counters with their ``_total``)."""
    return [spec.prometheus for spec in SPECS]


__all__ = ["JosefCollector", "prometheus_names", "serve"]
