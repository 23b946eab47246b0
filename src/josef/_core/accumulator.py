"""The record accumulator: per-partition queues of batches and the ``buffer.memory`` budget.

User threads append; the sender thread asks which leaders have sendable data (``ready``),
takes batches out (``drain``), puts failed ones back in sequence order (``reenqueue``) and
completes them. One lock guards it all; ``send()`` takes it once per record.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from josef._core.batch import ProducerBatch
from josef._core.metadata import TopicInfo
from josef._core.partitioner import pick_partition
from josef._core.records import HEADER_SIZE, Record, append_records
from josef.errors import BufferExhaustedError, ProducerClosedError, SenderStoppedError
from josef.future import BatchResult, RecordFuture, new_future, on_sender_thread
from josef.types import TopicPartition

# ProducerBatch and TopicPartition live in josef._core.batch and josef.types; re-exported for sender and idempotence.
__all__ = ["Accumulator", "ProducerBatch", "TopicPartition"]

if TYPE_CHECKING:
    from josef._core.metrics import BufferStats, ProducerMetrics

_timestamp_of = itemgetter(0)


class Accumulator:
    def __init__(
        self,
        *,
        batch_size: int,
        linger: float,
        buffer_memory: int,
        max_block: float,
        wake_sender: Callable[[], None],
    ) -> None:
        self.max_block = max_block  # how long append() may wait for buffer memory
        self.batch_size = max(batch_size, 1)
        # Per topic: how many uncompressed bytes make a batch of about batch.size once compressed,
        # from a running estimate of the compression ratio, as the Java client estimates it.
        self._ratios: dict[str, float] = {}
        self._limits: dict[str, int] = {}
        self.compressed = False
        self.linger = linger
        self.buffer_memory = buffer_memory
        self.available = buffer_memory
        self._wake_sender = wake_sender
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._deques: dict[TopicPartition, deque[ProducerBatch]] = {}
        self._open: dict[tuple[str, int], ProducerBatch] = {}  # the batch each partition appends to
        self._sticky: dict[str, ProducerBatch] = {}  # each topic's batch for keyless records
        self.incomplete: set[ProducerBatch] = set()
        self.waiters = 0  # threads blocked on buffer memory: makes every batch sendable
        self.flushing = 0
        self.closed = False
        self.stopped: str | None = None  # why the sender thread stopped, if it did
        # When the sender will look again by itself; appends wake it only if they need it sooner.
        self.sender_wakes_at = float("inf")
        # Counts new and newly full batches, so the sender never sleeps past one it did not see.
        self.sendable_events = 0
        self._drain_start: dict[int, int] = {}
        self.buffer_exhausted_total = 0
        self.buffer_stats: BufferStats | None = None  # metrics of waits for memory
        # One-shot calls for the next time memory is given back (asyncio senders waiting on their loop,
        # not in a thread); each counts as a waiter until called.
        self._freed_listeners: list[Callable[[], None]] = []

    def observe_compression(self, topic: str, ratio: float, reset: bool = False) -> None:
        """Learn from one compressed batch (compressed / uncompressed size): the estimate falls
        slowly and rises quickly, as the Java client's does, so batches rarely outgrow the
        broker's limit; ``reset`` after a batch came back too large."""
        current = self._ratios.get(topic, 1.0)
        if reset:
            current = max(1.0, ratio)
        elif ratio > current:
            current = max(current + 0.05, ratio)
        elif ratio < current:
            current = max(current - 0.005, ratio)
        self._ratios[topic] = current
        self._limits[topic] = int(self.batch_size / (max(current, 0.01) * 1.05))

    def set_waker(self, wake_sender: Callable[[], None]) -> None:
        self._wake_sender = wake_sender

    def register_metrics(self, metrics: ProducerMetrics) -> None:
        """Expose the buffer gauges and record waits for memory into ``metrics``."""
        metrics.register_gauge("buffer-total-bytes", lambda now: self.buffer_memory)
        metrics.register_gauge("buffer-available-bytes", lambda now: self.available)
        metrics.register_gauge("waiting-threads", lambda now: self.waiters)
        if metrics.recording:
            self.buffer_stats = metrics.buffer

    # -- user threads --------------------------------------------------------------------------

    def send_fast_parts(self) -> tuple[Any, ...]:
        """What the C shortcut through :meth:`append` reads (josef.speedups): this accumulator (for
        ``closed``), its lock's acquire and release, the open batch per (topic, partition), the sticky
        batch per topic, and the three steps of :meth:`append` it calls rather than copies: choosing or
        opening the batch when the open one has no room (:meth:`batch_without_waiting`), closing a
        batch the record filled (:meth:`close_full`) and waking the sender. A wait for memory, and
        everything else it does not handle, is left to append()."""
        return (self, self._lock.acquire, self._lock.release, self._open, self._sticky,
                self.batch_without_waiting, self.close_full, self._wake_sender)

    def append(
        self,
        topic: str,
        partition: int | None,
        info: TopicInfo,
        record: Record,
        size: int,
        key_size: int,
        value_size: int,
        callback: Callable[..., Any] | None,
    ) -> RecordFuture:
        with self._lock:
            if self.closed:
                raise self.closed_error("send")
            batch, wake = self._batch_for(topic, partition, size, info)
            timestamp = record[0]
            index = batch.count
            if not index:
                batch.base_ts = timestamp
            append_records(batch.buf, (record,), batch.base_ts, index, batch.limit)
            batch.count = index + 1
            batch.size += size
            if size > batch.max_record:
                batch.max_record = size
            if timestamp > batch.max_ts:
                batch.max_ts = timestamp
            future = new_future(RecordFuture, (batch.result, index, timestamp, key_size, value_size))
            if callback is not None:
                batch.result.add(future, callback, True)
            if batch.size >= batch.limit:
                wake = self.close_full(batch) or wake
        if wake:
            self._wake_sender()
        return future

    def _batch_for(self, topic: str, partition: int | None, size: int, info: TopicInfo) -> tuple[ProducerBatch, bool]:
        """The batch a record of ``size`` bytes joins (``partition`` None: the topic's sticky one), opened
        when the open one has no room, and whether the sender must be woken (lock held; may wait for
        memory)."""
        if partition is None:
            batch = self._sticky.get(topic)
            if batch is None or batch.closed or batch.size + size > batch.limit:
                return self._next_sticky_batch(topic, batch, size, info)
            return batch, False
        batch = self._open.get((topic, partition))  # a plain tuple: cheaper than a TopicPartition
        if batch is None or batch.size + size > batch.limit:
            return self._new_batch(TopicPartition(topic, partition), batch, size)
        return batch, False

    def batch_without_waiting(
        self, topic: str, partition: int, size: int, info: TopicInfo
    ) -> tuple[ProducerBatch, bool] | None:
        """:meth:`_batch_for` for the C shortcut (``partition`` -1: sticky; lock held): None, with
        nothing changed, when it might have to wait for memory."""
        if self.available < self._reservation(topic, size)[1]:
            return None
        return self._batch_for(topic, None if partition < 0 else partition, size, info)

    def _reservation(self, topic: str, size: int) -> tuple[int, int]:
        """A new batch's limit for ``topic`` and the ``buffer.memory`` it reserves for a first record of
        ``size`` bytes: what :meth:`_new_batch` takes, and what :meth:`batch_without_waiting` checks is free."""
        limit = self._limits.get(topic, self.batch_size)
        return limit, max(limit, size + HEADER_SIZE)

    def close_full(self, batch: ProducerBatch) -> bool:
        """Close a batch its last record filled (lock held); whether the sender must be woken for it."""
        batch.closed = True
        del self._open[batch.tp]
        self.sendable_events += 1
        # A full batch goes at once, unless the sender looks again within a millisecond
        # anyway: a wake-up costs a system call here and a GIL hand-off there.
        return self.sender_wakes_at - time.monotonic() > 0.001

    # Records appended per hold of the lock by append_many(): long enough to amortize taking it,
    # short enough that the sender thread can drain full batches while a big call goes on.
    APPEND_MANY_CHUNK = 1024

    def append_many(
        self,
        topic: str,
        info: TopicInfo,
        partitions: Sequence[int | None] | None,
        records: Sequence[Record],
        sizes: Sequence[int],
        key_sizes: Sequence[int],
        value_sizes: Sequence[int],
        callback: Callable[..., Any] | None,
        make_futures: bool,
    ) -> tuple[list[BatchResult], list[int], list[RecordFuture] | None]:
        """Append many records of one topic, as :meth:`append` would one by one (the same batches,
        the same order within each partition), but a run of records at a time: the records that
        fit in a batch's room are found by bisecting their cumulative sizes and added with one
        ``extend``. ``partitions`` is None when every record is keyless (sticky).

        Returns, in the order of ``records``, where each went (its batch's result and its index
        in that batch) and, with ``make_futures`` or a ``callback``, a future per record."""
        count = len(records)
        want_futures = make_futures or callback is not None
        groups: list[tuple[int | None, Sequence[int] | None]]
        if partitions is None:
            groups = [(None, None)]
        elif None in partitions:
            # Keyless records among keyed ones: where a keyless one goes depends on the batches
            # before it, so runs of one partition are taken in the call's order.
            groups = []
            j = 0
            for partition, run in groupby(partitions):
                n = len(list(run))
                groups.append((partition, range(j, j + n)))
                j += n
        else:
            # Keyed (or one partition): each partition's records in the call's order, partition
            # after partition; the order within a partition is all that Kafka keeps.
            by_partition: dict[int | None, list[int]] = {}
            for j, partition in enumerate(partitions):
                group = by_partition.get(partition)
                if group is None:
                    by_partition[partition] = [j]
                else:
                    group.append(j)
            groups = list(by_partition.items())
        if not groups or groups[0][1] is None:  # records in their own order: results are built by extending
            results: list[Any] = []
            slots: list[int] = []
            futures: list[Any] | None = [] if want_futures else None
        else:
            results, slots = [None] * count, [0] * count
            futures = [None] * count if want_futures else None
        held = [0]  # records appended since this thread last let the sender in
        for partition, indices in groups:
            if indices is None:
                run_records, run_sizes = records, sizes
            else:
                run_records = [records[j] for j in indices]
                run_sizes = [sizes[j] for j in indices]
            cumulative = list(accumulate(run_sizes, initial=0))
            self._append_runs(topic, info, partition, run_records, run_sizes, cumulative, indices, results, slots,
                              futures, key_sizes, value_sizes, callback, held)
        return results, slots, futures

    def _append_runs(
        self,
        topic: str,
        info: TopicInfo,
        partition: int | None,
        records: Sequence[Record],
        sizes: Sequence[int],
        cumulative: list[int],
        indices: Sequence[int] | None,
        results: list[Any],
        slots: list[int],
        futures: list[Any] | None,
        key_sizes: Sequence[int],
        value_sizes: Sequence[int],
        callback: Callable[..., Any] | None,
        held: list[int],
    ) -> None:
        """append_many() for records that all go to ``partition`` (None: sticky), in order;
        ``indices`` maps them to the caller's positions (None: they are the caller's records)."""
        count = len(records)
        pos = 0
        tp = TopicPartition(topic, -1 if partition is None else partition)
        while pos < count:
            start, stop = pos, min(pos + self.APPEND_MANY_CHUNK, count)
            wake = False
            with self._lock:
                if self.closed:
                    raise self.closed_error("send_many")
                while pos < stop:
                    size = cumulative[pos + 1] - cumulative[pos]
                    if partition is None:
                        batch = self._sticky.get(topic)
                        if batch is None or batch.closed or batch.size + size > batch.limit:
                            batch, woke = self._next_sticky_batch(topic, batch, size, info)
                            wake = wake or woke
                    else:
                        batch = self._open.get(tp)
                        if batch is None or batch.size + size > batch.limit:
                            batch, woke = self._new_batch(tp, batch, size)
                            wake = wake or woke
                    # The records from pos that fit in the batch's room (at least one: a new batch
                    # takes a record even when it is larger than the limit, as append() does).
                    end = bisect_right(cumulative, cumulative[pos] + batch.limit - batch.size, pos + 1, stop + 1) - 1
                    end = max(end, pos + 1)
                    run = records[pos:end]
                    batch.size += cumulative[end] - cumulative[pos]
                    top = max(map(_timestamp_of, run))
                    if top > batch.max_ts:
                        batch.max_ts = top
                    largest = max(sizes[pos:end])
                    if largest > batch.max_record:
                        batch.max_record = largest
                    first = batch.count
                    if not first:
                        batch.base_ts = run[0][0]
                    append_records(batch.buf, run, batch.base_ts, first, batch.limit)
                    batch.count = first + len(run)
                    result = batch.result
                    n = end - pos
                    if indices is None:
                        results.extend([result] * n)
                        slots.extend(range(first, first + n))
                    else:
                        for k in range(n):
                            j = indices[pos + k]
                            results[j] = result
                            slots[j] = first + k
                    if futures is not None:
                        for k in range(n):
                            j = pos + k if indices is None else indices[pos + k]
                            future = new_future(RecordFuture, (result, first + k, run[k][0], key_sizes[j],
                                                               value_sizes[j]))
                            if indices is None:
                                futures.append(future)
                            else:
                                futures[j] = future
                            if callback is not None:
                                result.add(future, callback, True)
                    if batch.size >= batch.limit:
                        batch.closed = True
                        del self._open[batch.tp]
                        wake = wake or self.sender_wakes_at - time.monotonic() > 0.001
                        self.sendable_events += 1
                    pos = end
            if wake:
                self._wake_sender()
            held[0] += stop - start
            if held[0] >= self.APPEND_MANY_CHUNK:
                # Let the sender thread in: it may be blocked on the lock just released, and this
                # thread holding the GIL would take the lock again before it wakes. Without this a big
                # call queues everything before anything is sent (measured: 0.75x send()'s rate).
                held[0] = 0
                time.sleep(0)

    def _next_sticky_batch(
        self,
        topic: str,
        previous: ProducerBatch | None,
        size: int,
        info: TopicInfo,
    ) -> tuple[ProducerBatch, bool]:
        """Uniform sticky partitioning: keyless records stay on one partition until its batch
        is full, then move to another partition chosen at random among those with a leader."""
        if previous is None:
            partition = pick_partition(info.available, len(info.leaders))
        elif previous.closed and previous.size + size <= previous.limit:
            partition = previous.partition  # sent early by linger, not full: stay
        else:
            partition = pick_partition(info.available, len(info.leaders), previous.partition)
        tp = TopicPartition(topic, partition)
        batch = self._open.get(tp)
        wake = False
        if batch is None or batch.size + size > batch.limit:
            batch, wake = self._new_batch(tp, batch, size)
        self._sticky[topic] = batch
        return batch, wake

    def _new_batch(self, tp: TopicPartition, full: ProducerBatch | None, size: int) -> tuple[ProducerBatch, bool]:
        """Close the partition's open batch and start another, reserving its memory (called
        with the lock held; may wait for memory up to ``max_block``). Also says whether the
        sender must be woken: for a batch now full, or a linger that ends before it looks again."""
        if full is not None:
            full.closed = True
            del self._open[tp]
        limit, need = self._reservation(tp[0], size)
        if self.available < need:
            deadline = time.monotonic() + self.max_block
            self._wait_for_memory(need, deadline, self.max_block)
            if self.closed:
                raise self.closed_error("send")
            other = self._open.get(tp)  # another thread may have opened one meanwhile
            if other is not None and other.size + size <= other.limit:
                return other, full is not None
        self.available -= need
        batch = ProducerBatch(tp, time.monotonic())
        batch.reserved = need
        batch.limit = limit
        dq = self._deques.get(tp)
        if dq is None:
            dq = self._deques[tp] = deque()
        dq.append(batch)
        self._open[tp] = batch
        self.incomplete.add(batch)
        self.sendable_events += 1
        return batch, full is not None or batch.created + self.linger < self.sender_wakes_at

    def _wait_for_memory(self, need: int, deadline: float, max_block: float) -> None:
        if on_sender_thread():  # a send() from a delivery callback: only the sender frees memory
            self.buffer_exhausted_total += 1
            raise BufferExhaustedError(
                f"buffer.memory exhausted: a send() from a delivery callback cannot wait for {need} bytes "
                "(only the sender thread it runs on frees memory); "
                f"{self.buffer_memory - self.available} of {self.buffer_memory} bytes are held by "
                "records not yet delivered"
            )
        self.waiters += 1
        stats = self.buffer_stats
        started = time.monotonic()
        if stats is not None:
            stats.wait_started(started)
        try:
            self._wake_sender()  # memory pressure makes every batch sendable now
            while self.available < need and not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self.exhausted(need, max_block)
                self._space.wait(remaining)
        finally:
            self.waiters -= 1
            if stats is not None:
                stats.wait_ended(started, time.monotonic(), self.available < need and not self.closed)

    def exhausted(self, need: int, max_block: float) -> BufferExhaustedError:
        """The error for ``need`` bytes not found within ``max.block.ms`` (counted)."""
        self.buffer_exhausted_total += 1
        return BufferExhaustedError(
            f"buffer.memory exhausted: could not reserve {need} bytes within max.block.ms "
            f"({max_block * 1000:.0f} ms); {self.buffer_memory - self.available} of "
            f"{self.buffer_memory} bytes are held by records not yet delivered"
        )

    def sleep_until(self, deadline: float, batches_seen: int) -> bool:
        """The sender is about to sleep until ``deadline``. Refused (False) if a batch was
        opened since it counted ``batches_seen``: it may have missed it. Appends that come
        later see the deadline and wake the sender only if they need it sooner."""
        with self._lock:
            if self.sendable_events != batches_seen:
                return False
            self.sender_wakes_at = deadline
            return True

    def snapshot_pending(self) -> list[tuple[BatchResult, int]]:
        """Each unresolved batch's result with its record count now (what flush() waits for)."""
        with self._lock:
            return [(batch.result, batch.count) for batch in self.incomplete]

    def begin_flush(self) -> None:
        with self._lock:
            self.flushing += 1
        self._wake_sender()

    def end_flush(self) -> None:
        with self._lock:
            self.flushing -= 1

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._space.notify_all()
            listeners = self._take_freed_listeners()
        for listener in listeners:
            listener()
        self._wake_sender()

    def stop(self, reason: str) -> None:
        """The sender thread stopped: no append succeeds any more, each raising ``reason``."""
        with self._lock:
            self.stopped = reason
            self.closed = True
            self._space.notify_all()
            listeners = self._take_freed_listeners()
        for listener in listeners:
            listener()

    def closed_error(self, op: str) -> ProducerClosedError:
        if self.stopped is not None:
            return SenderStoppedError(f"{op}(): {self.stopped}")
        return ProducerClosedError(f"{op}() after close()")

    # -- sender thread -------------------------------------------------------------------------

    def ready(
        self,
        now: float,
        leader_of: Callable[[TopicPartition], int],
        can_drain: Callable[[ProducerBatch], bool],
    ) -> tuple[set[int], float, bool]:
        """Leaders with sendable data, seconds until the next batch may become sendable, and
        whether some queued partition has no known leader."""
        ready: set[int] = set()
        next_check = 3600.0
        unknown_leader = False
        with self._lock:
            urgent = self.waiters > 0 or self.flushing > 0 or self.closed
            linger = self.linger
            for tp, dq in self._deques.items():
                if not dq:
                    continue
                leader = leader_of(tp)
                if leader < 0:
                    unknown_leader = True
                    continue
                if leader in ready:
                    continue
                head = dq[0]
                if not can_drain(head):
                    continue
                if head.attempts > 0:
                    if now < head.retry_at:
                        next_check = min(next_check, head.retry_at - now)
                        continue
                    ready.add(leader)
                    continue
                if urgent or head.closed or len(dq) > 1:
                    ready.add(leader)
                    continue
                waited = now - head.created
                if waited >= linger:
                    ready.add(leader)
                else:
                    next_check = min(next_check, linger - waited)
        return ready, next_check, unknown_leader

    def drain(
        self,
        node: int,
        partitions: Sequence[TopicPartition],
        max_size: int,
        now: float,
        can_drain: Callable[[ProducerBatch], bool],
    ) -> list[ProducerBatch]:
        """Take at most one batch per partition led by ``node``, up to ``max_size`` bytes,
        starting where the last drain of this node stopped so no partition starves."""
        drained: list[ProducerBatch] = []
        if not partitions:
            return drained
        total = 0
        with self._lock:
            start = self._drain_start.get(node, 0) % len(partitions)
            count = len(partitions)
            for i in range(count):
                tp = partitions[(start + i) % count]
                dq = self._deques.get(tp)
                if not dq:
                    continue
                head = dq[0]
                if head.attempts > 0 and now < head.retry_at:
                    continue
                if drained and total + head.size > max_size:
                    self._drain_start[node] = start + i
                    break
                if not can_drain(head):
                    continue
                dq.popleft()
                if not head.closed:
                    head.closed = True
                    del self._open[tp]
                total += head.size
                drained.append(head)
            else:
                self._drain_start[node] = start + 1
        return drained

    def reenqueue(self, batch: ProducerBatch, now: float, delay: float) -> None:
        """Put a failed batch back at the front of its queue, in sequence order, to be sent
        again no sooner than ``delay`` seconds from now."""
        batch.attempts += 1
        batch.last_attempt = now
        batch.retry_at = now + delay
        with self._lock:
            _insert_in_order(self._deques.setdefault(batch.tp, deque()), batch)

    def put_back(self, batches: list[ProducerBatch]) -> None:
        """Queue the parts of a split batch first in their partition, in order."""
        with self._lock:
            dq = self._deques.setdefault(batches[0].tp, deque())
            for batch in reversed(batches):
                batch.closed = True
                _insert_in_order(dq, batch)

    def expire(
        self, now: float, delivery_timeout: float
    ) -> tuple[list[ProducerBatch], float]:
        """Queued batches whose ``delivery.timeout.ms`` ran out, taken out of their queues, and
        when the next queued batch will run out (a batch that may be in the log already too:
        the timeout is a hard bound)."""
        expired: list[ProducerBatch] = []
        next_expiry = now + 3600.0
        with self._lock:
            for dq in self._deques.values():
                while dq and now - dq[0].created >= delivery_timeout:
                    batch = dq.popleft()
                    if not batch.closed:
                        batch.closed = True
                        del self._open[batch.tp]
                    expired.append(batch)
                if dq:
                    next_expiry = min(next_expiry, dq[0].created + delivery_timeout)
        return expired, next_expiry

    def complete(self, batch: ProducerBatch) -> None:
        """Give a finished batch's memory back and wake threads waiting for it."""
        self.complete_many((batch,))

    def complete_many(self, batches: Iterable[ProducerBatch]) -> None:
        with self._lock:
            for batch in batches:
                self.incomplete.discard(batch)
                self.available += batch.reserved
                batch.reserved = 0
            listeners = self._take_freed_listeners()
            if self.waiters:
                self._space.notify_all()
        for listener in listeners:
            listener()

    def notify_when_freed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` once, on the sender thread, the next time memory is given back (or at
        close). Until then it counts as a thread waiting for memory: every batch is sendable at once,
        as when a ``send()`` blocks. How ``AsyncProducer`` waits for memory without parking a thread."""
        with self._lock:
            closed = self.closed
            if not closed:
                self._freed_listeners.append(listener)
                self.waiters += 1
        if closed:
            listener()
        else:
            self._wake_sender()

    def _take_freed_listeners(self) -> list[Callable[[], None]]:
        listeners = self._freed_listeners
        if listeners:
            self._freed_listeners = []
            self.waiters -= len(listeners)
        return listeners

    def abort_all(self) -> list[ProducerBatch]:
        """Take every queued batch out (forced close, aborted transaction)."""
        with self._lock:
            batches = [batch for dq in self._deques.values() for batch in dq]
            for dq in self._deques.values():
                dq.clear()
            for batch in batches:
                batch.closed = True  # no append may join a batch taken out
            self._open.clear()
            self._sticky.clear()
        return batches

    def reset_sequences(self) -> None:
        """After an epoch bump: queued batches get new sequences when next drained."""
        with self._lock:
            for dq in self._deques.values():
                for batch in dq:
                    if batch.base_sequence >= 0:
                        batch.base_sequence = -1
                        batch.producer_id = -1
                        batch.producer_epoch = -1
                        batch.encoded = None
                        batch.unknown = False

    def has_unknown(self, epoch: int) -> bool:
        """Whether a queued batch of ``epoch`` may be in the log already."""
        with self._lock:
            return any(batch.unknown and batch.producer_epoch == epoch for dq in self._deques.values() for batch in dq)

def _insert_in_order(dq: deque[ProducerBatch], batch: ProducerBatch) -> None:
    """Queue a batch that goes again ahead of new ones; batches with sequences stay in
    sequence order, so the broker never sees a gap."""
    if batch.base_sequence < 0:
        dq.appendleft(batch)
        return
    index = 0
    for queued in dq:
        if queued.base_sequence < 0 or queued.base_sequence > batch.base_sequence:
            break
        index += 1
    dq.insert(index, batch)
