"""AsyncProducer: the same core, awaited (real broker, read back with confluent-kafka)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from josef import AsyncProducer
from josef.errors import RecordTooLargeError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_async_producer_delivers_in_order(kafka: Any) -> None:
    topic = f"aio-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 3)

    async def main() -> list[Any]:
        async with AsyncProducer(bootstrap_servers=kafka.bootstrap_servers, max_request_size=10_000) as producer:
            first = await producer.send_and_wait(topic, b"first", partition=0)  # metadata via the executor
            assert first.offset == 0
            pending = [await producer.send(topic, f"{i}".encode(), partition=i % 3) for i in range(10_000)]
            too_big = await producer.send(topic, bytes(20_000))
            results = await asyncio.gather(*pending)
            try:
                await too_big
            except RecordTooLargeError:
                pass
            else:
                raise AssertionError("an oversized record must fail")
            assert await producer.flush(10) == 0
            assert await producer.partitions_for(topic) == [0, 1, 2]
            return results

    results = asyncio.run(main())
    assert [m.partition for m in results[:3]] == [0, 1, 2]
    messages = kafka.consume_all(topic, 10_001)
    assert len(messages) == 10_001
    for partition in range(3):
        values = [int(m.value()) for m in messages if m.partition() == partition and m.value() != b"first"]
        assert values == list(range(partition, 10_000, 3))
    offsets = {(m.partition, m.offset) for m in results}
    assert offsets == {(m.partition(), m.offset()) for m in messages if m.value() != b"first"}


def test_start_runs_init_transactions_and_stop_closes(kafka: Any) -> None:
    topic = f"aio-txn-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 1)

    async def main() -> None:
        txn = AsyncProducer(bootstrap_servers=kafka.bootstrap_servers, transactional_id=f"tx-{topic}")
        async with txn as p, p.transaction():  # would raise IllegalStateError had start() not initialized
            await p.send(topic, b"committed", headers={"h": "v"})
        plain = AsyncProducer(bootstrap_servers=kafka.bootstrap_servers)
        await plain.start()
        await plain.start()  # again: nothing happens
        metadata = await plain.send_and_wait(topic, b"plain", partition=0, timestamp_ms=1_700_000_000_000)
        assert metadata.partition == 0
        await plain.stop()
        try:
            await plain.send(topic, b"late")
        except Exception as exc:
            assert type(exc).__name__ == "ProducerClosedError"
        else:
            raise AssertionError("send() after stop() must fail")

    asyncio.run(main())
    messages = kafka.consume_all(topic, expected_count=2, isolation_level="read_committed")
    assert [(m.value(), m.headers()) for m in messages] == [(b"committed", [("h", b"v")]), (b"plain", None)]
    assert messages[1].timestamp()[1] == 1_700_000_000_000


USER_SCRIPT = """\
import asyncio
from josef import AsyncProducer, RecordMetadata


async def main() -> RecordMetadata:
    async with AsyncProducer(bootstrap_servers="127.0.0.1:9092") as producer:
        pending = await producer.send("orders", b"v", key=b"k", headers=[("trace", b"1")], partition=0)
        await producer.send("orders", b"v", headers={{"a": "b"}}, timestamp_ms=1, callback=lambda m, e: None)
        return await pending


asyncio.run(main())
producer = AsyncProducer(bootstrap_servers="127.0.0.1:9092")
{extra}
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(source)
    env = {**os.environ, "MYPYPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.10", str(script)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )


def test_send_keywords_are_typed_for_mypy_strict(tmp_path: Path) -> None:
    good = _mypy(tmp_path, USER_SCRIPT.format(extra=""))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _mypy(tmp_path, USER_SCRIPT.format(extra='asyncio.run(producer.send("orders", b"v", partiton=1))'))
    assert bad.returncode == 1
    assert 'Unexpected keyword argument "partiton"' in bad.stdout
    wrong_type = _mypy(tmp_path, USER_SCRIPT.format(extra='asyncio.run(producer.send("orders", b"v", partition="1"))'))
    assert wrong_type.returncode == 1 and "partition" in wrong_type.stdout


def test_a_sync_producers_future_can_be_awaited_and_a_cancelled_wait_is_harmless() -> None:
    """AsyncProducer.send() hands back the record's own future, awaitable; a Producer's is the same
    object, so asyncio code may await it too. Cancelling a wait leaves the record alone."""
    from josef import Producer, RecordFuture
    from josef.testing import MockCluster

    async def main(cluster: MockCluster) -> None:
        with Producer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=0) as producer:
            future = producer.send("t", b"v", partition=1)
            assert isinstance(future, RecordFuture)
            metadata = await future
            assert (metadata.topic, metadata.partition, metadata.offset) == ("t", 1, 0)
            cluster.set_rtt(0.3)  # the next answer comes late: a wait is cancelled before it
            slow = producer.send("t", b"w", partition=1)
            started = asyncio.Event()
            waiting = asyncio.ensure_future(_wait(slow, started))
            await started.wait()  # the task now waits on the record
            assert not slow.done()
            waiting.cancel()
            assert (await slow).offset == 1  # resolved later; the cancelled waiter was skipped
            assert waiting.cancelled()

    async def _wait(future: Any, started: asyncio.Event) -> Any:
        started.set()
        return await future

    with MockCluster(topics={"t": 2}) as cluster:
        asyncio.run(main(cluster))
