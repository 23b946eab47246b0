"""The asyncio front end: the same core as :class:`josef.Producer`, awaited instead of blocked on.

``AsyncProducer`` owns a ``Producer`` and adds no logic of its own: a wait for buffer memory is
awaited on the loop (the sender thread says when memory comes back); what else could block it
(waiting for metadata, flush, close, transaction calls) runs in the loop's default executor;
everything else is the synchronous fast path.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from josef import speedups
from josef._core.metrics import Metric
from josef.bulk import SendManyResult
from josef.future import DeliveryCallback, RecordFuture, RecordMetadata
from josef.producer import Producer

# Headers as send() takes them: (name, value) pairs or a mapping; values bytes, str or None.
HeadersArg = Mapping[str, "bytes | str | None"] | Iterable[tuple[str, "bytes | str | None"]] | None


# What AsyncProducer.send() returns: the record's future, awaitable (a RecordFuture is: its
# ``__await__`` does not block the loop). One name for asyncio users, no second object per record.
AsyncRecordFuture = RecordFuture

if speedups.module is not None:  # AsyncProducer.send()'s already-done awaitable is a coroutine to asyncio
    Coroutine.register(speedups.module.Ready)


def _estimated_bytes(values: Any, unknown: int) -> int:
    """About how much buffer memory ``send_many(values)`` takes (``unknown`` when it cannot tell)."""
    if not isinstance(values, (list, tuple)):
        return unknown
    first = values[0] if values else None
    width = len(first) if isinstance(first, (bytes, bytearray, str)) else 64
    return len(values) * (width + 64)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _resolve_threadsafe(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    try:
        loop.call_soon_threadsafe(_resolve, future)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


class AsyncProducer:
    """A Kafka producer for asyncio, configured exactly like :class:`josef.Producer`::

    async with AsyncProducer(bootstrap_servers="127.0.0.1:9092") as producer:
        pending = await producer.send("orders", b"{...}", key=b"42")
        metadata = await pending            # or: await producer.send_and_wait(...)
    """

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.producer = Producer(config, **kwargs)
        self._started = False
        if speedups.module is not None and self.producer.try_send_ready is not None \
                and type(self).send is AsyncProducer.send:
            # send() as one C call: the method below, less the Python frame that costs a fifth of an
            # ``await send()``. A subclass's own send() is left alone.
            self.send = speedups.module.AsyncSend(  # type: ignore[method-assign]
                self.producer, self._send, AsyncProducer.send.__get__(self)
            )

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def start(self) -> None:
        """Get ready to send (aiokafka's ``start()``): with ``transactional.id``, runs
        ``init_transactions()``. ``async with`` calls it; calling it again does nothing."""
        if self._started:
            return
        if self.producer.config["transactional.id"] is not None:
            await self.init_transactions()
        self._started = True

    async def stop(self, timeout: float | None = None) -> None:
        """aiokafka's name for :meth:`close`."""
        await self.close(timeout)

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: HeadersArg = None,
        callback: DeliveryCallback | None = None,
    ) -> Coroutine[Any, Any, AsyncRecordFuture]:
        """Queue a record: ``await send(...)`` returns once it is queued; await the result for its metadata.

        On the event loop when nothing has to be waited for (the same call as :meth:`josef.Producer.send`,
        no executor hop); a wait for buffer memory is awaited on the loop, one for metadata in the loop's
        executor. In the
        common case (see ``Producer.try_send``) the record is queued by the call itself and what it
        returns is already done: awaiting costs next to nothing, and no coroutine is made per record.
        Either way, await it (or pass it to ``asyncio.create_task``), as any coroutine."""
        ready = self.producer.try_send_ready
        if ready is not None:
            queued = ready(topic, value, key, partition, timestamp_ms, headers, callback)
            if queued is not None:
                return queued  # a Ready: a Coroutine (registered above)
        return self._send(topic, value, key, partition, timestamp_ms, headers, callback)

    async def _send(self, topic: str, value: Any, key: Any, partition: int | None, timestamp_ms: int | None,
                    headers: HeadersArg, callback: DeliveryCallback | None) -> AsyncRecordFuture:
        """send() when the call could not queue the record by itself: perhaps in the executor."""
        producer = self.producer
        try_send = producer.try_send
        if try_send is not None:
            future = try_send(topic, value, key, partition, timestamp_ms, headers, callback)
            if future is not None:
                return future
        if producer.can_send_without_blocking(topic) or await self._memory_freed(topic):
            return producer.send(
                topic, value, key, partition=partition, timestamp_ms=timestamp_ms, headers=headers, callback=callback
            )
        return await self._run(  # type: ignore[no-any-return]
            producer.send, topic, value, key,
            partition=partition, timestamp_ms=timestamp_ms, headers=headers, callback=callback,
        )

    async def _memory_freed(self, topic: str) -> bool:
        """Wait on the loop, without parking a thread, for buffer memory to come free (the sender
        thread says when); True once a record of ``topic`` can be queued at once. False when the topic's
        metadata is still unknown or the producer is closed: the executor path waits for (or raises)
        those. Raises ``BufferExhaustedError`` after ``max.block.ms``, as ``send()`` does."""
        producer = self.producer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + producer.config["max.block.ms"] / 1000
        while not producer.can_send_without_blocking(topic):
            if not producer.waits_only_for_memory(topic):
                return False
            if loop.time() >= deadline:
                raise producer.memory_wait_timed_out()
            freed = loop.create_future()
            timer = loop.call_at(deadline, _resolve, freed)
            producer.notify_when_memory_freed(functools.partial(_resolve_threadsafe, loop, freed))
            try:
                await freed
            finally:
                timer.cancel()
        return True

    async def send_many(
        self, topic: str, values: Any, keys: Any = None, *, per_record_futures: bool = False, **kwargs: Any
    ) -> asyncio.Future[SendManyResult] | list[AsyncRecordFuture]:
        """:meth:`josef.Producer.send_many`; returns once the records are queued. Await the returned
        future for the :class:`~josef.bulk.SendManyResult` (or each of the per-record futures).
        Runs on the event loop when nothing has to be waited for, in the executor otherwise."""
        loop = asyncio.get_running_loop()
        send_many = functools.partial(
            self.producer.send_many, topic, values, keys, per_record_futures=per_record_futures, **kwargs
        )
        # Inline only when the records fit in free buffer memory: a call that has to wait must not block the loop.
        size = _estimated_bytes(values, self.producer.config["buffer.memory"])
        if self.producer.can_send_without_blocking(topic, size):
            queued = send_many()
        else:
            queued = await loop.run_in_executor(None, send_many)
        if isinstance(queued, list):
            return queued
        return asyncio.wrap_future(queued, loop=loop)

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: HeadersArg = None,
        callback: DeliveryCallback | None = None,
    ) -> RecordMetadata:
        """``send()`` and await the record's metadata."""
        pending = await self.send(
            topic, value, key, partition=partition, timestamp_ms=timestamp_ms, headers=headers, callback=callback
        )
        return await pending

    async def flush(self, timeout: float | None = None) -> int:
        result: int = await self._run(self.producer.flush, timeout)
        return result

    async def partitions_for(self, topic: str) -> list[int]:
        result: list[int] = await self._run(self.producer.partitions_for, topic)
        return result

    def metrics(self) -> list[Metric]:
        return self.producer.metrics()

    def metric(self, name: str, group: str | None = None, **tags: str) -> float:
        return self.producer.metric(name, group, **tags)

    async def init_transactions(self, timeout: float | None = None) -> None:
        await self._run(self.producer.init_transactions, timeout)

    def begin_transaction(self) -> None:
        self.producer.begin_transaction()

    async def send_offsets_to_transaction(
        self, offsets: Any, group_metadata: Any, timeout: float | None = None
    ) -> None:
        await self._run(self.producer.send_offsets_to_transaction, offsets, group_metadata, timeout)

    async def commit_transaction(self, timeout: float | None = None) -> None:
        await self._run(self.producer.commit_transaction, timeout)

    async def abort_transaction(self, timeout: float | None = None) -> None:
        await self._run(self.producer.abort_transaction, timeout)

    @asynccontextmanager
    async def transaction(self, timeout: float | None = None) -> AsyncIterator[AsyncProducer]:
        """Commits when the block ends normally, aborts when it raises."""
        self.begin_transaction()
        try:
            yield self
        except BaseException:
            await self.abort_transaction(timeout)
            raise
        await self.commit_transaction(timeout)

    async def close(self, timeout: float | None = None) -> None:
        await self._run(self.producer.close, timeout)

    async def __aenter__(self) -> AsyncProducer:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
