"""send_many() against send() in one process, one producer, one topic: records/s as the caller
sees them (queued) and end to end (queued and acknowledged), alternating the two so that a
machine's changing load touches both alike.

    python bench/bench_send_many.py                        # starts a 1-node Kafka itself
    python bench/bench_send_many.py --bootstrap 127.0.0.1:9092 --records 1000000 --keyed
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def measure(producer: Any, topic: str, values: list[bytes], keys: list[bytes] | None, bulk: bool,
            chunk: int) -> tuple[float, float]:
    """(queued records/s, end-to-end records/s) for one pass."""
    mono = time.monotonic
    started = mono()
    if bulk:
        for i in range(0, len(values), chunk):
            producer.send_many(topic, values[i : i + chunk], None if keys is None else keys[i : i + chunk])
    elif keys is None:
        send = producer.send
        for value in values:
            send(topic, value)
    else:
        send = producer.send
        for value, key in zip(values, keys, strict=True):
            send(topic, value, key)
    queued = mono()
    producer.flush()
    done = mono()
    return len(values) / (queued - started), len(values) / (done - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap")
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=10_000, help="records per send_many() call")
    parser.add_argument("--keyed", action="store_true", help="10,000 distinct keys")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-X", dest="config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    from josef import Producer
    from tests.harness.kafka import ExternalKafka, KafkaCluster

    cluster: Any = None
    endpoint: Any = ExternalKafka(args.bootstrap) if args.bootstrap else None
    if endpoint is None:
        cluster = endpoint = KafkaCluster(1)
        cluster.start()
    try:
        topic = f"send-many-{uuid.uuid4().hex[:8]}"
        endpoint.create_topic(topic, args.partitions, timeout=120)
        config = {"bootstrap.servers": endpoint.bootstrap_servers, "acks": "1", "enable.idempotence": False}
        config.update(item.split("=", 1) for item in args.config)
        pool = [bytes([65 + (i + j) % 26 for j in range(args.size)]) for i in range(1000)]
        values = [pool[i % 1000] for i in range(args.records)]
        keys = [b"%d" % (i % 10_000) for i in range(args.records)] if args.keyed else None
        results: dict[str, list[tuple[float, float]]] = {"send": [], "send_many": []}
        with Producer(config) as producer:
            producer.partitions_for(topic)
            measure(producer, topic, values[: min(50_000, len(values))], None, False, args.chunk)  # warm-up
            for _ in range(args.repeat):
                for name in ("send", "send_many"):
                    results[name].append(measure(producer, topic, values, keys, name == "send_many", args.chunk))
        endpoint.delete_topic(topic, timeout=120)
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"\n{args.records:,} records of {args.size} B, {'keyed' if args.keyed else 'keyless'}, "
          f"{args.partitions} partitions, send_many() in calls of {args.chunk:,}; median of {args.repeat}")
    medians = {name: (statistics.median(q for q, _ in runs), statistics.median(e for _, e in runs))
               for name, runs in results.items()}
    for name, (queued, end) in medians.items():
        print(f"{name:<10} queued {queued:>12,.0f} records/s   end to end {end:>12,.0f} records/s")
    (q1, e1), (q2, e2) = medians["send"], medians["send_many"]
    print(f"send_many / send: {q2 / q1:.2f}x queued, {e2 / e1:.2f}x end to end")


if __name__ == "__main__":
    main()
