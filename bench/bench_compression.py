"""Compression cost of josef against confluent-kafka, per codec, on one broker, in one run.

Each (client, codec) pair runs in its own process, so CPU time is that client's own
(librdkafka's threads included), and produces the same 1 KiB JSON-like values (compressible
about 3x by zstd) to a fresh topic; with the broker's default ``compression.type=producer`` the
broker stores each batch exactly as it arrived.

Printed per client and codec: records/s, CPU seconds per million records, and bytes per
record on the wire; for josef also the part of its CPU spent inside the compressor ("in codec",
the sender thread's CPU time around each call, s per million records). The wire bytes are
the sizes of the record batches the client sent, read back as the partition sizes on the
broker's disk (``LogDirsCommand``, i.e. the DescribeLogDirs API): batch headers and
(compressed) records, without the few dozen bytes of Produce request framing per request.
Both clients are measured the same way.

    python bench/bench_compression.py                      # starts a 1-node Kafka itself
    python bench/bench_compression.py --bootstrap 127.0.0.1:9092 --records 200000 --codecs lz4,zstd
    python bench/bench_compression.py --batch-size 0       # each client's own default batch size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_producers import _cpu, _create_topic  # a sibling script, not a package

CLIENTS = ("josef", "confluent-kafka")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
ROOT = Path(__file__).resolve().parent.parent
LOG_DIRS_COMMAND = "org.apache.kafka.tools.LogDirsCommand"
CODEC_CPU = [0.0]  # josef: CPU seconds spent inside the compressor


def json_values(count: int, size: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct JSON documents of exactly ``size`` bytes: event-like records with
    repeated field names and enumerated values plus a free-text field from a small alphabet."""
    rnd = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    values = []
    for i in range(count):
        doc = {
            "id": i,
            "user": f"user-{rnd.randrange(100_000):05d}",
            "event": rnd.choice(["click", "view", "purchase", "scroll", "login", "logout"]),
            "ts": 1_700_000_000_000 + i * 17,
            "country": rnd.choice(["DE", "FR", "US", "JP", "BR", "IN"]),
            "amount": round(rnd.uniform(0, 1000), 2),
            "tags": rnd.sample(words, 4),
            "text": " ".join(rnd.choice(words) + str(rnd.randrange(100)) for _ in range(size // 7)),
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        values.append(raw[: size - 2] + b'"}' if len(raw) > size else raw + b" " * (size - len(raw)))
    return values


def _config(args: argparse.Namespace) -> dict[str, object]:
    """The same settings for both clients (their keys agree for these)."""
    config: dict[str, object] = {"bootstrap.servers": args.bootstrap, "acks": args.acks,
                                 "compression.type": args.compression, "linger.ms": args.linger_ms}
    if args.batch_size:
        config["batch.size"] = args.batch_size
    return config


def run_josef(args: argparse.Namespace, values: list[bytes]) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    with Producer(_config(args)) as producer:
        sender = producer._sender
        if sender.compress is not None:  # time the codec calls themselves (sender thread's CPU)
            compress = sender.compress

            def timed(data: bytes) -> bytes:
                start = time.thread_time()
                try:
                    return compress(data)
                finally:
                    CODEC_CPU[0] += time.thread_time() - start

            sender.compress = timed
        send = producer.send
        topic = args.topic
        n = len(values)
        futures = [send(topic, values[i % n]) for i in range(args.records)]
        producer.flush()
        return sum(1 for f in futures if f.exception() is not None)


def run_confluent(args: argparse.Namespace, values: list[bytes]) -> int:
    from confluent_kafka import Producer as CKProducer

    producer = CKProducer(_config(args))
    failed = [0]

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failed[0] += 1

    produce, poll = producer.produce, producer.poll
    topic = args.topic
    n = len(values)
    for i in range(args.records):
        while True:
            try:
                produce(topic, values[i % n], on_delivery=report)
                break
            except BufferError:
                poll(0.01)
        if i % 1000 == 0:
            poll(0)
    remaining = producer.flush(300)
    return failed[0] + remaining


RUNNERS: dict[str, Callable[[argparse.Namespace, list[bytes]], int]] = {
    "josef": run_josef,
    "confluent-kafka": run_confluent,
}


def child(args: argparse.Namespace) -> None:
    values = json_values(args.distinct, args.size)
    cpu0, t0 = _cpu(), time.perf_counter()
    failed = RUNNERS[args.client](args, values)
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    print(json.dumps({"client": args.client, "codec": args.compression, "elapsed": elapsed, "cpu": cpu,
                      "failed": failed, "topic": args.topic, "codec_cpu": CODEC_CPU[0]}))


def _topic_bytes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Bytes each topic takes in the brokers' logs (summed over partitions and brokers)."""
    sys.path.insert(0, str(ROOT))
    from tests.harness.kafka import run_tool

    out = run_tool(LOG_DIRS_COMMAND, "--bootstrap-server", bootstrap, "--describe", "--topic-list", ",".join(topics))
    line = next(x for x in out.stdout.splitlines() if x.startswith("{"))
    sizes = dict.fromkeys(topics, 0)
    for broker in json.loads(line)["brokers"]:
        for log_dir in broker["logDirs"]:
            for part in log_dir["partitions"]:
                topic = part["partition"].rsplit("-", 1)[0]
                if topic in sizes and not part.get("isFuture"):
                    sizes[topic] += part["size"]
    return sizes


def parent(args: argparse.Namespace) -> None:
    cluster = None
    if not args.bootstrap:
        sys.path.insert(0, str(ROOT))
        from tests.harness.kafka import KafkaCluster

        cluster = KafkaCluster(nodes=1)
        cluster.start()
        args.bootstrap = cluster.bootstrap_servers
    try:
        rows = []
        for _ in range(args.repeat):
            for codec in args.codecs.split(","):
                for client in args.clients.split(","):
                    topic = _create_topic(args.bootstrap, args.partitions)
                    cmd = [sys.executable, __file__, "--child", "--client", client, "--bootstrap", args.bootstrap,
                           "--topic", topic, "--records", str(args.records), "--size", str(args.size),
                           "--distinct", str(args.distinct), "--acks", args.acks, "--compression", codec,
                           "--linger-ms", str(args.linger_ms), "--batch-size", str(args.batch_size)]
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=os.environ.copy())
                    if out.returncode != 0:
                        print(f"{client}/{codec} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                        continue
                    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        sizes = _topic_bytes(args.bootstrap, [row["topic"] for row in rows])
        for row in rows:
            row["log_bytes"] = sizes[row["topic"]]
        _report(args, rows)
    finally:
        if cluster is not None:
            cluster.stop()


def _report(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    best: dict[tuple[str, str], dict[str, object]] = {}
    for row in rows:  # with --repeat, keep each pair's run with the least CPU
        key = (str(row["codec"]), str(row["client"]))
        if key not in best or float(row["cpu"]) < float(best[key]["cpu"]):  # type: ignore[arg-type]
            best[key] = row
    batch = f"batch.size={args.batch_size}" if args.batch_size else "each client's default batch.size"
    print(f"\n{args.records} records of {args.size} B JSON-like values, acks={args.acks}, linger.ms={args.linger_ms}, "
          f"{batch}, {args.partitions} partitions, best of {args.repeat}")
    print(f"{'codec':<8}{'client':<17}{'records/s':>11}{'CPU s/M rec':>13}{'wire B/rec':>12}{'ratio':>7}"
          f"{'failed':>8}{'CPU vs ck':>11}{'in codec':>10}")
    for codec in args.codecs.split(","):
        ck = best.get((codec, "confluent-kafka"))
        for client in args.clients.split(","):
            row = best.get((codec, client))
            if row is None:
                continue
            elapsed, cpu = float(row["elapsed"]), float(row["cpu"])  # type: ignore[arg-type]
            wire = int(row["log_bytes"]) / args.records  # type: ignore[call-overload]
            vs = f"{cpu / float(ck['cpu']):.2f}x" if ck else "-"  # type: ignore[arg-type]
            codec_cpu = float(row.get("codec_cpu") or 0)  # type: ignore[arg-type]
            in_codec = f"{codec_cpu / args.records * 1e6:.2f}" if client == "josef" and codec != "none" else "-"
            print(f"{codec:<8}{client:<17}{args.records / elapsed:>11,.0f}{cpu / args.records * 1e6:>13.2f}"
                  f"{wire:>12.1f}{args.size / wire if wire else 0:>7.2f}{int(row['failed']):>8}{vs:>11}"  # type: ignore[call-overload]
                  f"{in_codec:>10}")
    if args.json:
        print(json.dumps({"args": vars(args), "results": list(best.values())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=1024, help="bytes per value")
    parser.add_argument("--distinct", type=int, default=2000, help="distinct values, sent round-robin")
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16384,
                        help="batch.size for both clients (Java's default); 0 = each client's default")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--compression", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
