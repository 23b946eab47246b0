"""CPU per ``send()`` in the calling thread: the send path alone, in one process.

A Producer writes to an in-process :class:`josef.testing.MockCluster` (or ``--bootstrap``); the figure
is the caller thread's CPU time (``time.thread_time``) per call, so the sender thread and the mock
broker, which share the process, do not count except through the GIL.

    python bench/bench_send_path.py --records 300000 --size 100 --repeats 5
    python bench/bench_send_path.py --keyed --async
    python bench/bench_send_path.py --profile > profile.txt     # cProfile of one pass
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from typing import Any

from josef import AsyncProducer, Producer
from josef.testing import MockCluster


def _delivered(metadata: Any, error: Any) -> None:
    pass


def one_pass(
    producer: Any, topic: str, values: list[bytes], keys: list[bytes] | None, callback: bool = False
) -> tuple[float, float]:
    """(caller CPU µs per send(), wall µs per send()) for one pass, then a flush."""
    send = producer.send
    cpu, wall = time.thread_time(), time.perf_counter()
    if callback:
        for value in values:
            send(topic, value, callback=_delivered)
    elif keys is None:
        for value in values:
            send(topic, value)
    else:
        for value, key in zip(values, keys, strict=True):
            send(topic, value, key)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    producer.flush()
    return cpu * 1e6 / len(values), wall * 1e6 / len(values)


async def one_async_pass(
    producer: AsyncProducer, topic: str, values: list[bytes], keys: list[bytes] | None
) -> tuple[float, float]:
    send = producer.send
    cpu, wall = time.thread_time(), time.perf_counter()
    if keys is None:
        for value in values:
            await send(topic, value)
    else:
        for value, key in zip(values, keys, strict=True):
            await send(topic, value, key)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    await producer.flush()
    return cpu * 1e6 / len(values), wall * 1e6 / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--keyed", action="store_true", help="10,000 distinct keys")
    parser.add_argument("--callback", action="store_true", help="a delivery callback with every send() (sync only)")
    parser.add_argument("--async", dest="use_async", action="store_true", help="AsyncProducer, awaiting each send()")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one pass instead")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    values = [bytes([i % 251]) * args.size for i in range(args.records)]
    keys = [b"key-%d" % (i % 10_000) for i in range(args.records)] if args.keyed else None
    topic = "bench"
    config: dict[str, Any] = {"acks": 1, "linger.ms": 5}
    config.update(item.split("=", 1) for item in args.config)
    cluster = None
    if args.bootstrap is None:
        cluster = MockCluster(brokers=1, topics={topic: args.partitions})
        cluster.start()
        config["bootstrap.servers"] = cluster.bootstrap_servers
    else:
        config["bootstrap.servers"] = args.bootstrap
    try:
        if args.use_async:
            figures = asyncio.run(_run_async(config, topic, values, keys, args.repeats))
        else:
            with Producer(config) as producer:
                producer.partitions_for(topic)
                one_pass(producer, topic, values[:1000], None if keys is None else keys[:1000])  # warm up
                if args.profile:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    one_pass(producer, topic, values, keys)
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                    return
                figures = [one_pass(producer, topic, values, keys, args.callback) for _ in range(args.repeats)]
    finally:
        if cluster is not None:
            cluster.stop()
    cpus = [cpu for cpu, _ in figures]
    walls = [wall for _, wall in figures]
    mode = "async" if args.use_async else "sync with callbacks" if args.callback else "sync"
    print(
        f"{mode} {'keyed' if keys else 'keyless'} {args.size} B: caller CPU per send() median "
        f"{statistics.median(cpus):.2f} µs best {min(cpus):.2f} µs; wall median {statistics.median(walls):.2f} µs "
        f"best {min(walls):.2f} µs ({1e6 / statistics.median(walls):,.0f} records/s queued)"
    )


async def _run_async(
    config: dict[str, Any], topic: str, values: list[bytes], keys: list[bytes] | None, repeats: int
) -> list[tuple[float, float]]:
    async with AsyncProducer(config) as producer:
        await producer.partitions_for(topic)
        await one_async_pass(producer, topic, values[:1000], None if keys is None else keys[:1000])
        return [await one_async_pass(producer, topic, values, keys) for _ in range(repeats)]


if __name__ == "__main__":
    main()
