"""Smoke test of an installed josef wheel (run by .ci/wheel-smoke in a fresh venv, outside the source tree)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import josef
from josef import AsyncProducer, Producer, speedups
from josef.testing import MockCluster

here = Path(josef.__file__).resolve()
assert "site-packages" in here.parts, f"josef imported from {here}, not from the installed wheel"
assert (here.parent / "py.typed").exists(), "py.typed missing from the wheel"
assert speedups.AVAILABLE, f"the wheel's C speedups did not load: {speedups.DESCRIPTION}"

with MockCluster(topics={"smoke": 3}) as cluster:
    with Producer(bootstrap_servers=cluster.bootstrap_servers, compression_type="zstd", linger_ms=1) as producer:
        futures = [producer.send("smoke", f"v{i}".encode(), key=f"k{i % 7}") for i in range(1000)]
        assert producer.flush(30) == 0
        assert all(f.exception(0) is None for f in futures)

    async def send_async() -> int:
        async with AsyncProducer(bootstrap_servers=cluster.bootstrap_servers) as aio:
            metadata = await aio.send_and_wait("smoke", b"async", partition=1)
            return metadata.partition

    assert asyncio.run(send_async()) == 1
    stored = sum(len(cluster.records("smoke", p)) for p in range(3))
    assert stored == 1001, stored

print(f"wheel smoke test passed: josef {josef.__version__} on Python {sys.version.split()[0]}")
