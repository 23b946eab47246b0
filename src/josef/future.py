"""Delivery results: one completion per batch, one tiny future per record.

A ``concurrent.futures.Future`` per record costs a lock and a condition each; at hundreds of
thousands of records a second that is most of the send path. Instead every batch owns one
:class:`BatchResult`, and a :class:`RecordFuture` is just (batch result, index), as in the
Java client's ``FutureRecordMetadata``.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable, Generator
from operator import itemgetter
from typing import Any, NamedTuple

from josef.errors import IllegalStateError, KafkaTimeoutError

log = logging.getLogger("josef.producer")

# Every producer's sender thread. Callbacks run there, and a callback that waits for a record
# would wait for the thread it blocks: such waits are refused at once (see refuse_on_sender).
SENDER_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def on_sender_thread() -> bool:
    """True inside a delivery callback (or anything else run by a josef sender thread)."""
    return threading.current_thread() in SENDER_THREADS


def refuse_on_sender(what: str) -> None:
    """Raise if called on a sender thread, where waiting for a delivery would deadlock."""
    if on_sender_thread():
        raise IllegalStateError(
            f"{what} called on josef's sender thread (in a delivery callback) would wait for that "
            "thread itself and never return; do the waiting in another thread, or use "
            "add_done_callback() / a delivery callback instead"
        )


class RecordMetadata(NamedTuple):
    """Where a record landed. ``offset`` is -1 with ``acks=0`` (the broker does not answer)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    serialized_key_size: int
    serialized_value_size: int


DeliveryCallback = Callable[["RecordMetadata | None", "BaseException | None"], Any]


class BatchResult:
    """The outcome of one batch, shared by all its records.

    ``offsets`` is only set when records of one batch ended with different outcomes (a batch
    split after MESSAGE_TOO_LARGE); then ``errors`` may hold per-record exceptions too.
    """

    __slots__ = (
        "_event",
        "_hooks",
        "_lock",
        "_waiters",
        "base_offset",
        "errors",
        "exception",
        "finished",
        "log_append_time",
        "offsets",
        "partition",
        "topic",
    )

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.base_offset = -1
        self.log_append_time = -1
        self.exception: BaseException | None = None
        self.offsets: list[int] | None = None
        self.errors: list[BaseException | None] | None = None
        self.finished = False  # read without a lock: waiting costs one only when not finished
        # Made by the first wait() before completion: most batches are never waited for, and an Event
        # (a Condition and two locks) per batch cost a quarter of send()'s time with 1 KiB records.
        self._event: threading.Event | None = None
        self._lock = threading.Lock()
        # (future, callback, is_delivery_callback): delivery callbacks get (metadata, exception),
        # add_done_callback functions get the future.
        self._waiters: list[tuple[RecordFuture, Callable[..., Any], bool]] = []
        self._hooks: list[Callable[[BatchResult], None]] | None = None

    def done(self) -> bool:
        return self.finished

    def wait(self, timeout: float | None) -> bool:
        if self.finished:
            return True
        with self._lock:
            if self.finished:
                return True
            event = self._event
            if event is None:
                event = self._event = threading.Event()
        return event.wait(timeout)

    def add(self, future: RecordFuture, callback: Callable[..., Any], delivery: bool) -> bool:
        """Register a waiter; False if already done (then the caller runs it itself)."""
        with self._lock:
            if self.finished:
                return False
            self._waiters.append((future, callback, delivery))
            return True

    def complete(self, base_offset: int, log_append_time: int, exception: BaseException | None) -> None:
        """Resolve every record of the batch and run their callbacks, in record order."""
        self.base_offset = base_offset
        self.log_append_time = log_append_time
        self.exception = exception
        with self._lock:
            self.finished = True
            if self._event is not None:
                self._event.set()
            waiters, self._waiters = self._waiters, []
        if self._hooks is not None:
            for hook in self._hooks:
                hook(self)
        if len(waiters) > 1:
            waiters.sort(key=_index_of)
        for future, callback, delivery in waiters:
            run_callback(future, callback, delivery)

    def split(self, parts: list[tuple[BatchResult, int, int]], on_done: Callable[[], None]) -> None:
        """The batch was split (MESSAGE_TOO_LARGE): its records now travel as ``parts``, each
        (result, first index, count). This result completes once they all have, record by
        record, and then calls ``on_done``."""
        count = sum(n for _, _, n in parts)
        self.offsets = [-1] * count
        self.errors = [None] * count
        remaining = [len(parts)]

        def part_done(start: int, n: int, part: BatchResult) -> None:
            assert self.offsets is not None and self.errors is not None
            for i in range(n):
                if part.offsets is not None and part.errors is not None:  # split again
                    self.offsets[start + i] = part.offsets[i]
                    self.errors[start + i] = part.errors[i]
                    continue
                if part.exception is None and part.base_offset >= 0:
                    self.offsets[start + i] = part.base_offset + i
                self.errors[start + i] = part.exception
            remaining[0] -= 1
            if remaining[0] == 0:
                self.complete(-1, part.log_append_time, None)
                on_done()

        for part, start, n in parts:
            part._hooks = [functools.partial(part_done, start, n)]


def _index_of(waiter: tuple[RecordFuture, Callable[..., Any], bool]) -> int:
    return waiter[0]._index


def run_callback(future: RecordFuture, callback: Callable[..., Any], delivery: bool) -> None:
    try:
        if delivery:
            callback(future._metadata(), future._error())
        else:
            callback(future)
    except Exception:
        log.exception("a delivery callback raised; the producer goes on")


class RecordFuture(tuple):  # type: ignore[type-arg]
    """The pending result of one ``send()``: ``result()``, ``exception()``, ``done()``,
    ``add_done_callback()``, like ``concurrent.futures.Future`` but without a lock per record."""

    # A tuple underneath: (batch result, index, timestamp, key size, value size). Building one
    # with tuple.__new__ costs less than half of setting five slots, and send() builds one per record.
    __slots__ = ()

    def __new__(cls, batch: BatchResult, index: int, timestamp: int, key_size: int, value_size: int) -> RecordFuture:
        return tuple.__new__(cls, (batch, index, timestamp, key_size, value_size))

    _batch: BatchResult = property(itemgetter(0))  # type: ignore[assignment]
    _index: int = property(itemgetter(1))  # type: ignore[assignment]
    _timestamp: int = property(itemgetter(2))  # type: ignore[assignment]
    _key_size: int = property(itemgetter(3))  # type: ignore[assignment]
    _value_size: int = property(itemgetter(4))  # type: ignore[assignment]
    # A future is itself, not its fields.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def done(self) -> bool:
        return self._batch.done()

    def result(self, timeout: float | None = None) -> RecordMetadata:
        batch = self._batch
        if not batch.finished:
            if timeout != 0:
                refuse_on_sender("RecordFuture.result() for a record not yet delivered")
            if not batch.wait(timeout):
                raise KafkaTimeoutError(f"no delivery result within {timeout} s (the record is still pending)")
        error = self._error()
        if error is not None:
            raise error
        return self._metadata()  # type: ignore[return-value]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        batch = self._batch
        if not batch.finished:
            if timeout != 0:
                refuse_on_sender("RecordFuture.exception() for a record not yet delivered")
            if not batch.wait(timeout):
                raise KafkaTimeoutError(f"no delivery result within {timeout} s (the record is still pending)")
        return self._error()

    def add_done_callback(self, fn: Callable[[RecordFuture], Any]) -> None:
        """Call ``fn(future)`` once the record is resolved (at once if it already is)."""
        if not self._batch.add(self, fn, False):
            run_callback(self, fn, False)

    def _error(self) -> BaseException | None:
        batch = self._batch
        if batch.errors is not None:
            return batch.errors[self._index]
        return batch.exception

    def _metadata(self) -> RecordMetadata | None:
        batch = self._batch
        if self._error() is not None:
            return None
        if batch.offsets is not None:
            offset = batch.offsets[self._index]
        else:
            offset = batch.base_offset + self._index if batch.base_offset >= 0 else -1
        timestamp = batch.log_append_time if batch.log_append_time >= 0 else self._timestamp
        return RecordMetadata(batch.topic, batch.partition, offset, timestamp, self._key_size, self._value_size)

    def __await__(self) -> Generator[Any, None, RecordMetadata]:
        """In asyncio: the record's metadata once delivered (the event loop is not blocked)."""
        if self.done():
            return self.result(0)
        import asyncio  # only asyncio users get here

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[RecordMetadata] = loop.create_future()

        def resolve(future: RecordFuture) -> None:  # on the sender thread
            loop.call_soon_threadsafe(_settle, waiter, future)

        self.add_done_callback(resolve)
        return (yield from waiter.__await__())

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self._error() else "done")
        return f"<RecordFuture {self._batch.topic}-{self._batch.partition}#{self._index} {state}>"


def _settle(waiter: Any, future: RecordFuture) -> None:
    """Hand a record's outcome to the asyncio future awaiting it (on the event loop)."""
    if waiter.done():  # cancelled meanwhile
        return
    error = future.exception(0)
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(future.result(0))


new_future = tuple.__new__  # the fast way to build a RecordFuture: new_future(RecordFuture, (fields...))
