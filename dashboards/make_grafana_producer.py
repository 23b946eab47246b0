"""Writes ``grafana-producer.json``, the Grafana dashboard over josef's Prometheus series.

    python dashboards/make_grafana_producer.py

Edit the panels here rather than the JSON; ``tests/test_metrics.py`` checks that the JSON is a
valid dashboard and that every query names a series josef exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
C = 'client_id=~"$client_id"'
T = f'{C},topic=~"$topic"'
N = f'{C},node_id=~"$node_id"'
R = "[$__rate_interval]"

# (title, kind, unit, [(expr, legend)], width); a str entry starts a row.
LAYOUT: list[Any] = [
    "Overview",
    ("Throughput (records/s)", "stat", "short", [(f"sum(rate(josef_producer_record_send_total{{{C}}}{R}))", "")], 4),
    ("Errors (records/s)", "stat", "short", [(f"sum(rate(josef_producer_record_error_total{{{C}}}{R}))", "")], 4),
    ("Retries (records/s)", "stat", "short", [(f"sum(rate(josef_producer_record_retry_total{{{C}}}{R}))", "")], 4),
    ("Buffer used", "gauge", "percentunit", [(
        f"1 - sum(josef_producer_buffer_available_bytes{{{C}}}) / sum(josef_producer_buffer_total_bytes{{{C}}})",
        "")], 4),
    ("Request latency (avg)", "stat", "s", [(f"max(josef_producer_request_latency_avg_seconds{{{C}}})", "")], 4),
    ("Requests in flight", "stat", "short", [(f"sum(josef_producer_requests_in_flight{{{C}}})", "")], 4),
    "Throughput",
    ("Records sent/s", "timeseries", "short",
     [(f"sum by (client_id) (rate(josef_producer_record_send_total{{{C}}}{R}))", "{{client_id}}")], 8),
    ("Bytes out/in per second", "timeseries", "Bps", [
        (f"sum by (client_id) (rate(josef_producer_outgoing_bytes_total{{{C}}}{R}))", "out {{client_id}}"),
        (f"sum by (client_id) (rate(josef_producer_incoming_bytes_total{{{C}}}{R}))", "in {{client_id}}"),
    ], 8),
    ("Requests/s", "timeseries", "reqps", [
        (f"sum by (client_id) (rate(josef_producer_request_total{{{C}}}{R}))", "requests {{client_id}}"),
        (f"sum by (client_id) (rate(josef_producer_response_total{{{C}}}{R}))", "responses {{client_id}}"),
    ], 8),
    "Errors and retries",
    ("Record errors/s", "timeseries", "short",
     [(f"sum by (client_id) (rate(josef_producer_record_error_total{{{C}}}{R}))", "{{client_id}}")], 6),
    ("Record retries/s", "timeseries", "short",
     [(f"sum by (client_id) (rate(josef_producer_record_retry_total{{{C}}}{R}))", "{{client_id}}")], 6),
    ("Batch splits/s (MESSAGE_TOO_LARGE)", "timeseries", "short",
     [(f"sum by (client_id) (rate(josef_producer_batch_split_total{{{C}}}{R}))", "{{client_id}}")], 6),
    ("Buffer exhausted (send() failed)/s", "timeseries", "short",
     [(f"sum by (client_id) (rate(josef_producer_buffer_exhausted_total{{{C}}}{R}))", "{{client_id}}")], 6),
    "Buffer memory",
    ("Buffer bytes", "timeseries", "bytes", [
        (f"josef_producer_buffer_total_bytes{{{C}}}", "total {{client_id}}"),
        (f"josef_producer_buffer_available_bytes{{{C}}}", "available {{client_id}}"),
    ], 8),
    ("Time send() waits for memory (ratio)", "timeseries", "percentunit",
     [(f"sum by (client_id) (rate(josef_producer_bufferpool_wait_time_seconds_total{{{C}}}{R}))",
       "{{client_id}}")], 8),
    ("Threads waiting for buffer memory", "timeseries", "short",
     [(f"josef_producer_waiting_threads{{{C}}}", "{{client_id}}")], 8),
    "Latency",
    ("Produce request latency", "timeseries", "s", [
        (f"josef_producer_request_latency_avg_seconds{{{C}}}", "avg {{client_id}}"),
        (f"josef_producer_request_latency_p99_seconds{{{C}}}", "p99 {{client_id}}"),
        (f"josef_producer_request_latency_max_seconds{{{C}}}", "max {{client_id}}"),
    ], 8),
    ("Record queue time (accumulator)", "timeseries", "s", [
        (f"josef_producer_record_queue_time_avg_seconds{{{C}}}", "avg {{client_id}}"),
        (f"josef_producer_record_queue_time_max_seconds{{{C}}}", "max {{client_id}}"),
    ], 8),
    ("Broker throttle time", "timeseries", "s", [
        (f"josef_producer_produce_throttle_time_avg_seconds{{{C}}}", "avg {{client_id}}"),
        (f"josef_producer_produce_throttle_time_max_seconds{{{C}}}", "max {{client_id}}"),
    ], 8),
    "Batches and compression",
    ("Batch size", "timeseries", "bytes", [
        (f"josef_producer_batch_size_avg_bytes{{{C}}}", "avg {{client_id}}"),
        (f"josef_producer_batch_size_max_bytes{{{C}}}", "max {{client_id}}"),
    ], 6),
    ("Records per request", "timeseries", "short",
     [(f"josef_producer_records_per_request_avg{{{C}}}", "{{client_id}}")], 6),
    ("Record size", "timeseries", "bytes", [
        (f"josef_producer_record_size_avg_bytes{{{C}}}", "avg {{client_id}}"),
        (f"josef_producer_record_size_max_bytes{{{C}}}", "max {{client_id}}"),
    ], 6),
    ("Compression ratio (compressed / raw)", "timeseries", "percentunit",
     [(f"josef_producer_compression_rate_avg{{{C}}}", "{{client_id}}")], 6),
    "In flight and connections",
    ("Requests in flight", "timeseries", "short",
     [(f"josef_producer_requests_in_flight{{{C}}}", "{{client_id}}")], 8),
    ("Connections", "timeseries", "short", [
        (f"josef_producer_connection_count{{{C}}}", "open {{client_id}}"),
        (f"sum by (client_id) (rate(josef_producer_connection_creation_total{{{C}}}{R}))", "opened/s {{client_id}}"),
        (f"sum by (client_id) (rate(josef_producer_connection_close_total{{{C}}}{R}))", "closed/s {{client_id}}"),
    ], 8),
    ("Metadata age", "timeseries", "s", [(f"josef_producer_metadata_age_seconds{{{C}}}", "{{client_id}}")], 8),
    "Blocking calls and transactions",
    ("Time blocked in flush() and metadata waits (s/s)", "timeseries", "percentunit", [
        (f"sum by (client_id) (rate(josef_producer_flush_time_seconds_total{{{C}}}{R}))", "flush {{client_id}}"),
        (f"sum by (client_id) (rate(josef_producer_metadata_wait_time_seconds_total{{{C}}}{R}))",
         "metadata {{client_id}}"),
    ], 12),
    ("Time in transaction calls (s/s)", "timeseries", "percentunit", [
        (f"sum by (client_id) (rate(josef_producer_txn_{call}_time_seconds_total{{{C}}}{R}))",
         f"{call} {{{{client_id}}}}")
        for call in ("init", "begin", "send_offsets", "commit", "abort")
    ], 12),
    "Per topic",
    ("Records sent/s by topic", "timeseries", "short",
     [(f"sum by (topic) (rate(josef_producer_topic_record_send_total{{{T}}}{R}))", "{{topic}}")], 6),
    ("Bytes sent/s by topic", "timeseries", "Bps",
     [(f"sum by (topic) (rate(josef_producer_topic_bytes_total{{{T}}}{R}))", "{{topic}}")], 6),
    ("Errors and retries/s by topic", "timeseries", "short", [
        (f"sum by (topic) (rate(josef_producer_topic_record_error_total{{{T}}}{R}))", "errors {{topic}}"),
        (f"sum by (topic) (rate(josef_producer_topic_record_retry_total{{{T}}}{R}))", "retries {{topic}}"),
    ], 6),
    ("Compression ratio by topic", "timeseries", "percentunit",
     [(f"avg by (topic) (josef_producer_topic_compression_rate{{{T}}})", "{{topic}}")], 6),
    "Per broker",
    ("Requests/s by broker", "timeseries", "reqps",
     [(f"sum by (node_id) (rate(josef_producer_node_request_total{{{N}}}{R}))", "{{node_id}}")], 8),
    ("Produce latency by broker", "timeseries", "s", [
        (f"max by (node_id) (josef_producer_node_request_latency_avg_seconds{{{N}}})", "avg {{node_id}}"),
        (f"max by (node_id) (josef_producer_node_request_latency_max_seconds{{{N}}})", "max {{node_id}}"),
    ], 8),
    ("Bytes out/in per second by broker", "timeseries", "Bps", [
        (f"sum by (node_id) (rate(josef_producer_node_outgoing_bytes_total{{{N}}}{R}))", "out {{node_id}}"),
        (f"sum by (node_id) (rate(josef_producer_node_incoming_bytes_total{{{N}}}{R}))", "in {{node_id}}"),
    ], 8),
]


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    x = y = row_height = 0
    for entry in LAYOUT:
        if isinstance(entry, str):
            y += row_height
            x, row_height = 0, 0
            panels.append({"id": len(panels) + 1, "type": "row", "title": entry, "collapsed": False,
                           "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
            y += 1
            continue
        title, kind, unit, queries, width = entry
        height = 4 if kind in ("stat", "gauge") else 8
        if x + width > 24:
            x, y = 0, y + row_height
        panel: dict[str, Any] = {
            "id": len(panels) + 1,
            "type": kind,
            "title": title,
            "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else {},
            "targets": [
                {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": chr(65 + i)}
                for i, (expr, legend) in enumerate(queries)
            ],
        }
        panels.append(panel)
        x += width
        row_height = max(row_height, height)
    return {
        "title": "josef producer",
        "uid": "josef-producer",
        "description": "josef (Python Kafka producer) metrics: the Java producer's metrics, exported by "
        "josef.prometheus. See docs/metrics.md.",
        "tags": ["kafka", "josef", "producer"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": ""},
            _variable("client_id", "Client", "label_values(josef_producer_buffer_total_bytes, client_id)"),
            _variable("topic", "Topic",
                      'label_values(josef_producer_topic_record_send_total{client_id=~"$client_id"}, topic)'),
            _variable("node_id", "Broker",
                      'label_values(josef_producer_node_request_total{client_id=~"$client_id"}, node_id)'),
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("grafana-producer.json")
    out.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {out}")
