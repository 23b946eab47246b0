"""AsyncProducer: the same core, awaited (real broker, read back with confluent-kafka)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

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


def test_a_full_buffer_is_awaited_on_the_loop_not_in_a_thread() -> None:
    """Records sent while buffer.memory is full wait on the event loop for the sender thread to give
    memory back (no executor hop per record), the loop keeps running meanwhile, every record is
    delivered (in order when awaited in turn); with no memory coming free the wait ends after
    max.block.ms as send()'s does."""
    from josef.errors import BufferExhaustedError
    from josef.testing import ApiKey, MockCluster

    async def no_executor(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a send waited in the executor")

    config = {"batch.size": 1_000, "buffer.memory": 5_000, "linger.ms": 0, "max.block.ms": 300, "acks": 1}

    async def main(cluster: MockCluster) -> None:
        async with AsyncProducer({"bootstrap.servers": cluster.bootstrap_servers, **config}) as producer:
            await producer.partitions_for("t")
            producer._run = no_executor  # type: ignore[method-assign]  # taken back before close()
            ticks = [0]

            async def ticker() -> None:
                while True:
                    ticks[0] += 1
                    await asyncio.sleep(0.005)

            tick_task = asyncio.create_task(ticker())
            with cluster.hold(ApiKey.PRODUCE) as held:
                sends = asyncio.gather(*(producer.send("t", b"%03d" % i + b"v" * 900, partition=0) for i in range(40)))
                await asyncio.to_thread(held.wait, 1)
                before = ticks[0]
                await asyncio.sleep(0.05)
                assert ticks[0] > before  # the loop runs while sends wait for memory
                assert not sends.done()
            futures = await sends
            metadata = [await f for f in futures]
            assert sorted(m.offset for m in metadata) == list(range(40))  # sent together: any order
            assert sorted(r.value[:3] for r in cluster.records("t", 0)) == [b"%03d" % i for i in range(40)]
            # Awaited one after another, records keep their order through the waits.
            with cluster.hold(ApiKey.PRODUCE) as held:
                async def in_turn() -> list[Any]:
                    return [await producer.send("t", b"%03d" % i + b"w" * 900, partition=0) for i in range(20)]

                ordered = asyncio.create_task(in_turn())
                await asyncio.to_thread(held.wait, 1)
            offsets = [(await f).offset for f in await ordered]
            assert offsets == list(range(40, 60))

            with cluster.hold(ApiKey.PRODUCE):
                started = asyncio.get_running_loop().time()
                with pytest.raises(BufferExhaustedError, match="max.block.ms"):
                    await asyncio.gather(*(producer.send("t", b"x" * 900, partition=0) for _ in range(10)))
                waited = asyncio.get_running_loop().time() - started
                assert 0.25 < waited < 2.0
            tick_task.cancel()
            del producer._run

    with MockCluster(brokers=1, topics={"t": 1}) as cluster:
        asyncio.run(main(cluster))
