"""TLS throughput and CPU of josef against confluent-kafka, over the same TLS listener, in one run.

Starts the test harness's secure one-node Kafka (``tests/harness/secure_kafka.py``: a CA made on the
fly, an SSL listener for 127.0.0.1) unless ``--bootstrap`` and ``--ca`` name one. Each client runs in
its own process (CPU time is then that client's own, librdkafka's threads included), sends the same
values to a fresh topic over TLS, and prints records/s and CPU seconds per million records. A
PLAINTEXT run of each client is added with ``--plaintext-too`` so the cost of TLS itself shows.

    python bench/bench_tls.py                        # starts the secure broker itself
    python bench/bench_tls.py --records 500000 --record-size 512 --plaintext-too
    python bench/bench_tls.py --bootstrap 127.0.0.1:9093 --ca ca.pem --plaintext-bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _payload(size: int) -> bytes:
    return (b"josef-bench-" * (size // 12 + 1))[:size]


def _create_topic(bootstrap: str, partitions: int) -> str:
    """A fresh topic with a leader for every partition (created over the PLAINTEXT listener)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"bench-tls-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics.get(name)
        if meta and meta.error is None and all(p.leader >= 0 for p in meta.partitions.values()):
            return name
        time.sleep(0.1)  # polling the broker's metadata: no event to wait on
    raise RuntimeError(f"topic {name} not ready")

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("josef", "confluent-kafka")


def run_client(client: str, bootstrap: str, ca: str | None, topic: str, records: int, size: int) -> dict[str, Any]:
    """One client in this process: send ``records`` values over ``bootstrap``; rates and CPU."""
    value = _payload(size)
    cpu0, t0 = _cpu(), time.perf_counter()
    if client == "josef":
        sys.path.insert(0, str(ROOT / "src"))
        from josef import Producer

        config: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 5}
        if ca:
            config.update({"security.protocol": "SSL", "ssl.truststore.location": ca})
        with Producer(config) as producer:
            send = producer.send
            for _ in range(records):
                send(topic, value)
            producer.flush()
    else:
        from confluent_kafka import Producer as CkProducer

        ck_config: dict[str, Any] = {
            "bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
            "queue.buffering.max.messages": 1_000_000,
        }  # fmt: skip
        if ca:
            ck_config.update({"security.protocol": "SSL", "ssl.ca.location": ca})
        ck = CkProducer(ck_config)
        for _ in range(records):
            while True:
                try:
                    ck.produce(topic, value)
                    break
                except BufferError:
                    ck.poll(0.01)
            ck.poll(0)
        ck.flush()
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"records_per_s": records / elapsed, "cpu_s_per_million": cpu / records * 1e6, "seconds": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--record-size", type=int, default=256)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--bootstrap", help="a TLS listener (needs --ca); default: start the secure harness broker")
    parser.add_argument("--ca", help="CA certificate (PEM) that verifies the listener")
    parser.add_argument("--plaintext-bootstrap", help="a PLAINTEXT listener of the same broker (topic creation)")
    parser.add_argument("--plaintext-too", action="store_true", help="also run each client over PLAINTEXT")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: client,bootstrap,ca,topic
    args = parser.parse_args()
    if args.child:
        client, bootstrap, ca, topic = args.child.split("|")
        print(json.dumps(run_client(client, bootstrap, ca or None, topic, args.records, args.record_size)))
        return 0

    cluster = None
    if args.bootstrap:
        if not args.ca or not args.plaintext_bootstrap:
            parser.error("--bootstrap needs --ca and --plaintext-bootstrap")
        tls, ca, plain = args.bootstrap, args.ca, args.plaintext_bootstrap
    else:
        sys.path.insert(0, str(ROOT))
        from tests.harness.secure_kafka import SecureKafka

        cluster = SecureKafka().start()
        tls, ca, plain = cluster.bootstrap("SSL"), str(cluster.pki.ca), cluster.bootstrap("PLAINTEXT")
    try:
        runs = [(client, tls, ca) for client in CLIENTS]
        if args.plaintext_too:
            runs += [(client, plain, "") for client in CLIENTS]
        print(f"{args.records} records of {args.record_size} bytes, {args.partitions} partitions, acks=all, idempotent")
        print(f"{'client':16} {'transport':10} {'records/s':>12} {'CPU s / 1M records':>20}")
        for client, bootstrap, cafile in runs:
            topic = _create_topic(plain, args.partitions)
            out = subprocess.run(
                [sys.executable, __file__, "--records", str(args.records), "--record-size", str(args.record_size),
                 "--child", f"{client}|{bootstrap}|{cafile}|{topic}"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            result = json.loads(out.strip().splitlines()[-1])
            transport = "TLS" if cafile else "PLAINTEXT"
            print(f"{client:16} {transport:10} {result['records_per_s']:12,.0f} {result['cpu_s_per_million']:20.2f}")
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
