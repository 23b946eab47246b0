"""josef against the other producers, on one broker, in one run: throughput, CPU, memory, latency.

Clients: josef ``Producer.send`` (josef), josef ``AsyncProducer.send`` (josef-async), josef
``Producer.send_many`` in calls of 10,000 records (josef-send_many), confluent-kafka, aiokafka,
kafka-python, and the Java client's own ``org.apache.kafka.tools.ProducerPerformance`` (java,
from the test harness's Kafka jars, with kafka-producer-perf-test's JVM options). Each run is
its own process on a fresh topic (deleted afterwards), against one broker the script starts
(tests/harness) or ``--bootstrap``.

The matrix (each dimension selectable): value size (100 B, 1 KiB), acks=1 / acks=all with
idempotence, compression none / lz4 / zstd, keyless / keyed (10,000 distinct keys), 6 / 120 / 600
partitions, each client at its own defaults and at equal batch settings (``--equal-batch-size``,
``--equal-linger-ms``). Per run: records/s, MB/s, CPU seconds per million records (user + system,
every thread; for java the whole JVM including its start), peak RSS. Every run is repeated
(``--repeat``, median and best reported). Then latency: each client sends at a fixed
``--latency-rate`` (20,000 records/s) for ``--latency-seconds`` at the equal settings, and
p50/p99/p99.9 of send-to-acknowledgement are reported (java's own figures are whole ms).

Writes RESULTS.md (tables with ratios to confluent-kafka and to josef, the machine described),
results.png (a chart) and results.json (raw runs; ``--render`` redraws from it) into ``--out``.

    python bench/bench_producers.py --quick                  # a small subset, ~15 minutes
    python bench/bench_producers.py                          # the full matrix: many hours
    python bench/bench_producers.py --plan                   # what would run, nothing started
    python bench/bench_producers.py --sizes 1024 --acks all --compression lz4,zstd --partitions 6
    python bench/bench_producers.py --render bench/results.json
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("josef", "josef-async", "josef-send_many", "confluent-kafka", "aiokafka", "kafka-python", "java")
REFERENCE = "confluent-kafka"
KEYS = 10_000
SEND_MANY_CHUNK = 10_000
POOL = 1_000  # distinct values, cycled: compressible like text, not like one repeated value
JAVA_MAIN = "org.apache.kafka.tools.ProducerPerformance"
# What kafka-producer-perf-test.sh runs the tool with (the harness's tool defaults favour start-up time).
JAVA_JVM_ARGS = ("-Xmx512m", "-XX:TieredStopAtLevel=4", "-XX:-UseSerialGC", "-XX:+UseG1GC",
                 "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35")
JAVA_TOTAL = re.compile(
    r"^(\d+)( steady state)? records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$"
)


@dataclass(frozen=True)
class Workload:
    size: int
    acks: str  # "1", or "all" (with idempotence)
    compression: str
    keyed: bool
    partitions: int
    settings: str  # "default" (each client's own) or "equal" (same batch size and linger for all)

    def label(self) -> str:
        acks = "acks=all idempotent" if self.acks == "all" else f"acks={self.acks}"
        keys = f"keyed ({KEYS:,} keys)" if self.keyed else "keyless"
        return (f"{self.size} B, {acks}, {self.compression}, {keys}, {self.partitions} partitions, "
                f"{self.settings} settings")


# -- configuration of each client, in its own terms ------------------------------------------------


def josef_config(w: Workload, spec: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": spec["bootstrap"], "acks": w.acks,
                              "enable.idempotence": w.acks == "all", "compression.type": w.compression}
    if w.settings == "equal":
        config.update({"batch.size": spec["equal_batch_size"], "linger.ms": spec["equal_linger_ms"]})
    return config


def confluent_config(w: Workload, spec: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": spec["bootstrap"], "acks": w.acks,
                              "enable.idempotence": w.acks == "all", "compression.type": w.compression}
    if w.settings == "equal":
        config.update({"batch.size": spec["equal_batch_size"], "linger.ms": spec["equal_linger_ms"]})
    return config


def aiokafka_config(w: Workload, spec: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap_servers": spec["bootstrap"], "acks": "all" if w.acks == "all" else 1,
                              "enable_idempotence": w.acks == "all"}
    if w.compression != "none":
        config["compression_type"] = w.compression
    if w.settings == "equal":
        config.update({"max_batch_size": spec["equal_batch_size"], "linger_ms": spec["equal_linger_ms"]})
    return config


def kafka_python_config(w: Workload, spec: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap_servers": spec["bootstrap"], "acks": "all" if w.acks == "all" else 1,
                              "enable_idempotence": w.acks == "all"}
    if w.compression != "none":
        config["compression_type"] = w.compression
    if w.settings == "equal":
        config.update({"batch_size": spec["equal_batch_size"], "linger_ms": spec["equal_linger_ms"]})
    return config


def java_props(w: Workload, spec: dict[str, Any]) -> list[str]:
    props = [f"bootstrap.servers={spec['bootstrap']}", f"acks={w.acks}",
             f"enable.idempotence={'true' if w.acks == 'all' else 'false'}", f"compression.type={w.compression}"]
    if w.settings == "equal":
        props += [f"batch.size={spec['equal_batch_size']}", f"linger.ms={spec['equal_linger_ms']}"]
    return props


# -- the child process: one client, one run ---------------------------------------------------------


def _records(w: Workload, count: int) -> tuple[list[bytes], list[bytes] | None]:
    rng = random.Random(0)
    letters = bytes(65 + i % 26 for i in range(256))  # A-Z, as ProducerPerformance's payload
    pool = [rng.randbytes(w.size).translate(letters) for _ in range(POOL)]
    values = [pool[i % POOL] for i in range(count)]
    keys = [b"%d" % (i % KEYS) for i in range(count)] if w.keyed else None
    return values, keys


class Pacer:
    """Sends at ``rate`` records/s: how long to wait before record ``i``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()

    def ahead(self, i: int) -> float:
        return self.start + i / self.rate - time.monotonic()


class Latencies:
    """Send-to-acknowledgement latencies of the records after the warm-up (the first 10 %)."""

    def __init__(self, count: int) -> None:
        self.skip = count // 10
        self.seen = 0
        self.values = array("d")
        self.failed = 0

    def done(self, started: float, *_: Any) -> None:
        self.seen += 1
        if self.seen > self.skip:
            self.values.append(time.monotonic() - started)

    def error(self, *_: Any) -> None:
        self.failed += 1

    def summary(self) -> dict[str, float]:
        sys.path.insert(0, str(ROOT / "src"))
        from josef.cli.latency import LatencyHistogram

        hist = LatencyHistogram()
        hist.record_seconds(self.values)
        return {"p50": hist.value_ms(50), "p99": hist.value_ms(99), "p99.9": hist.value_ms(99.9),
                "max": hist.max_ms(), "count": hist.count}


def run_josef(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
              lat: Latencies | None) -> tuple[float, int]:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    producer = Producer(josef_config(w, spec))
    topic = spec["topic"]
    producer.partitions_for(topic)
    send, mono = producer.send, time.monotonic
    started = mono()
    if lat is not None:
        pacer = Pacer(spec["rate"])
        for i, value in enumerate(values):
            ahead = pacer.ahead(i)
            if ahead > 0.001:
                time.sleep(ahead)
            send(topic, value, None if keys is None else keys[i],
                 callback=functools.partial(_josef_done, lat, mono()))
    elif keys is None:
        for value in values:
            send(topic, value)
    else:
        for value, key in zip(values, keys, strict=True):
            send(topic, value, key)
    producer.flush()
    elapsed = mono() - started
    failed = int(producer.metric("record-error-total"))
    producer.close()
    return elapsed, failed


def _josef_done(lat: Latencies, started: float, _: Any, exc: BaseException | None) -> None:
    if exc is None:
        lat.done(started)
    else:
        lat.error()


def run_josef_send_many(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
                        lat: Latencies | None) -> tuple[float, int]:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import Producer

    producer = Producer(josef_config(w, spec))
    topic = spec["topic"]
    producer.partitions_for(topic)
    send_many, mono = producer.send_many, time.monotonic
    # At a fixed rate: a call every 5 ms; at full speed: calls of SEND_MANY_CHUNK records.
    chunk = max(1, int(spec["rate"] / 200)) if lat is not None else SEND_MANY_CHUNK
    pacer = Pacer(spec.get("rate") or 1.0)
    started = mono()
    for i in range(0, len(values), chunk):
        if lat is not None:
            ahead = pacer.ahead(i)
            if ahead > 0.001:
                time.sleep(ahead)
        callback = None if lat is None else functools.partial(_josef_done, lat, mono())
        send_many(topic, values[i : i + chunk], None if keys is None else keys[i : i + chunk], callback=callback)
    producer.flush()
    elapsed = mono() - started
    failed = int(producer.metric("record-error-total"))
    producer.close()
    return elapsed, failed


def run_josef_async(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
                    lat: Latencies | None) -> tuple[float, int]:
    sys.path.insert(0, str(ROOT / "src"))
    from josef import AsyncProducer

    async def main() -> tuple[float, int]:
        producer = AsyncProducer(josef_config(w, spec))
        topic = spec["topic"]
        await producer.partitions_for(topic)
        send, mono = producer.send, time.monotonic
        started = mono()
        if lat is not None:
            pacer = Pacer(spec["rate"])
            for i, value in enumerate(values):
                ahead = pacer.ahead(i)
                if ahead > 0.001:
                    await asyncio.sleep(ahead)
                await send(topic, value, None if keys is None else keys[i],
                           callback=functools.partial(_josef_done, lat, mono()))
        elif keys is None:
            for value in values:
                await send(topic, value)
        else:
            for value, key in zip(values, keys, strict=True):
                await send(topic, value, key)
        await producer.flush()
        elapsed = mono() - started
        failed = int(producer.metric("record-error-total"))
        await producer.close()
        return elapsed, failed

    return asyncio.run(main())


def run_confluent(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
                  lat: Latencies | None) -> tuple[float, int]:
    from confluent_kafka import Producer

    producer = Producer(confluent_config(w, spec))
    topic = spec["topic"]
    producer.list_topics(topic, timeout=30)
    failed = [0]

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed[0] += 1

    def report_latency(started: float, err: Any, _msg: Any) -> None:
        if err is None:
            lat.done(started)  # type: ignore[union-attr]
        else:
            lat.error()  # type: ignore[union-attr]

    produce, poll, mono = producer.produce, producer.poll, time.monotonic
    pacer = Pacer(spec.get("rate") or 1.0)
    started = mono()
    for i, value in enumerate(values):
        key = None if keys is None else keys[i]
        if lat is not None:
            ahead = pacer.ahead(i)
            if ahead > 0.001:
                poll(ahead)  # serves delivery reports while it waits
            callback: Any = functools.partial(report_latency, mono())
        else:
            callback = report
        while True:
            try:
                produce(topic, value, key, on_delivery=callback)
                break
            except BufferError:  # its queue is full: serve delivery reports, then again
                poll(0.005)
        if lat is not None or i % 1000 == 0:
            poll(0)
    remaining = producer.flush(600)
    elapsed = mono() - started
    return elapsed, failed[0] + remaining + (lat.failed if lat else 0)


def run_aiokafka(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
                 lat: Latencies | None) -> tuple[float, int]:
    from aiokafka import AIOKafkaProducer

    async def main() -> tuple[float, int]:
        producer = AIOKafkaProducer(**aiokafka_config(w, spec))
        await producer.start()
        topic = spec["topic"]
        await producer.partitions_for(topic)
        failed = [0]

        def check(fut: asyncio.Future[Any]) -> None:
            if fut.exception() is not None:
                failed[0] += 1

        def check_latency(started: float, fut: asyncio.Future[Any]) -> None:
            if fut.exception() is None:
                lat.done(started)  # type: ignore[union-attr]
            else:
                lat.error()  # type: ignore[union-attr]

        send, mono = producer.send, time.monotonic
        pacer = Pacer(spec.get("rate") or 1.0)
        started = mono()
        try:
            for i, value in enumerate(values):
                if lat is not None:
                    ahead = pacer.ahead(i)
                    if ahead > 0.001:
                        await asyncio.sleep(ahead)
                    now = mono()
                    fut = await send(topic, value, key=None if keys is None else keys[i])
                    fut.add_done_callback(functools.partial(check_latency, now))
                else:
                    fut = await send(topic, value, key=None if keys is None else keys[i])
                    fut.add_done_callback(check)
            await producer.flush()
            elapsed = mono() - started
        finally:
            await producer.stop()
        return elapsed, failed[0] + (lat.failed if lat else 0)

    return asyncio.run(main())


def run_kafka_python(spec: dict[str, Any], w: Workload, values: list[bytes], keys: list[bytes] | None,
                     lat: Latencies | None) -> tuple[float, int]:
    from kafka import KafkaProducer

    producer = KafkaProducer(**kafka_python_config(w, spec))
    topic = spec["topic"]
    producer.partitions_for(topic)
    failed = [0]

    def error(_: Any) -> None:
        failed[0] += 1

    send, mono = producer.send, time.monotonic
    pacer = Pacer(spec.get("rate") or 1.0)
    started = mono()
    for i, value in enumerate(values):
        key = None if keys is None else keys[i]
        if lat is not None:
            ahead = pacer.ahead(i)
            if ahead > 0.001:
                time.sleep(ahead)
            send(topic, value, key=key).add_callback(lat.done, mono()).add_errback(lat.error)
        else:
            send(topic, value, key=key).add_errback(error)
    producer.flush()
    elapsed = mono() - started
    producer.close()
    return elapsed, failed[0] + (lat.failed if lat else 0)


RUNNERS: dict[str, Callable[..., tuple[float, int]]] = {
    "josef": run_josef,
    "josef-async": run_josef_async,
    "josef-send_many": run_josef_send_many,
    "confluent-kafka": run_confluent,
    "aiokafka": run_aiokafka,
    "kafka-python": run_kafka_python,
}


def run_java(spec: dict[str, Any], w: Workload) -> dict[str, Any]:
    """ProducerPerformance in a JVM, a child of this process: its CPU and peak RSS are this
    process's children's."""
    sys.path.insert(0, str(ROOT))
    from tests.harness.kafka import run_tool

    latency = spec["mode"] == "latency"
    count = spec["records"]
    args = ["--topic", spec["topic"], "--num-records", str(count), "--record-size", str(w.size),
            "--throughput", str(int(spec["rate"])) if latency else "-1", "--reporting-interval", "600000"]
    if latency:
        args += ["--warmup-records", str(count // 10)]
    if w.keyed:
        args += ["--key-distribution", "range", "--record-key-range", str(KEYS)]
    args += ["--producer-props", *java_props(w, spec)]
    out = run_tool(JAVA_MAIN, *args, timeout=spec["timeout"], jvm_args=JAVA_JVM_ARGS)
    totals = [m for m in map(JAVA_TOTAL.match, out.stdout.splitlines()) if m]
    if not totals:
        raise RuntimeError(f"no result line from {JAVA_MAIN}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    total, last = totals[0], totals[-1]  # the steady-state line, when there is one, comes last
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent = int(total.group(1))
    result: dict[str, Any] = {
        "records": count, "failed": count - sent, "elapsed": sent / float(total.group(3)),
        "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
    }
    if latency:
        result["latency"] = {"p50": float(last.group(7)), "p99": float(last.group(9)),
                             "p99.9": float(last.group(10)), "max": float(last.group(6)), "count": int(last.group(1))}
    return result


def _peak_rss_kib() -> int:
    """This process's peak RSS: VmHWM, reset by exec (ru_maxrss is not: a child started by a big
    parent reports at least the parent's size)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(spec: dict[str, Any]) -> None:
    w = Workload(**spec["workload"])
    if spec["client"] == "java":
        print(json.dumps(run_java(spec, w)))
        return
    values, keys = _records(w, spec["records"])
    lat = Latencies(spec["records"]) if spec["mode"] == "latency" else None
    before = resource.getrusage(resource.RUSAGE_SELF)
    elapsed, failed = RUNNERS[spec["client"]](spec, w, values, keys, lat)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "records": spec["records"], "failed": failed, "elapsed": elapsed,
        # From just before the producer was created to its close: start-up counts, as the JVM's does.
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "rss_kib": _peak_rss_kib(),
    }
    if lat is not None:
        result["latency"] = lat.summary()
    print(json.dumps(result))


# -- the parent: the matrix, the broker, the report -------------------------------------------------


def _csv(text: str, cast: Callable[[str], Any] = str) -> list[Any]:
    return [cast(x.strip()) for x in text.split(",") if x.strip()]


def workloads(args: argparse.Namespace) -> list[Workload]:
    return [Workload(size, acks, compression, keyed == "keyed", partitions, settings)
            for size, acks, compression, keyed, partitions, settings in itertools.product(
                args.sizes, args.acks, args.compression, args.keys, args.partitions, args.settings)]


def plan(args: argparse.Namespace) -> Iterator[tuple[str, Workload, str, int]]:
    """(mode, workload, client, repeat) for every run, in the order they run."""
    for w in workloads(args):
        for r in range(args.repeat):
            clients = args.clients[r % len(args.clients):] + args.clients[: r % len(args.clients)]
            for client in clients:  # rotated each repeat, so no client always runs first
                yield "throughput", w, client, r
    if args.latency_seconds > 0:
        for w in workloads(args):
            if w.settings == "equal" or "equal" not in args.settings:
                for client in args.clients:
                    yield "latency", w, client, 0


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    with _ignore():
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line)
    with _ignore():
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
    versions: dict[str, str] = {}
    with _ignore():
        sys.path.insert(0, str(ROOT / "src"))
        import josef

        records = josef._core.records
        speedups = "C speedups" if records.encode_records is not records.encode_records_py else "pure Python"
        versions["josef"] = f"{josef.__version__} ({speedups})"
    with _ignore():
        import confluent_kafka

        versions["confluent-kafka"] = f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    with _ignore():
        import aiokafka

        versions["aiokafka"] = aiokafka.__version__
    with _ignore():
        import kafka

        versions["kafka-python"] = kafka.__version__
    with _ignore():
        sys.path.insert(0, str(ROOT))
        from tests.harness.kafka import KAFKA_VERSION, java_executable

        versions["Kafka (broker, ProducerPerformance)"] = KAFKA_VERSION
        java = subprocess.run([java_executable(), "-version"], capture_output=True, text=True, timeout=60)
        versions["java"] = java.stderr.splitlines()[0]
    info["versions"] = versions
    return info


class _ignore:
    """A section whose failure leaves a field out (a client not installed, no /proc)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far; None where /proc
    cannot say (not Linux, or no such process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(topic: str, broker_pid: int, data_dir: Path | None, timeout: float = 120.0) -> None:
    """After a run's topic is deleted: wait until its files are gone from ``data_dir`` (a broker deletes
    them in the background, a gigabyte at a time here, which would land in the next client's run) and the
    broker is idle (under a tenth of a core for half a second), up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    if data_dir is not None:
        while time.monotonic() < deadline and any(p.name.startswith(f"{topic}-") for p in data_dir.iterdir()):
            time.sleep(0.25)
    if not broker_pid:
        return
    last = process_cpu(broker_pid)
    while last is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        now = process_cpu(broker_pid)
        if now is None or now - last < 0.05:
            return
        last = now


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=spec["timeout"] + 60)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {spec['timeout'] + 60} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1][:300]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def parent(args: argparse.Namespace) -> None:
    runs = list(plan(args))
    if args.plan:
        for mode, w, client, r in runs:
            print(f"{mode:<10} {client:<16} repeat {r + 1}  {w.label()}")
        print(f"{len(runs)} runs of {args.records:,} records (throughput) / {args.latency_seconds} s (latency)")
        return
    sys.path.insert(0, str(ROOT))
    from tests.harness.kafka import ExternalKafka, KafkaCluster

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k not in ("child", "render")},
                           "machine": machine(), "runs": []}
    cluster: Any = None
    if args.bootstrap:
        endpoint: Any = ExternalKafka(args.bootstrap)
    else:
        # Deleted topics' files go at once, not a minute later in the middle of another client's run.
        cluster = endpoint = KafkaCluster(1, broker_config={"num.partitions": 1, "log.segment.delete.delay.ms": 0})
        cluster.start()
    broker_pid = args.broker_pid if cluster is None else next(iter(cluster.pids.values()))
    data_dir = Path(args.broker_data_dir) if cluster is None and args.broker_data_dir else None
    if cluster is not None:
        data_dir = cluster.workdir / "node1" / "data"
    try:
        for n, (mode, w, client, r) in enumerate(runs, 1):
            topic = f"bench-{uuid.uuid4().hex[:10]}"
            endpoint.create_topic(topic, w.partitions, timeout=120)
            latency = mode == "latency"
            records = int(args.latency_rate * args.latency_seconds) if latency else args.records
            spec = {"client": client, "workload": asdict(w), "bootstrap": endpoint.bootstrap_servers,
                    "topic": topic, "records": records, "mode": mode, "rate": args.latency_rate if latency else 0,
                    "equal_batch_size": args.equal_batch_size, "equal_linger_ms": args.equal_linger_ms,
                    "timeout": args.timeout}
            broker_before = process_cpu(broker_pid) if broker_pid else None
            result = run_child(spec)
            broker_after = process_cpu(broker_pid) if broker_pid else None
            if broker_before is not None and broker_after is not None and "error" not in result:
                # The broker's work for this client's records (its idle start-up and shutdown included).
                result["broker_cpu"] = broker_after - broker_before
            with _ignore():
                endpoint.delete_topic(topic, timeout=120)
                settle(topic, broker_pid, data_dir)
            doc["runs"].append({"mode": mode, "client": client, "repeat": r, "workload": asdict(w), **result})
            print(f"[{n}/{len(runs)}] {mode} {client} {w.label()}: {_brief(result)}", flush=True)
            (out_dir / "results.json").write_text(json.dumps(doc, indent=1))  # kept as it goes
    finally:
        if cluster is not None:
            cluster.stop()
    render(doc, out_dir)


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"FAILED: {result['error']}"
    text = f"{result['records'] / result['elapsed']:,.0f} records/s, failed {result['failed']}"
    if "latency" in result:
        text += ", p99 {p99:.2f} ms".format(**result["latency"])
    return text


# -- rendering: RESULTS.md and results.png ------------------------------------------------------------


def _summaries(doc: dict[str, Any]) -> dict[Workload, dict[str, dict[str, Any]]]:
    """Per workload and client: median and best records/s over the repeats, median CPU and RSS."""
    grouped: dict[Workload, dict[str, list[dict[str, Any]]]] = {}
    for run in doc["runs"]:
        if run["mode"] != "throughput":
            continue
        grouped.setdefault(Workload(**run["workload"]), {}).setdefault(run["client"], []).append(run)
    out: dict[Workload, dict[str, dict[str, Any]]] = {}
    for w, clients in grouped.items():
        for client, runs in clients.items():
            ok = [r for r in runs if "error" not in r and r["failed"] == 0]
            if not ok:
                errors = [r.get("error") or f"{r['failed']} records failed" for r in runs]
                out.setdefault(w, {})[client] = {"error": errors[0], "runs": len(runs)}
                continue
            rates = [r["records"] / r["elapsed"] for r in ok]
            out.setdefault(w, {})[client] = {
                "median": statistics.median(rates), "best": max(rates), "runs": len(ok),
                "mb": statistics.median(rates) * w.size / 1024 / 1024,
                "cpu_per_m": statistics.median(r["cpu"] / r["records"] * 1e6 for r in ok),
                "broker_cpu_per_m": statistics.median(r["broker_cpu"] / r["records"] * 1e6 for r in ok)
                if all("broker_cpu" in r for r in ok) else None,
                "rss_mib": statistics.median(r["rss_kib"] for r in ok) / 1024,
            }
    return out


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' results as one: the first's settings and machine, every client, every run."""
    merged = {**docs[0], "args": dict(docs[0]["args"]), "runs": [run for doc in docs for run in doc["runs"]]}
    clients = {client for doc in docs for client in doc["args"]["clients"]}
    merged["args"]["clients"] = [client for client in CLIENTS if client in clients]
    return merged


def render(doc: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = _summaries(doc)
    m = doc["machine"]
    lines = ["# josef benchmarks: producers side by side", ""]
    lines += [f"Generated by `bench/bench_producers.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
              "raw runs in `results.json`, chart in `results.png`.", "",
              "## Machine", ""]
    lines += [f"- CPU: {m.get('cpu', '?')}, {m.get('cpus')} logical CPUs; memory {m.get('memory_gib', '?')} GiB",
              f"- {m.get('platform')}, Python {m.get('python')}",
              f"- load average when the run started: {', '.join(f'{x:.2f}' for x in m.get('load_average', []))}"]
    lines += [f"- {name}: {version}" for name, version in m.get("versions", {}).items()]
    a = doc["args"]
    counts = sorted({r["records"] for r in doc["runs"] if r["mode"] == "throughput"}) or [a["records"]]
    lines += ["", "## Method", "",
              f"One broker, one fresh topic per run; each run in its own process; "
              f"{' or '.join(f'{n:,}' for n in counts)} records per throughput run (under each table), "
              f"{a['repeat']} repeats (median and best records/s; CPU and RSS are medians). "
              "CPU is user + system time of every thread from before the producer is created to its close "
              "(java: the whole JVM, start included). Broker CPU is the broker JVM's, from the client's "
              "start to its end (Linux, a broker started here or named by --broker-pid): on a machine the "
              "broker shares, what one client's requests cost it leaves the other less. Between runs the script "
              "waits until the broker has deleted the last run's topic and is idle. \"equal settings\": "
              f"batch size {a['equal_batch_size']:,} B and linger {a['equal_linger_ms']} ms for every client; "
              "\"default settings\": each client's own defaults (acks, idempotence and compression as the "
              "workload says). Ratios compare medians. Note: josef, Java and kafka-python reserve a whole "
              "batch size of buffer.memory (32 MiB by default) for each open batch, so equal settings with "
              "1 MB batches on 120 or 600 partitions include waits for memory; librdkafka does not reserve.",
              ""]
    lines += ["## Throughput", ""]
    for w, clients in summaries.items():
        ref = clients.get(REFERENCE, {}).get("median")
        base = clients.get("josef", {}).get("median")
        runs_of = [r["records"] for r in doc["runs"] if r["mode"] == "throughput" and Workload(**r["workload"]) == w]
        lines += [f"### {w.label()}", "", f"{max(runs_of):,} records per run.", "",
                  "| client | records/s (median) | best | MB/s | CPU s / M records | broker CPU s / M | "
                  f"peak RSS MiB | vs {REFERENCE} | vs josef |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for client in doc["args"]["clients"]:
            s = clients.get(client)
            if s is None:
                continue
            if "error" in s:
                lines.append(f"| {client} | failed: {s['error']} | | | | | | | |")
                continue
            vs_ref = f"{s['median'] / ref:.2f}x" if ref else "-"
            vs_josef = f"{s['median'] / base:.2f}x" if base else "-"
            broker = "-" if s.get("broker_cpu_per_m") is None else f"{s['broker_cpu_per_m']:.2f}"
            lines.append(f"| {client} | {s['median']:,.0f} | {s['best']:,.0f} | {s['mb']:.1f} | "
                         f"{s['cpu_per_m']:.2f} | {broker} | {s['rss_mib']:.0f} | {vs_ref} | {vs_josef} |")
        lines.append("")
    latency_runs = [r for r in doc["runs"] if r["mode"] == "latency"]
    if latency_runs:
        lines += ["## Latency at a fixed rate", "",
                  f"{a['latency_rate']:,} records/s for {a['latency_seconds']} s, the first 10 % as warm-up; "
                  "send to acknowledgement, ms (java: its own whole-ms figures).", "",
                  "| workload | client | p50 | p99 | p99.9 | max | p99 vs confluent-kafka |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        refs = {json.dumps(r["workload"]): r["latency"]["p99"] for r in latency_runs
                if r["client"] == REFERENCE and "latency" in r}
        for r in latency_runs:
            label = Workload(**r["workload"]).label()
            if "latency" not in r:
                lines.append(f"| {label} | {r['client']} | failed: {r.get('error', r.get('failed'))} | | | | |")
                continue
            lat, ref = r["latency"], refs.get(json.dumps(r["workload"]))
            ratio = f"{lat['p99'] / ref:.2f}x" if ref else "-"
            lines.append(f"| {label} | {r['client']} | {lat['p50']:.2f} | {lat['p99']:.2f} | {lat['p99.9']:.2f} | "
                         f"{lat['max']:.2f} | {ratio} |")
        lines.append("")
    if _chart(summaries, doc["args"]["clients"], out_dir / "results.png"):
        lines += ["## Chart", "", "![records/s by client and workload](results.png)", ""]
    (out_dir / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {out_dir / 'RESULTS.md'}")


def _chart(summaries: dict[Workload, dict[str, dict[str, Any]]], clients: list[str], path: Path) -> bool:
    """Median records/s per workload (rows) and client (bars), best as a tick; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: matplotlib is not installed (pip install 'josef[bench]')", file=sys.stderr)
        return False
    rows = list(summaries.items())
    if not rows:
        return False
    bar = 0.8 / len(clients)
    fig, ax = plt.subplots(figsize=(11, 1.0 + 0.16 * len(rows) * len(clients) + 0.3 * len(rows)), dpi=100)
    colors = plt.get_cmap("tab10")
    for c, client in enumerate(clients):
        ys, medians, bests = [], [], []
        for i, (_, per_client) in enumerate(rows):
            s = per_client.get(client)
            if s is None or "error" in s:
                continue
            ys.append(i + c * bar)
            medians.append(s["median"])
            bests.append(s["best"])
        ax.barh(ys, medians, height=bar, color=colors(c), label=client)
        ax.plot(bests, ys, "|", color="black", markersize=6)
    ax.set_yticks([i + 0.4 - bar / 2 for i in range(len(rows))])
    ax.set_yticklabels([w.label().replace(", ", "\n", 2) for w, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("records/s (median; | = best of the repeats)")
    ax.set_title("Producers side by side, one broker")
    ax.grid(True, axis="x", which="both", color="#e5e5e5")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


QUICK = {"sizes": [100], "acks": ["1", "all"], "compression": ["none"], "keys": ["keyless"], "partitions": [6],
         "settings": ["default"], "records": 200_000, "latency_seconds": 5.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster; default: start a 1-node Kafka (tests/harness)")
    parser.add_argument("--quick", action="store_true",
                        help="100 B, acks=1 and all, no compression, keyless, 6 partitions, defaults, 200,000 records")
    parser.add_argument("--clients", type=_csv, default=list(CLIENTS), help="comma-separated (default: all)")
    parser.add_argument("--sizes", type=functools.partial(_csv, cast=int), default=[100, 1024])
    parser.add_argument("--acks", type=_csv, default=["1", "all"])
    parser.add_argument("--compression", type=_csv, default=["none", "lz4", "zstd"])
    parser.add_argument("--keys", type=_csv, default=["keyless", "keyed"], help="keyless,keyed")
    parser.add_argument("--partitions", type=functools.partial(_csv, cast=int), default=[6, 120, 600])
    parser.add_argument("--settings", type=_csv, default=["default", "equal"], help="default,equal")
    parser.add_argument("--records", type=int, default=2_000_000, help="per throughput run (default 2,000,000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--equal-batch-size", type=int, default=1_000_000)
    parser.add_argument("--equal-linger-ms", type=int, default=5)
    parser.add_argument("--latency-rate", type=float, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="0: no latency runs")
    parser.add_argument("--timeout", type=float, default=1800, help="per run, seconds")
    parser.add_argument("--broker-pid", type=int, default=0,
                        help="with --bootstrap: the broker's pid on this machine, to measure its CPU per run")
    parser.add_argument("--broker-data-dir", help="with --bootstrap: the broker's log.dirs, to wait until a "
                        "deleted topic's files are gone before the next run")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="folder for RESULTS.md etc.")
    parser.add_argument("--plan", action="store_true", help="list the runs and stop")
    parser.add_argument("--render", metavar="RESULTS.json", nargs="+",
                        help="only redraw RESULTS.md and the chart from results files (several: their runs merged)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    if "--quick" in sys.argv:  # the quick subset's values become the defaults: flags given still win
        parser.set_defaults(**QUICK)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.render:
        render(merge([json.loads(Path(path).read_text()) for path in args.render]), Path(args.out))
        return
    if not set(args.keys) <= {"keyless", "keyed"} or not set(args.settings) <= {"default", "equal"}:
        parser.error("--keys takes keyless,keyed and --settings default,equal")
    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; known: {', '.join(CLIENTS)}")
    if args.repeat < 1 or args.records < 1:
        parser.error("--repeat and --records must be at least 1")
    parent(args)


if __name__ == "__main__":
    main()
