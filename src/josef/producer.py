"""The public synchronous producer.

``send()`` serializes, picks a partition and appends to the accumulator under one lock; it
never encodes, compresses or touches a socket. The sender thread does the rest.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from josef import speedups
from josef._core import lifecycle
from josef._core.accumulator import Accumulator
from josef._core.batch import ProducerBatch
from josef._core.metadata import ClusterMetadata, TopicInfo
from josef._core.metrics import Metric, find
from josef._core.partitioner import RoundRobin, murmur2
from josef._core.records import FRAMING_ESTIMATE, HEADER_SIZE, RECORD_OVERHEAD, header_bytes
from josef._core.sender import Sender
from josef._core.transactions import (
    TransactionAbortRequiredError,
    TransactionManager,
    TxnResult,
    normalize_group_metadata,
    normalize_offsets,
    wait_for,
)
from josef._core.validation import (
    INT64_MAX,
    check_callback,
    check_partition,
    check_timestamp,
    check_topic,
    serialization_failed,
)
from josef.bulk import BulkSender, SendManyResult
from josef.config import ProducerConfig
from josef.errors import (
    BufferExhaustedError,
    IllegalStateError,
    KafkaError,
    ProducerClosedError,
    ProducerForkedError,
    RecordTooLargeError,
    SenderStoppedError,
)
from josef.future import (
    SENDER_THREADS,
    BatchResult,
    DeliveryCallback,
    RecordFuture,
    RecordMetadata,
    on_sender_thread,
    refuse_on_sender,
)
from josef.interceptors import Interceptors
from josef.serialization import Headers, normalize_headers, split_serializer, to_bytes

log = logging.getLogger("josef.producer")


if speedups.module is not None:
    speedups.module.configure_send_fast(ProducerBatch, BatchResult, RecordFuture, FRAMING_ESTIMATE)


_now = time.time
_T = TypeVar("_T")
_CLOSE_GRACE = 0.005  # seconds past close()'s timeout for the sender to fail what is left


class Producer:
    """A Kafka producer.

    Configure it with the Java client's names, as a mapping or as keyword arguments with
    underscores::

        with Producer({"bootstrap.servers": "127.0.0.1:9092", "linger.ms": 10}) as producer:
            producer.send("orders", b"{...}", key=b"42")

    Every ``send()`` returns a :class:`~josef.future.RecordFuture` and, if given, calls
    ``callback(metadata, exception)`` exactly once, on the sender thread.
    """

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = ProducerConfig.from_user(config, **kwargs)
        cfg = self.config
        key_plain, self._key_in_context = split_serializer(cfg["key.serializer"])
        value_plain, self._value_in_context = split_serializer(cfg["value.serializer"])
        # Serializers that need the topic and headers run first, in _serialize_in_context; their
        # bytes then take the default path below.
        self._serialize_in_context = (
            self._serialize_with_context if self._key_in_context or self._value_in_context else None
        )
        interceptors = cfg["interceptor.classes"]
        self._interceptors = Interceptors(interceptors, cfg.values) if interceptors else None
        self._key_serializer: Callable[[Any], bytes | None] = key_plain or to_bytes
        self._value_serializer: Callable[[Any], bytes | None] = value_plain or to_bytes
        self._key_is_default = self._key_serializer is to_bytes
        self._value_is_default = self._value_serializer is to_bytes
        self._max_block = cfg["max.block.ms"] / 1000
        self._max_request_size: int = cfg["max.request.size"]
        self._buffer_memory: int = cfg["buffer.memory"]
        # Largest key + value + headers that can ever be sent.
        self._max_payload = min(self._max_request_size, self._buffer_memory) - RECORD_OVERHEAD - HEADER_SIZE
        partitioner = cfg["partitioner"]
        self._custom_partitioner = partitioner if callable(partitioner) else None
        self._round_robin = RoundRobin() if partitioner == "round_robin" else None
        self._ignore_keys: bool = cfg["partitioner.ignore.keys"]
        # Keys are hashed (murmur2) unless a custom partitioner decides or keys are ignored;
        # otherwise _choose_partition decides, or None: sticky, inside the accumulator.
        self._hash_keys = self._custom_partitioner is None and not self._ignore_keys
        self._choose_partition: Callable[[str, bytes | None, bytes | None, TopicInfo], int] | None = None
        if self._custom_partitioner is not None:
            self._choose_partition = self._custom_partition
        elif self._round_robin is not None:
            self._choose_partition = self._round_robin_partition
        self._metadata = ClusterMetadata(cfg["bootstrap.servers"], cfg["metadata.max.age.ms"] / 1000)
        self._accumulator = Accumulator(
            batch_size=cfg["batch.size"],
            linger=cfg["linger.ms"] / 1000,
            buffer_memory=cfg["buffer.memory"],
            max_block=self._max_block,
            wake_sender=lambda: None,
        )
        self._sender = Sender(cfg, self._metadata, self._accumulator)
        self._accumulator.set_waker(self._sender.wake)
        self._metrics = self._sender.metrics
        self._accumulator.register_metrics(self._metrics)
        self._append = self._accumulator.append
        self._closed = False  # whoever sets it also drops try_send
        self._fork_error: ProducerForkedError | None = None
        # send()'s common case in one C call (josef.speedups), when nothing user-supplied runs per record.
        self.try_send: Callable[..., RecordFuture | None] | None = None
        """Queue a record now if that takes neither a wait nor Python-level work, else return None (then
        call :meth:`send`): ``try_send(topic, value, key, partition, timestamp_ms, headers, callback)``,
        every argument positional. None when the C accelerator is missing, a serializer, partitioner or
        interceptor is configured, or the producer is closed. :class:`~josef.aio.AsyncProducer` uses it."""
        self.try_send_ready: Callable[..., Coroutine[Any, Any, RecordFuture] | None] | None = None
        """:attr:`try_send` giving the future as an awaitable already done (``AsyncProducer.send``)."""
        if speedups.module is not None and self._choose_partition is None and self._key_is_default \
                and self._value_is_default and self._interceptors is None and self._serialize_in_context is None:
            acc, acquire, release, open_batches, sticky, batch_for, close_full, wake = \
                self._accumulator.send_fast_parts()
            state = (self._metadata, acc, acquire, release, open_batches, sticky, self._sender.txn,
                     self._max_payload, self._hash_keys, batch_for, close_full, wake)
            self.try_send = functools.partial(speedups.module.send_fast, state)
            self.try_send_ready = functools.partial(speedups.module.send_fast_ready, state)
        self._bulk = BulkSender(
            accumulator=self._accumulator, metrics=self._metrics, topics=self._metadata_topics,
            topic_info=self._topic_info, prepare=self._prepare, send=self.send, too_large=self._too_large,
            one_at_a_time=self._interceptors is not None or self._serialize_in_context is not None,
            plain_values=self._value_is_default, plain_keys=self._key_is_default, hash_keys=self._hash_keys,
            custom_partition=self._choose_partition is not None, max_payload=self._max_payload,
        )
        self._exit_flush_timeout = cfg["josef.exit.flush.timeout.ms"] / 1000
        self._txn = self._sender.txn
        self._sender.start()
        SENDER_THREADS.add(self._sender.thread)
        lifecycle.track(self)

    def __repr__(self) -> str:
        return f"<josef.Producer client.id={self.config['client.id']!r} {self.config!r}>"

    # -- sending -------------------------------------------------------------------------------

    def can_send_without_blocking(self, topic: str, size: int = 0) -> bool:
        """Whether sending ``size`` more bytes than a batch holds to ``topic`` returns at once: its metadata
        is known and that much buffer memory is free with nobody waiting for memory (what the asyncio
        wrapper asks before calling :meth:`send` or :meth:`send_many` on the event loop)."""
        acc = self._accumulator
        return topic in self._metadata.topics and acc.available >= acc.batch_size + size and not acc.waiters

    def waits_only_for_memory(self, topic: str) -> bool:
        """Whether what :meth:`send` to ``topic`` may wait for is buffer memory alone: the producer is
        open and the topic's metadata known (see :meth:`notify_when_memory_freed`)."""
        return not self._closed and topic in self._metadata.topics

    def notify_when_memory_freed(self, listener: Callable[[], None]) -> None:
        """Run ``listener`` once, on the sender thread, the next time buffer memory is given back (or
        the producer closes): how :class:`~josef.aio.AsyncProducer` waits for memory on its event loop
        instead of parking a thread per record. Until then the sender sends every batch at once."""
        self._accumulator.notify_when_freed(listener)

    def memory_wait_timed_out(self) -> BufferExhaustedError:
        """The error :meth:`send` raises when no buffer memory came free within ``max.block.ms``."""
        return self._accumulator.exhausted(self._accumulator.batch_size, self._max_block)

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
        callback: Callable[[RecordMetadata | None, BaseException | None], Any] | None = None,
    ) -> RecordFuture:
        """Queue one record; returns at once unless metadata or buffer memory must be waited for.

        Raises at once, before any wait, for bad input: ``TypeError`` for a type mistake,
        ``ValueError`` for a value out of range, ``SerializationError`` naming key, value or
        headers (see ``josef._core.validation``); ``MetadataTimeoutError`` or ``BufferExhaustedError``
        after ``max.block.ms``. A record too large to ever send
        fails alone: its future and callback get ``RecordTooLargeError``.
        """
        fast = self.try_send
        if fast is not None:
            future = fast(topic, value, key, partition, timestamp_ms, headers, callback)
            if future is not None:
                return future
        if self._closed:
            raise self._unusable("send")
        if self._txn is not None:
            self._txn.check_send()
        return self._prepare(topic, value, key, partition, timestamp_ms, headers, callback, None, self._append, None)

    def _prepare(
        self,
        topic: str,
        value: Any,
        key: Any,
        partition: int | None,
        timestamp_ms: Any,
        headers: Any,
        callback: DeliveryCallback | None,
        info: TopicInfo | None,
        append: Callable[..., _T],
        reject: Callable[..., _T] | None,
    ) -> _T:
        """One record made ready for the accumulator, for send() and send_many() alike (see
        :class:`josef.bulk.PrepareRecord`): interceptors and serializers run, everything the wire
        cannot carry is refused before any wait (see josef._core.validation), the partition is
        chosen and the size checked; then ``append`` (or ``reject``, when too large; None: fail the record
        alone, as send() does) is called."""
        if self._interceptors is not None:  # interceptor.classes: they may change the record
            if callback is not None and not callable(callback):
                check_callback(callback)  # before the interceptors wrap it
            topic, value, key, partition, timestamp_ms, headers, callback = self._interceptors.on_send(
                topic, value, key, partition, timestamp_ms, headers, callback
            )
        if self._serialize_in_context is not None:
            key, value, headers = self._serialize_in_context(topic, key, value, headers)
        if timestamp_ms is None:
            timestamp_ms = int(_now() * 1000)
        elif type(timestamp_ms) is not int or not 0 <= timestamp_ms <= INT64_MAX:
            timestamp_ms = check_timestamp(timestamp_ms)
        if callback is not None and not callable(callback):
            check_callback(callback)
        # bytes pass through the default serializers without a call: the common case.
        if key is None:
            key_bytes = None
        elif type(key) is bytes and self._key_is_default:
            key_bytes = key
        else:
            try:
                key_bytes = self._key_serializer(key)
                if key_bytes is not None and type(key_bytes) is not bytes:
                    key_bytes = to_bytes(key_bytes)
            except Exception as exc:
                raise serialization_failed("key", key, exc) from exc
        if value is None:
            value_bytes = None
        elif type(value) is bytes and self._value_is_default:
            value_bytes = value
        else:
            try:
                value_bytes = self._value_serializer(value)
                if value_bytes is not None and type(value_bytes) is not bytes:
                    value_bytes = to_bytes(value_bytes)
            except Exception as exc:
                raise serialization_failed("value", value, exc) from exc
        if info is None:
            try:
                info = self._metadata.topics.get(topic)  # the sender replaces this dict on each update
            except TypeError:  # unhashable: a list, a dict...
                info = None
            if info is None:
                info = self._topic_info(check_topic(topic))
        if partition is not None:
            if type(partition) is not int or not 0 <= partition < len(info.leaders):
                partition = check_partition(partition, topic, len(info.leaders))
        elif key_bytes is not None and self._hash_keys:
            partition = (murmur2(key_bytes) & 0x7FFFFFFF) % len(info.leaders)
        elif self._choose_partition is not None:
            partition = self._choose_partition(topic, key_bytes, value_bytes, info)
        if key_bytes is None:
            key_size = -1
            payload = 0
        else:
            payload = key_size = len(key_bytes)
        if value_bytes is None:
            value_size = -1
        else:
            value_size = len(value_bytes)
            payload += value_size
        header_section = header_bytes(normalize_headers(headers)) if headers else None
        if header_section is not None:
            payload += len(header_section)
        if payload > self._max_payload:
            # reject is None only from send(), where _T is RecordFuture
            return (reject or self._fail_at_once)(  # type: ignore[return-value]
                topic, partition, timestamp_ms, key_size, value_size, payload + RECORD_OVERHEAD + HEADER_SIZE,
                callback,
            )
        return append(
            topic,
            partition,
            info,
            (timestamp_ms, key_bytes, value_bytes, header_section),
            payload + FRAMING_ESTIMATE,
            key_size,
            value_size,
            callback,
        )

    def _serialize_with_context(self, topic: str, key: Any, value: Any, headers: Any) -> tuple[Any, Any, Headers]:
        """Run the serializers that take ``(topic, headers, data)``; they may add headers."""
        record_headers: Headers = list(headers.items() if isinstance(headers, dict) else headers or ())
        if self._key_in_context is not None and key is not None:
            key = self._key_in_context(topic, record_headers, key)
        if self._value_in_context is not None and value is not None:
            value = self._value_in_context(topic, record_headers, value)
        return key, value, record_headers

    def _metadata_topics(self) -> Mapping[str, TopicInfo]:
        return self._metadata.topics  # the sender replaces this dict on each update

    def _topic_info(self, topic: str) -> TopicInfo:
        """A topic's partitions, waiting up to ``max.block.ms`` for its metadata, except on the
        sender thread: there a wait would stall every delivery (and the metadata fetch itself),
        so a send() from a delivery callback to a topic without metadata fails at once."""
        if self._sender.stopped is not None:
            raise self._unusable("send")
        if on_sender_thread():
            info = self._metadata.topics.get(topic)
            if info is not None:
                return info
            raise IllegalStateError(
                f"send() to topic {topic!r} from a delivery callback: its metadata is not known yet, and "
                "waiting for it would block the sender thread; call producer.partitions_for(topic) once "
                "before sending to it from callbacks"
            )
        return self._metadata.partitions(topic, self._max_block, self._sender.wake)

    def _unusable(self, op: str) -> KafkaError:
        """Why ``op`` cannot run on a closed (or forked) producer."""
        if self._fork_error is not None:
            return ProducerForkedError(f"{op}(): {self._fork_error}")
        if self._sender.stopped is not None:
            return SenderStoppedError(f"{op}(): {self._sender.stopped}")
        return ProducerClosedError(f"{op}() after close()")

    def _custom_partition(self, topic: str, key: bytes | None, value: bytes | None, info: TopicInfo) -> int:
        assert self._custom_partitioner is not None
        count = len(info.leaders)
        partition = self._custom_partitioner(topic, key, value, count)
        if type(partition) is not int or not 0 <= partition < count:
            raise ValueError(
                f"the custom partitioner returned {partition!r} for topic {topic!r} with {count} partitions"
            )
        return partition

    def _round_robin_partition(self, topic: str, key: bytes | None, value: bytes | None, info: TopicInfo) -> int:
        assert self._round_robin is not None
        return self._round_robin.choose(topic, info.available, len(info.leaders))

    def _too_large(self, size: int) -> RecordTooLargeError:
        limit, name = min(
            (self._max_request_size, "max.request.size"), (self._buffer_memory, "buffer.memory")
        )
        return RecordTooLargeError(
            f"the record is {size} bytes when serialized, larger than {name} ({limit}); it was not sent"
        )

    def _fail_at_once(
        self,
        topic: str,
        partition: int | None,
        timestamp: int,
        key_size: int,
        value_size: int,
        size: int,
        callback: Callable[[RecordMetadata | None, BaseException | None], Any] | None,
    ) -> RecordFuture:
        error = self._too_large(size)
        if self._metrics.recording:
            self._metrics.record_error(topic, 1, time.monotonic())
        result = BatchResult(topic, -1 if partition is None else partition)
        future = RecordFuture(result, 0, timestamp, key_size, value_size)
        if callback is not None:
            result.add(future, callback, True)
        result.complete(-1, -1, error)
        return future

    # -- send_many: many records of one topic in one call (josef.bulk) ----------------------------

    @overload
    def send_many(
        self, topic: str, values: Any, keys: Any = None, *, headers: Any = None, partition: int | None = None,
        timestamps: Any = None, callback: DeliveryCallback | None = None, per_record_futures: Literal[False] = False,
    ) -> Future[SendManyResult]: ...

    @overload
    def send_many(
        self, topic: str, values: Any, keys: Any = None, *, headers: Any = None, partition: int | None = None,
        timestamps: Any = None, callback: DeliveryCallback | None = None, per_record_futures: Literal[True],
    ) -> list[RecordFuture]: ...

    @overload
    def send_many(
        self, topic: str, values: Any, keys: Any = None, *, headers: Any = None, partition: int | None = None,
        timestamps: Any = None, callback: DeliveryCallback | None = None, per_record_futures: bool,
    ) -> Future[SendManyResult] | list[RecordFuture]: ...

    def send_many(
        self,
        topic: str,
        values: Any,
        keys: Any = None,
        *,
        headers: Any = None,
        partition: int | None = None,
        timestamps: Any = None,
        callback: DeliveryCallback | None = None,
        per_record_futures: bool = False,
    ) -> Future[SendManyResult] | list[RecordFuture]:
        """Queue many records of one topic in one call: what ``send()`` does for each, with the
        topic's metadata looked up once and the accumulator's lock taken once per chunk of records.

        ``values`` (and ``keys``, ``timestamps`` when given) have one entry per record: lists,
        tuples, Arrow-like columns, buffers of fixed-width rows (see :func:`josef.bulk.as_column`).
        ``headers`` is one mapping for every record, or a column of per-record headers.
        ``partition`` (one for all) and ``callback`` (called per record, as for ``send()``) work as
        in ``send()``, and so do partitioning, idempotence and transactions.

        A bad record (one its serializer refuses, one too large, a bad timestamp or header) fails
        alone: the others are queued. Returns one ``concurrent.futures.Future`` resolving to a
        :class:`~josef.bulk.SendManyResult` (counts, and ``(index, exception)`` per failed
        record) once every record is resolved; with ``per_record_futures=True``, a list with one
        :class:`~josef.future.RecordFuture` per record instead. Raises at once (nothing queued) for
        a bad argument (columns of unequal length, a bad topic or partition); like ``send()``, it
        may raise ``BufferExhaustedError`` after ``max.block.ms`` (records before it are queued).
        """
        if self._closed:
            raise self._unusable("send_many")
        if self._txn is not None:
            self._txn.check_send()
        return self._bulk.send_many(topic, values, keys, headers, partition, timestamps, callback, per_record_futures)

    def send_sync(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> RecordMetadata:
        """``send()`` and wait for the result (flushing at once instead of lingering)."""
        future = self.send(topic, value, key, **kwargs)
        self._accumulator.begin_flush()
        try:
            return future.result()
        finally:
            self._accumulator.end_flush()

    def flush(self, timeout: float | None = None) -> int:
        """Send everything queued now, and wait until it is delivered or failed.

        Returns how many of those records are still pending when ``timeout`` (seconds) runs
        out: 0 means all of them are resolved. Raises ``IllegalStateError`` at once when called
        from a delivery callback with records pending (it would wait for its own thread).
        """
        if self._fork_error is not None or self._sender.stopped is not None:
            raise self._unusable("flush")
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        pending = self._accumulator.snapshot_pending()
        if pending and timeout != 0:
            refuse_on_sender("Producer.flush() with records pending")
        self._accumulator.begin_flush()
        try:
            for result, _ in pending:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                if not result.wait(remaining):
                    break
        finally:
            self._accumulator.end_flush()
            self._metrics.add_flush_time(time.monotonic() - started)
        return sum(count for result, count in pending if not result.done())

    def partitions_for(self, topic: str) -> list[int]:
        """The topic's partition numbers (fetching metadata, up to ``max.block.ms``)."""
        if self._fork_error is not None:
            raise self._unusable("partitions_for")
        info = self._topic_info(check_topic(topic))
        return list(range(len(info.leaders)))

    def metrics(self) -> list[Metric]:
        """Every metric's current value, as plain :class:`~josef._core.metrics.Metric` data: the Java
        producer's names, groups (``producer-metrics``, ``producer-topic-metrics``,
        ``producer-node-metrics``) and tags (``client-id``, ``topic``, ``node-id``), values in
        Java's units. See ``docs/metrics.md``."""
        return self._metrics.values()

    def metric(self, name: str, group: str | None = None, **tags: str) -> float:
        """One metric's value: ``metric("record-send-total")``, or per topic / broker with
        ``metric("record-send-total", topic="orders")``, ``metric("request-rate", node_id="node-1")``.
        Raises ``KeyError`` unless exactly one metric matches."""
        return find(self._metrics.values(), name, group, **tags)

    # -- transactions (see josef._core.transactions) --------------------------------------------------

    def init_transactions(self, timeout: float | None = None) -> None:
        """Register ``transactional.id`` with its coordinator: fences older producers with the
        same id and ends the transaction they left open. Call once, before the first
        transaction. Waits up to ``timeout`` seconds (default ``max.block.ms``); after a
        ``KafkaTimeoutError``, call it again to resume."""
        txn = self._transactional("init_transactions")
        self._txn_wait(txn, txn.init_transactions(), "init_transactions", timeout)

    def begin_transaction(self) -> None:
        """Start a transaction (no network round trip)."""
        started = time.monotonic()
        self._transactional("begin_transaction").begin_transaction()
        self._metrics.add_txn_time("begin_transaction", time.monotonic() - started)

    def send_offsets_to_transaction(self, offsets: Any, group_metadata: Any, timeout: float | None = None) -> None:
        """Commit consumed offsets as part of the transaction: they count only if it commits.
        ``offsets``: ``{TopicPartition: OffsetAndMetadata}``, ``{(topic, partition): offset}`` or
        a list of confluent-kafka ``TopicPartition``; the offsets are the next records to read.
        ``group_metadata``: the consumer's ``consumer_group_metadata()``, a
        :class:`~josef.ConsumerGroupMetadata`, or a group id."""
        txn = self._transactional("send_offsets_to_transaction")
        parsed, group = normalize_offsets(offsets), normalize_group_metadata(group_metadata)
        self._txn_wait(txn, txn.send_offsets(parsed, group), "send_offsets_to_transaction", timeout)

    def commit_transaction(self, timeout: float | None = None) -> None:
        """Send what the transaction holds, then commit it. Raises
        ``TransactionAbortRequiredError`` if it cannot commit (abort it then), the fatal error
        (e.g. ``ProducerFencedError``) if the producer cannot go on, or ``KafkaTimeoutError``
        after ``timeout`` (default ``max.block.ms``): the outcome is then unknown, and calling
        ``commit_transaction()`` again resumes the commit."""
        txn = self._transactional("commit_transaction")
        result = txn.commit_transaction()
        self._accumulator.begin_flush()
        try:
            self._txn_wait(txn, result, "commit_transaction", timeout)
        finally:
            self._accumulator.end_flush()

    def abort_transaction(self, timeout: float | None = None) -> None:
        """Abort the transaction: records not sent yet fail with ``TransactionAbortedError``,
        those written are never shown to read_committed consumers."""
        txn = self._transactional("abort_transaction")
        self._txn_wait(txn, txn.abort_transaction(), "abort_transaction", timeout)

    @contextlib.contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Producer]:
        """``with producer.transaction(): ...`` begins a transaction, commits it when the block
        ends normally and aborts it when the block (or the commit) raises."""
        self.begin_transaction()
        try:
            yield self
        except BaseException:
            txn = self._txn
            if txn is not None and txn.can_abort():
                self.abort_transaction(timeout)
            raise
        try:
            self.commit_transaction(timeout)
        except TransactionAbortRequiredError:
            self.abort_transaction(timeout)
            raise

    def _transactional(self, op: str) -> TransactionManager:
        if self._fork_error is not None:
            raise self._unusable(op)
        if self._txn is None:
            raise IllegalStateError(f"{op}() on a producer without transactional.id")
        if self._closed:
            raise ProducerClosedError(f"{op}() after close()")
        return self._txn

    def _txn_wait(self, txn: TransactionManager, result: TxnResult, op: str, timeout: float | None) -> None:
        refuse_on_sender(f"Producer.{op}()")
        started = time.monotonic()
        try:
            wait_for(txn, result, self._max_block if timeout is None else timeout, op)
        finally:
            self._metrics.add_txn_time(op, time.monotonic() - started)  # txn-*-time-ns-total

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then stop. Records still pending when ``timeout`` (seconds)
        runs out fail with a ``KafkaTimeoutError``; ``close()`` itself never hangs past it.

        From a delivery callback (the sender thread) it cannot wait for that thread: as in
        the Java client, it then closes with timeout 0 (a warning is logged) and returns."""
        if self._fork_error is not None:
            raise self._unusable("close")
        started = time.monotonic()
        thread = self._sender.thread
        if threading.current_thread() is thread:
            if timeout != 0:
                log.warning(
                    "close() called from a delivery callback (the sender thread): closing with timeout 0 "
                    "instead of %s; records not yet delivered fail",
                    "waiting" if timeout is None else f"{timeout} s",
                )
            timeout = 0.0
        lifecycle.forget(self)
        if not self._closed:
            self._closed = True
            self.try_send = self.try_send_ready = None
            deadline = started + (timeout if timeout is not None else 365 * 86400.0)
            if self._txn is not None:  # an open transaction is aborted, as in the Java client
                self._txn.abort_on_close(min(deadline, started + self._max_block))
            self._accumulator.close()
            self._sender.initiate_close(deadline)
        if threading.current_thread() is thread:
            return
        # The sender fails what is left at the deadline and stops; a hair of grace lets it.
        thread.join(None if timeout is None else max(started + timeout - time.monotonic(), 0.0) + _CLOSE_GRACE)
        if thread.is_alive() and timeout is not None:
            log.warning("josef sender thread did not stop within close(%s); returning anyway", timeout)
        elif self._interceptors is not None:  # after the last acknowledgement, as in Java
            self._interceptors.close()

    # -- process events (see josef._core.lifecycle) ---------------------------------------------------

    def on_fork_in_child(self, parent_pid: int) -> None:
        """In a forked child: this copy has no sender thread; refuse every later call."""
        self._closed = True
        self.try_send = self.try_send_ready = None
        self._fork_error = ProducerForkedError(
            f"this Producer was created in process {parent_pid} and cannot be used in process "
            f"{os.getpid()}, a child forked from it: its sender thread and connections exist only "
            "in the parent. Create a new Producer in the child (or fork before creating producers)"
        )

    def flush_at_exit(self) -> str | None:
        """At interpreter exit, for a producer never closed: flush for a bounded time, then
        close; an open transaction is aborted instead (as close() does). Returns what the user
        must hear about, if anything."""
        if self._closed:
            return None
        timeout = self._exit_flush_timeout
        exit_key = "josef.exit.flush.timeout.ms"
        if self._txn is not None and self._txn.can_abort():
            self.close(timeout)
            return (
                f"{self!r} was never closed and had a transaction open at interpreter exit: it was "
                "aborted, its records are not visible to read_committed consumers"
            )
        pending = self.flush(timeout)
        self.close(0)
        if not pending:
            return None
        return (
            f"{pending} record(s) were still undelivered at interpreter exit after a {timeout:g} s flush "
            f"({exit_key}) and are lost: {self!r} was never closed; call close() (or use "
            "`with Producer(...)`) before the program ends"
        )

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._sender.force_close()
            except Exception:
                pass


__all__ = ["Producer"]
