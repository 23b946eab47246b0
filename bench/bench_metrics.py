"""What josef's metrics cost: the same workload with metrics.recording.level=info and =off.

Runs alternate (off, info, off, info, ...) in fresh processes, each to its own fresh topic, so
both settings see the same broker state; printed per setting: best and median records/s, CPU
seconds per million records, and the overhead of recording (best vs best, median vs median).

    python bench/bench_metrics.py                      # starts a 1-node Kafka itself
    python bench/bench_metrics.py --bootstrap 127.0.0.1:9092 --records 500000 --repeat 7
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_producers import ROOT, _cpu, _create_topic, _payload  # noqa: E402

LEVELS = ("off", "info")


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    value = _payload(args.size)
    config = {
        "bootstrap.servers": args.bootstrap,
        "acks": args.acks,
        "compression.type": args.compression,
        "metrics.recording.level": args.level,
    }
    if args.linger_ms is not None:
        config["linger.ms"] = args.linger_ms
    cpu0, t0 = _cpu(), time.perf_counter()
    with Producer(config) as producer:
        send = producer.send
        topic = args.topic
        futures = [send(topic, value) for _ in range(args.records)]
        producer.flush()
        elapsed = time.perf_counter() - t0
        failed = sum(1 for f in futures if f.exception() is not None)
        sent = producer.metric("record-send-total")
    print(json.dumps({"level": args.level, "elapsed": elapsed, "cpu": _cpu() - cpu0, "failed": failed,
                      "record_send_total": sent}))


def parent(args: argparse.Namespace) -> None:
    cluster = None
    if not args.bootstrap:
        sys.path.insert(0, str(ROOT))
        from tests.harness.kafka import KafkaCluster

        cluster = KafkaCluster(nodes=1)
        cluster.start()
        args.bootstrap = cluster.bootstrap_servers
    rows: list[dict[str, float | str]] = []
    try:
        for _ in range(args.repeat):
            for level in LEVELS:
                topic = _create_topic(args.bootstrap, args.partitions)
                cmd = [sys.executable, __file__, "--child", "--level", level, "--bootstrap", args.bootstrap,
                       "--topic", topic, "--records", str(args.records), "--size", str(args.size),
                       "--acks", args.acks, "--compression", args.compression]
                if args.linger_ms is not None:
                    cmd += ["--linger-ms", str(args.linger_ms)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=os.environ.copy())
                if out.returncode != 0:
                    sys.exit(f"{level} run failed:\n{out.stderr[-3000:]}")
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if cluster is not None:
            cluster.stop()
    _report(args, rows)


def _report(args: argparse.Namespace, rows: list[dict[str, float | str]]) -> None:
    rates = {level: [args.records / float(r["elapsed"]) for r in rows if r["level"] == level] for level in LEVELS}
    cpus = {level: [float(r["cpu"]) / args.records * 1e6 for r in rows if r["level"] == level] for level in LEVELS}
    print(f"\n{args.records} records of {args.size} B, acks={args.acks}, compression={args.compression}, "
          f"{args.partitions} partitions, {args.repeat} runs per setting (alternating)")
    print(f"{'metrics':<10}{'best rec/s':>14}{'median rec/s':>15}{'CPU s/M rec (min/median)':>27}  all runs")
    for level in LEVELS:
        print(f"{level:<10}{max(rates[level]):>14,.0f}{statistics.median(rates[level]):>15,.0f}"
              f"{min(cpus[level]):>19.2f} / {statistics.median(cpus[level]):.2f}"
              f"  {', '.join(f'{r:,.0f}' for r in rates[level])}")
    best = 1 - max(rates["info"]) / max(rates["off"])
    median = 1 - statistics.median(rates["info"]) / statistics.median(rates["off"])
    cpu = statistics.median(cpus["info"]) / statistics.median(cpus["off"]) - 1
    cpu_min = min(cpus["info"]) / min(cpus["off"]) - 1
    print(f"overhead of recording: {best * 100:+.1f}% records/s (best vs best), {median * 100:+.1f}% records/s "
          f"(median vs median), {cpu_min * 100:+.1f}% / {cpu * 100:+.1f}% CPU per record (min vs min / median "
          "vs median); on a busy machine trust the best and min figures")
    if args.json:
        print(json.dumps({"args": vars(args), "runs": rows, "overhead_best": best, "overhead_median": median,
                          "cpu_overhead_median": cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka")
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--linger-ms", type=int)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--level", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
