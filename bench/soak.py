"""Soak: josef at full speed for ten minutes, its resident memory sampled every second.

The producer must hold no more than ``buffer.memory`` plus a bounded overhead, and nothing may
grow once it runs steadily: the report compares RSS at minute 2 (after warm-up: allocator
arenas, interned buffers) with the end, and the peak with ``buffer.memory`` + 64 MiB.

    python bench/soak.py                                   # starts a 1-node Kafka itself, 10 minutes
    python bench/soak.py --bootstrap 127.0.0.1:9092 --api send_many --compression lz4
    python bench/soak.py --minutes 1 --from-minute 0.25    # a short look
    python bench/soak.py --keys 1000 --partitions 120      # keyed records over many partitions

Writes soak.json (every sample) and, with matplotlib, soak.png into ``--out``; exits 1 when the
peak is over the limit or RSS grew by more than ``--max-growth-mib`` after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size now (not the peak): /proc/self/statm's second field, in pages."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE


class Sampler:
    """Every second: (seconds since start, RSS bytes, records sent so far)."""

    def __init__(self, sent: list[int]) -> None:
        self.sent = sent
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        self.start = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_at = self.start
        while not self.stop.is_set():
            now = time.monotonic()
            self.samples.append((now - self.start, rss_bytes(), self.sent[0]))
            minute = int((now - self.start) // 60)
            if len(self.samples) > 1 and int((self.samples[-2][0]) // 60) < minute:
                rate = (self.samples[-1][2] - self.samples[-61][2]) / 60 if len(self.samples) > 61 else 0.0
                print(f"minute {minute}: RSS {self.samples[-1][1] / MIB:.1f} MiB, {rate:,.0f} records/s", flush=True)
            next_at += 1.0
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def produce(args: argparse.Namespace, bootstrap: str, topic: str, deadline: float, sent: list[int]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import AsyncProducer, Producer

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "acks": args.acks,
                              "enable.idempotence": args.acks == "all", "compression.type": args.compression}
    for item in args.config:
        key, _, value = item.partition("=")
        config[key] = value
    letters = bytes(65 + i % 26 for i in range(256))
    # One pass sends every key once (values cycled): --keys 10000 means 10,000 distinct keys.
    count = max(1000, args.keys)
    unique = [os.urandom(args.size).translate(letters) for _ in range(1000)]
    pool = [unique[i % 1000] for i in range(count)]
    keys: list[bytes | None] = [b"%d" % i for i in range(count)] if args.keys else [None] * count
    chunk = 1000
    mono = time.monotonic
    if args.api == "async":
        async def main() -> dict[str, Any]:
            producer = AsyncProducer(config)
            await producer.partitions_for(topic)
            send = producer.send
            while mono() < deadline:
                for value, key in zip(pool, keys, strict=True):
                    await send(topic, value, key)
                sent[0] += len(pool)
            await producer.flush()
            errors = producer.metric("record-error-total")
            memory = int(producer.producer.config["buffer.memory"])
            await producer.close()
            return {"errors": errors, "buffer_memory": memory}

        return asyncio.run(main())
    producer = Producer(config)
    producer.partitions_for(topic)
    send, send_many = producer.send, producer.send_many
    while mono() < deadline:
        if args.api == "send_many":
            for start in range(0, count, chunk):
                send_many(topic, pool[start : start + chunk], keys[start : start + chunk] if args.keys else None)
        else:
            for value, key in zip(pool, keys, strict=True):
                send(topic, value, key)
        sent[0] += len(pool)
    producer.flush()
    result = {"errors": producer.metric("record-error-total"), "buffer_memory": int(producer.config["buffer.memory"])}
    producer.close()
    return result


def report(args: argparse.Namespace, samples: list[tuple[float, int, int]], outcome: dict[str, Any]) -> bool:
    def rss_around(second: float) -> float:
        window = [rss for t, rss, _ in samples if abs(t - second) <= 10] or [samples[-1][1]]
        return statistics.median(window) / MIB

    start, end = args.from_minute * 60, samples[-1][0]
    at_start, at_end = rss_around(start), rss_around(end - 10 if end > 20 else end)
    peak = max(rss for _, rss, _ in samples) / MIB
    limit = outcome["buffer_memory"] / MIB + 64
    growth = at_end - at_start
    total = samples[-1][2]
    ok = peak < limit and growth <= args.max_growth_mib and outcome["errors"] == 0
    summary = {
        "api": args.api, "minutes": args.minutes, "records": total, "records_per_sec": total / end if end else 0.0,
        "record_errors": outcome["errors"], "rss_mib_at_from_minute": round(at_start, 1),
        "rss_mib_at_end": round(at_end, 1), "growth_mib": round(growth, 1), "peak_rss_mib": round(peak, 1),
        "limit_mib": round(limit, 1), "ok": ok,
    }
    print(f"\n{total:,} records in {end:.0f} s ({summary['records_per_sec']:,.0f} records/s), "
          f"{int(outcome['errors'])} record errors")
    print(f"RSS at minute {args.from_minute:g}: {at_start:.1f} MiB; at the end: {at_end:.1f} MiB; "
          f"growth {growth:+.1f} MiB (allowed {args.max_growth_mib:g})")
    print(f"peak RSS {peak:.1f} MiB; limit buffer.memory + 64 MiB = {limit:.1f} MiB: {'OK' if ok else 'FAILED'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    _chart(samples, summary, out / "soak.png")
    return ok


def _chart(samples: list[tuple[float, int, int]], summary: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: matplotlib is not installed (pip install 'josef[bench]')", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.plot([t / 60 for t, _, _ in samples], [rss / MIB for _, rss, _ in samples], color="#3465a4", label="RSS")
    ax.axhline(summary["limit_mib"], color="#cc0000", linestyle=":", label="buffer.memory + 64 MiB")
    ax.set_xlabel("minutes")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"josef soak ({summary['api']}): {summary['records']:,} records, growth "
                 f"{summary['growth_mib']:+.1f} MiB after minute 2", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, color="#e5e5e5")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka (tests/harness)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--from-minute", type=float, default=2.0, help="growth is measured from here to the end")
    parser.add_argument("--api", choices=["send", "async", "send_many"], default="send")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--keys", type=int, default=0, help="distinct keys, cycled (0: keyless)")
    parser.add_argument("--config", "-X", action="append", default=[], metavar="KEY=VALUE",
                        help="more producer settings")
    parser.add_argument("--max-growth-mib", type=float, default=4.0)
    parser.add_argument("--out", default=str(Path(__file__).parent))
    args = parser.parse_args()
    if not 0 <= args.from_minute < args.minutes:
        parser.error("--from-minute must be at least 0 and below --minutes")
    sys.path.insert(0, str(ROOT))
    from tests.harness.kafka import ExternalKafka, KafkaCluster

    cluster: Any = None
    endpoint: Any = ExternalKafka(args.bootstrap) if args.bootstrap else None
    if endpoint is None:
        # The harness broker keeps its log in RAM (/dev/shm): minutes at full speed would fill the machine
        # unless old segments go soon, so it looks for them every 5 s (Kafka's default is every 5 min).
        cluster = endpoint = KafkaCluster(1, broker_config={"log.retention.check.interval.ms": "5000"})
        cluster.start()
    try:
        topic = f"soak-{uuid.uuid4().hex[:10]}"
        # The topic keeps 64 MiB per partition in 16 MiB segments. With --bootstrap, a broker whose log is
        # in RAM needs a short log.retention.check.interval.ms too.
        retention = {"retention.bytes": 64 << 20, "segment.bytes": 16 << 20, "segment.ms": 60_000,
                     "file.delete.delay.ms": 1000}
        endpoint.create_topic(topic, args.partitions, config=retention, timeout=120)
        sent = [0]
        sampler = Sampler(sent)
        outcome = produce(args, endpoint.bootstrap_servers, topic, sampler.start + args.minutes * 60, sent)
        sampler.stop.set()
        sampler.thread.join()
        ok = report(args, sampler.samples, outcome)
        endpoint.delete_topic(topic, timeout=120)
    finally:
        if cluster is not None:
            cluster.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
