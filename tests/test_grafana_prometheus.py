"""The Grafana dashboard against a real Prometheus server scraping a josef producer under load.

Starts Debian's ``prometheus`` binary (``.ci/run`` installs it when missing) with a 1 s scrape of
``josef.prometheus.serve()``, then evaluates every PromQL expression of
``dashboards/grafana-producer.json`` (panel targets and template-variable queries) through the HTTP
API: each must return data, and the throughput panel must agree with the producer's own
``record-send-rate`` within 10%.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josef import Producer
from josef.prometheus import serve
from tests.harness.kafka import free_ports

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "grafana-producer.json"
RATE_INTERVAL = "10s"
SEND_RATE = 1000  # records/s, throttled so both rates measure the same steady load


def _prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("the prometheus server is not installed (.ci/run installs Debian's package)")
    return found


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read()) if "/api/" in url else response.read()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, scrape-targets file) of a Prometheus server of this test's own."""
    (port,) = free_ports(1)
    targets = tmp_path / "targets.json"
    targets.write_text("[]")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: josef\n    file_sd_configs:\n"
        f"      - files: ['{targets}']\n        refresh_interval: 1s\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            _prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/-/ready")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "prometheus did not start: " + (tmp_path / "prometheus.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.2)
        yield base, targets
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and template-variable query of the dashboard."""
    doc = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((f"panel {panel.get('title')!r}", target["expr"]))
            walk(panel.get("panels", []))

    walk(doc["panels"])
    for variable in doc.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else None
        if text:
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text)
            assert match, f"variable {variable['name']}: unexpected query {text}"
            out.append((f"variable {variable['name']!r}", match.group(1)))  # the series it reads labels from
    return out


def _promql(expr: str, client_id: str) -> str:
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$client_id", client_id)  # letters, digits and dashes: literal in a regex
        .replace("$topic", ".*")
        .replace("$node_id", ".*")
    )


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    body = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_every_dashboard_query_returns_data_and_send_rate_agrees(kafka: Any, prometheus: tuple[str, Path]) -> None:
    base, targets = prometheus
    topic = f"grafana-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 3)
    client_id = f"dash-{topic}"
    producer = Producer(
        bootstrap_servers=kafka.bootstrap_servers, client_id=client_id, compression_type="lz4",
        metrics_sample_window_ms=5000, transactional_id=f"tx-{topic}",
    )
    server = serve(producer, port=0, addr="127.0.0.1")
    targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{server.server_port}"]}]))
    stop = threading.Event()

    def load() -> None:  # steady, throttled load in transactions, so every series has data
        producer.init_transactions()
        start, sent = time.monotonic(), 0
        while not stop.is_set():
            with producer.transaction():
                for _ in range(100):
                    producer.send(topic, b"x" * 100, key=str(sent % 17).encode())
                    sent += 1
            delay = start + sent / SEND_RATE - time.monotonic()
            if delay > 0:
                stop.wait(delay)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        expressions = _expressions()
        assert len(expressions) > 40
        missing: list[str] = []
        deadline = time.monotonic() + 90
        # Wait until the scrapes cover a full rate interval of steady load, then every query must have data.
        while True:
            missing = [f"{where}: {expr}" for where, expr in expressions if not _query(base, _promql(expr, client_id))]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not missing, "queries without data:\n" + "\n".join(missing)

        time.sleep(12)  # a whole rate interval and sample window of steady load
        (throughput_expr,) = [e for w, e in expressions if w == "panel 'Throughput (records/s)'"]
        (sample,) = _query(base, _promql(throughput_expr, client_id))
        from_prometheus = float(sample["value"][1])
        from_producer = producer.metric("record-send-rate")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(60)
        server.shutdown()
        producer.close(30)
    assert from_producer > SEND_RATE * 0.5, from_producer  # the load really ran
    assert abs(from_prometheus - from_producer) <= 0.10 * from_producer, (from_prometheus, from_producer)
