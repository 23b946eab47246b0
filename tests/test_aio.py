"""AsyncProducer: the same core, awaited (real broker, read back with confluent-kafka)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from josef import AsyncProducer
from josef.errors import RecordTooLargeError


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
