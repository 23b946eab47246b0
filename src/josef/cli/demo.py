"""``josef demo``: partitioning, batching, compression, idempotence, a transaction and the metrics, live."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

import josef
from josef.admin import Admin, NewTopic
from josef.cli.common import CliError, call, cluster, open_producer, producer_config
from josef.errors import TopicAlreadyExistsError


def cmd_demo(args: argparse.Namespace) -> int:
    config = producer_config(args)
    with cluster(config) as mock:
        return run_demo(config, mock, fast=args.fast)


def _metric(producer: josef.Producer, name: str) -> float | None:
    getter = getattr(producer, "metric", None)
    if not callable(getter):
        return None
    try:
        value = float(getter(name, "producer-metrics"))
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class Demo:
    """The steps of ``josef demo``; each prints what it does and what happened."""

    def __init__(self, config: dict[str, Any], mock: Any, fast: bool) -> None:
        self.config = config
        self.mock = mock
        self.fast = fast
        self.step_no = 0
        self.suffix = "" if mock is not None else f"-{os.getpid()}"
        self.admin: Admin | None = None

    def step(self, title: str) -> None:
        if self.step_no and not self.fast:
            time.sleep(0.6)
        self.step_no += 1
        print(f"\n== {self.step_no}. {title}", flush=True)

    def say(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def topic(self, name: str, partitions: int) -> str:
        name = f"josef-demo-{name}{self.suffix}"
        if self.mock is not None:
            self.mock.create_topic(name, partitions)
        else:
            if self.admin is None:
                self.admin = Admin(self.config)
            try:
                self.admin.create_topics([NewTopic(name, partitions)])[name].result(60)
            except TopicAlreadyExistsError:
                pass
        return name

    def producer(self, **overrides: Any) -> josef.Producer:
        return open_producer({**self.config, **{k.replace("_", "."): v for k, v in overrides.items()}})

    def run(self) -> int:
        where = "the embedded mock cluster" if self.mock is not None else self.config["bootstrap.servers"]
        print(f"josef {josef.__version__} demo, on {where}")
        self.partitioning()
        self.batching()
        self.compression()
        self.idempotence()
        self.transaction()
        self.metrics()
        if self.admin is not None:
            self.admin.close()
        print("\nDone. Next: 'josef perf --num-records 200000 --record-size 100', or 'josef --help'.")
        return 0

    def partitioning(self) -> None:
        self.step("Partitioning: a key always goes to the same partition (murmur2, like the Java client)")
        topic = self.topic("orders", 3)
        with self.producer() as producer:
            futures = [(key, producer.send(topic, f"order {n}".encode(), key.encode()))
                       for n in range(9) for key in (f"user-{n % 3}",)]
            for key, future in futures[:6]:
                md = future.result(30)
                self.say(f"key {key!r:9} -> partition {md.partition}, offset {md.offset}")
            unkeyed = [producer.send(topic, b"no key") for _ in range(6)]
            spots = sorted({f.result(30).partition for f in unkeyed})
            self.say(f"6 records without a key -> partition(s) {spots}: sticky, one batch at a time")

    def batching(self) -> None:
        self.step("Batching: linger.ms lets records share a request")
        topic = self.topic("batching", 1)
        for linger in (0, 20):
            with self.producer(linger_ms=linger) as producer:
                for n in range(2000):
                    producer.send(topic, b"x" * 100, key=str(n).encode())
                    if linger == 0 and n % 50 == 0:
                        time.sleep(0.001)
                producer.flush()
                per_request = _metric(producer, "records-per-request-avg")
                batch = _metric(producer, "batch-size-avg")
                requests = _metric(producer, "request-total")
            if per_request is None:
                self.say(f"linger.ms={linger}: sent 2000 records (metrics unavailable)")
            else:
                self.say(f"linger.ms={linger:<3} 2000 records: {per_request:6.1f} records/request, "
                         f"batches of {batch or 0:6.0f} bytes, {requests or 0:4.0f} requests")

    def compression(self) -> None:
        self.step("Compression: batches are compressed as a whole")
        topic = self.topic("compression", 1)
        value = json.dumps({"user": "user-42", "action": "checkout", "items": [1, 2, 3], "total": 99.5}).encode()
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            try:
                producer = self.producer(compression_type=codec, linger_ms=10)
            except CliError as exc:
                self.say(f"{codec:6} unavailable: {exc}")
                continue
            with producer:
                for _ in range(2000):
                    producer.send(topic, value)
                producer.flush()
                ratio = _metric(producer, "compression-rate-avg")
                sent = _metric(producer, "outgoing-byte-total")
            if ratio is None:
                self.say(f"{codec:6} 2000 records sent")
            else:
                self.say(f"{codec:6} compressed to {ratio * 100:5.1f}% of the original; {sent or 0:9,.0f} bytes "
                         "on the wire")

    def idempotence(self) -> None:
        self.step("Idempotence: a retried batch is written once")
        if self.mock is None:
            self.say("on by default (enable.idempotence=true); the mock cluster shows it with a lost response,")
            self.say("run 'josef demo' without -b to see it")
            return
        from josef._core.protocol import ApiKey

        for idempotent in (False, True):
            topic = self.topic(f"idempotence-{'on' if idempotent else 'off'}", 1)
            with self.producer(enable_idempotence=idempotent, acks="all") as producer:
                producer.send(topic, b"warm-up").result(30)
                self.mock.drop_connection(ApiKey.PRODUCE, when="after")  # appended, but the answer is lost
                producer.send(topic, b"important").result(30)
                retries = _metric(producer, "record-retry-total")
            stored = [r.value for r in self.mock.records(topic, 0)].count(b"important")
            self.say(f"enable.idempotence={str(idempotent).lower():5}: the broker's response was lost, the producer "
                     f"retried ({retries or 0:.0f} retry) -> stored {stored} time(s)")

    def transaction(self) -> None:
        self.step("Transactions: all or nothing")
        topic = self.topic("transactions", 1)
        producer = self.producer(transactional_id=f"josef-demo{self.suffix}")
        with producer:
            if not all(callable(getattr(producer, m, None)) for m in
                       ("init_transactions", "begin_transaction", "commit_transaction", "abort_transaction")):
                self.say("not in this version of josef yet: skipped")
                return
            call(producer, "init_transactions")
            for outcome in ("commit", "abort"):
                call(producer, "begin_transaction")
                for n in range(3):
                    producer.send(topic, f"{outcome} {n}".encode())
                call(producer, f"{outcome}_transaction")
                self.say(f"3 records sent, then {outcome}_transaction()")
        if self.mock is not None:
            visible = [r.value for r in self.mock.records(topic, 0, isolation="read_committed")]
            self.say(f"a read_committed consumer sees {len(visible)} records: {[v.decode() for v in visible if v]}")

    def metrics(self) -> None:
        self.step("Metrics: the Java client's names, from producer.metrics()")
        topic = self.topic("metrics", 3)
        with self.producer() as producer:
            for n in range(5000):
                producer.send(topic, b"x" * 200, key=str(n).encode())
            producer.flush()
            self.metrics_of(producer)

    def metrics_of(self, producer: josef.Producer) -> None:
        for name in ("record-send-total", "record-error-total", "request-latency-avg", "batch-size-avg",
                     "outgoing-byte-total"):
            value = _metric(producer, name)
            shown = "n/a" if value is None else f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
            self.say(f"{name:22} {shown}")


def run_demo(config: dict[str, Any], mock: Any, fast: bool) -> int:
    return Demo(config, mock, fast).run()
