"""What interceptors and OpenTelemetry tracing cost: the same workload with no interceptor (tracing
off), a no-op interceptor, and josef.otel.TracingInterceptor per record and per batch (an SDK tracer
provider whose spans go to a batch processor with an exporter that drops them).

Runs alternate between the settings in fresh processes, each to its own fresh topic; printed per
setting: best and median records/s and CPU seconds per million records, and each setting's cost
against "off".

    python bench/bench_tracing.py                      # starts a 1-node Kafka itself
    python bench/bench_tracing.py --bootstrap 127.0.0.1:9092 --records 200000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_producers import ROOT, _cpu, _create_topic, _payload  # noqa: E402

SETTINGS = ("off", "noop", "tracing", "tracing-batch")


class NoopInterceptor:
    def on_send(self, record: Any) -> Any:
        return record

    def on_acknowledgement(self, metadata: Any, exception: Any) -> None:
        pass


def _interceptors(setting: str) -> list[Any]:
    if setting == "noop":
        return [NoopInterceptor()]
    if setting.startswith("tracing"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        from josef.otel import TracingInterceptor

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 20))
        return [TracingInterceptor(provider, span_per="batch" if setting == "tracing-batch" else "record")]
    return []


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    value = _payload(args.size)
    config: dict[str, Any] = {"bootstrap.servers": args.bootstrap, "acks": args.acks}
    interceptors = _interceptors(args.setting)
    if interceptors:
        config["interceptor.classes"] = interceptors
    cpu0, t0 = _cpu(), time.perf_counter()
    with Producer(config) as producer:
        send = producer.send
        topic = args.topic
        futures = [send(topic, value) for _ in range(args.records)]
        producer.flush()
        elapsed = time.perf_counter() - t0
        failed = sum(1 for f in futures if f.exception() is not None)
    print(json.dumps({"setting": args.setting, "elapsed": elapsed, "cpu": _cpu() - cpu0, "failed": failed}))


def parent(args: argparse.Namespace) -> None:
    cluster = None
    if not args.bootstrap:
        sys.path.insert(0, str(ROOT))
        from tests.harness.kafka import KafkaCluster

        cluster = KafkaCluster(nodes=1)
        cluster.start()
        args.bootstrap = cluster.bootstrap_servers
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeat):
            for setting in SETTINGS:
                topic = _create_topic(args.bootstrap, args.partitions)
                cmd = [sys.executable, __file__, "--child", "--setting", setting, "--bootstrap", args.bootstrap,
                       "--topic", topic, "--records", str(args.records), "--size", str(args.size), "--acks", args.acks]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=os.environ.copy())
                if out.returncode != 0:
                    sys.exit(f"{setting} run failed:\n{out.stderr[-3000:]}")
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if cluster is not None:
            cluster.stop()
    rates = {s: [args.records / float(r["elapsed"]) for r in rows if r["setting"] == s] for s in SETTINGS}
    cpus = {s: [float(r["cpu"]) / args.records * 1e6 for r in rows if r["setting"] == s] for s in SETTINGS}
    print(f"\n{args.records} records of {args.size} B, acks={args.acks}, {args.partitions} partitions, "
          f"{args.repeat} runs per setting (alternating)")
    print(f"{'setting':<10}{'best rec/s':>14}{'median rec/s':>15}{'CPU s/M rec (min)':>20}{'cost vs off (CPU)':>20}")
    for s in SETTINGS:
        cost = min(cpus[s]) / min(cpus["off"]) - 1
        print(f"{s:<10}{max(rates[s]):>14,.0f}{statistics.median(rates[s]):>15,.0f}{min(cpus[s]):>20.2f}"
              f"{cost * 100:>19.1f}%")
    if args.json:
        print(json.dumps({"args": vars(args), "runs": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
