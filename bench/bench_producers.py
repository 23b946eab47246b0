"""Throughput of josef against the other Python producers, on one broker, in one run.

Each client runs in its own process (so CPU time is its own, librdkafka's threads included)
and produces the same records to its own fresh topic. Printed per client: records/s, MB/s,
CPU seconds per million records, and the ratio of its records/s to josef's.

    python bench/bench_producers.py                      # starts a 1-node Kafka itself
    python bench/bench_producers.py --bootstrap 127.0.0.1:9092 --records 500000 --size 1024
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

CLIENTS = ("josef", "confluent-kafka", "aiokafka", "kafka-python")
ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _payload(size: int) -> bytes:
    return (b"josef-bench-" * (size // 12 + 1))[:size]


def run_josef(args: argparse.Namespace, value: bytes) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    config = {"bootstrap.servers": args.bootstrap, "acks": args.acks, "compression.type": args.compression}
    if args.linger_ms is not None:
        config["linger.ms"] = args.linger_ms
    if args.batch_size is not None:
        config["batch.size"] = args.batch_size
    failed = 0
    with Producer(config) as producer:
        send = producer.send
        topic = args.topic
        futures = [send(topic, value) for _ in range(args.records)]
        producer.flush()
        failed = sum(1 for f in futures if f.exception() is not None)
    return failed


def run_confluent(args: argparse.Namespace, value: bytes) -> int:
    from confluent_kafka import Producer as CKProducer

    config = {"bootstrap.servers": args.bootstrap, "acks": args.acks, "compression.type": args.compression}
    if args.linger_ms is not None:
        config["linger.ms"] = args.linger_ms
    if args.batch_size is not None:
        config["batch.size"] = args.batch_size
    producer = CKProducer(config)
    failed = [0]

    def report(err: object, _msg: object) -> None:
        if err is not None:
            failed[0] += 1

    produce, poll = producer.produce, producer.poll
    topic = args.topic
    for i in range(args.records):
        while True:
            try:
                produce(topic, value, on_delivery=report)
                break
            except BufferError:
                poll(0.01)
        if i % 1000 == 0:
            poll(0)
    remaining = producer.flush(120)
    return failed[0] + remaining


def run_aiokafka(args: argparse.Namespace, value: bytes) -> int:
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def main() -> int:
        kwargs: dict[str, object] = {
            "bootstrap_servers": args.bootstrap,
            "acks": "all" if args.acks == "all" else int(args.acks),
        }
        if args.compression != "none":
            kwargs["compression_type"] = args.compression
        if args.linger_ms is not None:
            kwargs["linger_ms"] = args.linger_ms
        if args.batch_size is not None:
            kwargs["max_batch_size"] = args.batch_size
        producer = AIOKafkaProducer(**kwargs)
        await producer.start()
        try:
            futures = [await producer.send(args.topic, value) for _ in range(args.records)]
            results = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            await producer.stop()
        return sum(1 for r in results if isinstance(r, BaseException))

    return asyncio.run(main())


def run_kafka_python(args: argparse.Namespace, value: bytes) -> int:
    from kafka import KafkaProducer

    kwargs: dict[str, object] = {
        "bootstrap_servers": args.bootstrap,
        "acks": "all" if args.acks == "all" else int(args.acks),
    }
    if args.compression != "none":
        kwargs["compression_type"] = args.compression
    if args.linger_ms is not None:
        kwargs["linger_ms"] = args.linger_ms
    if args.batch_size is not None:
        kwargs["batch_size"] = args.batch_size
    producer = KafkaProducer(**kwargs)
    futures = [producer.send(args.topic, value) for _ in range(args.records)]
    producer.flush()
    failed = sum(1 for f in futures if f.exception is not None)
    producer.close()
    return failed


RUNNERS: dict[str, Callable[[argparse.Namespace, bytes], int]] = {
    "josef": run_josef,
    "confluent-kafka": run_confluent,
    "aiokafka": run_aiokafka,
    "kafka-python": run_kafka_python,
}


def child(args: argparse.Namespace) -> None:
    value = _payload(args.size)
    cpu0, t0 = _cpu(), time.perf_counter()
    failed = RUNNERS[args.client](args, value)
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    print(json.dumps({"client": args.client, "elapsed": elapsed, "cpu": cpu, "failed": failed}))


def _create_topic(bootstrap: str, partitions: int) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics.get(name)
        if (
            meta
            and meta.error is None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return name
        time.sleep(0.1)
    raise RuntimeError(f"topic {name} not ready")


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
            for client in args.clients.split(","):
                topic = _create_topic(args.bootstrap, args.partitions)
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--client",
                    client,
                    "--bootstrap",
                    args.bootstrap,
                    "--topic",
                    topic,
                    "--records",
                    str(args.records),
                    "--size",
                    str(args.size),
                    "--acks",
                    args.acks,
                    "--compression",
                    args.compression,
                ]
                if args.linger_ms is not None:
                    cmd += ["--linger-ms", str(args.linger_ms)]
                if args.batch_size is not None:
                    cmd += ["--batch-size", str(args.batch_size)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=os.environ.copy())
                if out.returncode != 0:
                    print(f"{client} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        _report(args, rows)
    finally:
        if cluster is not None:
            cluster.stop()


def _report(args: argparse.Namespace, rows: list[dict[str, float]]) -> None:
    best: dict[str, dict[str, float]] = {}
    for row in rows:  # with --repeat, keep each client's fastest run
        if row["client"] not in best or row["elapsed"] < best[row["client"]]["elapsed"]:
            best[row["client"]] = row
    josef_rate = args.records / best["josef"]["elapsed"] if "josef" in best else None
    print(
        f"\n{args.records} records of {args.size} B, acks={args.acks}, compression={args.compression}, "
        f"{args.partitions} partitions, best of {args.repeat}"
    )
    print(f"{'client':<16}{'records/s':>12}{'MB/s':>9}{'CPU s/M rec':>13}{'failed':>8}{'vs josef':>10}")
    for client, row in best.items():
        rate = args.records / row["elapsed"]
        ratio = f"{rate / josef_rate:.2f}x" if josef_rate else "-"
        print(
            f"{client:<16}{rate:>12,.0f}{rate * args.size / 1e6:>9.1f}"
            f"{row['cpu'] / args.records * 1e6:>13.2f}{int(row['failed']):>8}{ratio:>10}"
        )
    if args.json:
        print(json.dumps({"args": vars(args), "results": list(best.values())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--linger-ms", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
