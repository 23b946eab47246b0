"""How fast the mock cluster accepts records, next to how fast josef produces into it (issue 7).

    python -m tests.testing.bench_mock [records] [record_size]

Prints three rates: (1) josef producing into an embedded mock (same process, so both share the GIL);
(2) the mock alone, fed pre-encoded 16 KiB batches by a pipelining raw client in a subprocess; (3) their
ratio.  The issue asks for (2) >= 2 x (1).
"""

from __future__ import annotations

import multiprocessing
import sys
import time

from josef import Producer
from josef._core.protocol import ApiKey, FrameReader, encode_request
from josef._core.records import encode_batch
from josef.testing import MockCluster


def josef_rate(n: int, size: int) -> float:
    with MockCluster(brokers=1, topics={"bench": 1}) as cluster:
        value = b"x" * size
        with Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 5, "acks": 1}) as p:
            p.send_sync("bench", value, partition=0)
            start = time.perf_counter()
            for _ in range(n):
                p.send("bench", value, partition=0)
            p.flush(60)
            return n / (time.perf_counter() - start)


def _blast(address: tuple[str, int], n: int, size: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import socket

    per_batch = max(1, 16384 // (size + 10))
    records = [(1_700_000_000_000, None, b"x" * size, None)] * per_batch
    batch, _ = encode_batch(records, base_timestamp=1_700_000_000_000, max_timestamp=1_700_000_000_000)
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 5000,
            "topic_data": [{"name": "bench", "partition_data": [{"index": 0, "records": bytes(batch)}]}]}
    frames = [encode_request(ApiKey.PRODUCE, 9, i, "bench", body) for i in range(64)]
    sock = socket.create_connection(address)
    reader = FrameReader()
    requests = n // per_batch
    start = time.perf_counter()
    sent = received = 0
    while received < requests:
        while sent < requests and sent - received < 32:
            sock.sendall(frames[sent % 64])
            sent += 1
        reader.feed(sock.recv(1 << 20))
        while reader.next_frame() is not None:
            received += 1
    out.put(requests * per_batch / (time.perf_counter() - start))


def mock_rate(n: int, size: int) -> float:
    with MockCluster(brokers=1, topics={"bench": 1}, retention_bytes=16 * 1024 * 1024) as cluster:
        out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        proc = multiprocessing.Process(target=_blast, args=(cluster.brokers[1], n, size, out))
        proc.start()
        rate: float = out.get(timeout=120)
        proc.join()
        return rate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    producer = josef_rate(n, size)
    mock = mock_rate(n, size)
    print(f"josef -> embedded mock: {producer:,.0f} records/s ({size} B values)")
    print(f"mock alone (raw client): {mock:,.0f} records/s")
    print(f"ratio: {mock / producer:.1f}x")


if __name__ == "__main__":
    main()
