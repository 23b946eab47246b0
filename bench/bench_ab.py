"""Two josef trees against each other and confluent-kafka, run by run in turn on one broker.

On a shared machine a whole benchmark matrix run before a change and another after it compare two
different loads; here each round runs josef ``Producer.send`` and ``AsyncProducer.send`` from tree A,
then from tree B, then confluent-kafka, each in its own process on a fresh topic (6 partitions unless told) of one
broker (tests/harness), so load changes touch all alike. Reports records/s and CPU µs per record
(user + system, every thread), medians over the rounds, as ratios to confluent-kafka.

    python bench/bench_ab.py --a /tmp/main/src --b src --sizes 100,1024 --acks all --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import asyncio, json, resource, sys, time
spec = json.loads(sys.argv[1])
values = [bytes([i % 251]) * spec["size"] for i in range(1000)]
n, topic = spec["records"], spec["topic"]
keys = [b"key-%d" % (i % spec["keys"]) for i in range(n)] if spec["keys"] else [None] * n
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
if spec["client"] == "confluent-kafka":
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": spec["bootstrap"], "acks": spec["acks"], "linger.ms": 5})
    p.list_topics(topic)
    def delivered(err, msg): pass
    started, cpu0 = time.perf_counter(), cpu()
    for i in range(n):
        while True:
            try:
                p.produce(topic, values[i % 1000], keys[i], on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    p.flush()
elif spec["client"] == "josef":
    from josef import Producer
    p = Producer({"bootstrap.servers": spec["bootstrap"], "acks": spec["acks"]})
    p.partitions_for(topic)
    send = p.send
    started, cpu0 = time.perf_counter(), cpu()
    for i in range(n):
        send(topic, values[i % 1000], keys[i])
    p.flush()
    p.close()
else:
    from josef import AsyncProducer
    async def main():
        async with AsyncProducer({"bootstrap.servers": spec["bootstrap"], "acks": spec["acks"]}) as p:
            await p.partitions_for(topic)
            send = p.send
            started, cpu0 = time.perf_counter(), cpu()
            for i in range(n):
                await send(topic, values[i % 1000], keys[i])
            await p.flush()
            return started, cpu0
    started, cpu0 = asyncio.run(main())
print(json.dumps({"rate": n / (time.perf_counter() - started), "cpu_us": (cpu() - cpu0) / n * 1e6}))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="tree A's src folder (put first on PYTHONPATH)")
    parser.add_argument("--b", required=True, help="tree B's src folder")
    parser.add_argument("--sizes", default="100,1024")
    parser.add_argument("--acks", default="1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=400_000, help="per run at 100 B (fewer for larger values)")
    parser.add_argument("--clients", default="josef,josef-async,confluent-kafka")
    parser.add_argument("--keys", type=int, default=0, help="distinct keys, taken in turn (0: keyless)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--bootstrap", help="an existing broker; default: start one (tests/harness)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.harness.kafka import KafkaCluster

    clients = args.clients.split(",")
    variants = [(tree, client, path) for client in ("josef", "josef-async") if client in clients
                for tree, path in (("A", args.a), ("B", args.b))]
    if "confluent-kafka" in clients:
        variants.append(("-", "confluent-kafka", args.b))
    results: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    cluster = KafkaCluster(1, broker_config={"num.partitions": 1})
    if args.bootstrap:
        from josef import Admin
        from josef.admin import NewTopic

        admin = Admin({"bootstrap.servers": args.bootstrap})
        bootstrap = args.bootstrap

        def create_topic(name: str, partitions: int, timeout: float) -> None:
            admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout)

        def delete_topic(name: str) -> None:
            admin.delete_topics([name])[name].result(60)
    else:
        cluster.start()
        bootstrap = cluster.bootstrap_servers
        create_topic = cluster.create_topic
        delete_topic = cluster.delete_topic
    try:
        for size in map(int, args.sizes.split(",")):
            records = max(args.records * 100 // max(size, 100), 20_000)
            for round_ in range(args.rounds):
                for tree, client, path in variants:
                    topic = f"ab-{uuid.uuid4().hex[:10]}"
                    create_topic(topic, args.partitions, timeout=120)
                    spec = {"client": client, "size": size, "records": records, "topic": topic,
                            "bootstrap": bootstrap, "acks": args.acks, "keys": args.keys}
                    env = dict(os.environ, PYTHONPATH=str(Path(path).resolve()))
                    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env,
                                         capture_output=True, text=True, timeout=900, check=True)
                    delete_topic(topic)  # the harness broker's log lives in memory
                    run = json.loads(out.stdout.strip().splitlines()[-1])
                    results.setdefault((size, tree, client), []).append(run)
                    print(f"{size} B {client} {tree} round {round_ + 1}: {run['rate']:,.0f} records/s, "
                          f"{run['cpu_us']:.2f} µs CPU per record", flush=True)
    finally:
        if args.bootstrap:
            admin.close()
        else:
            cluster.stop()
    for size in map(int, args.sizes.split(",")):
        ref = results.get((size, "-", "confluent-kafka"))
        ref_rate = statistics.median(r["rate"] for r in ref) if ref else None
        ref_cpu = statistics.median(r["cpu_us"] for r in ref) if ref else None
        for tree, client, _ in variants:
            runs = results[(size, tree, client)]
            rate = statistics.median(r["rate"] for r in runs)
            cpu = statistics.median(r["cpu_us"] for r in runs)
            vs_rate = f" ({rate / ref_rate:.2f}x confluent-kafka)" if ref_rate else ""
            vs_cpu = f" ({cpu / ref_cpu:.2f}x)" if ref_cpu else ""
            shape = f"{size:5} B acks={args.acks} keys={args.keys} partitions={args.partitions}"
            print(f"{shape} {client:15} {tree}  median {rate:>9,.0f}  best "
                  f"{max(r['rate'] for r in runs):>9,.0f} records/s{vs_rate}  CPU {cpu:.2f} µs/record{vs_cpu}")


if __name__ == "__main__":
    main()
