"""``send_many()``: many records of one topic in one call (:class:`BulkSender`, which the
producer delegates to), turning the caller's columns into lists, and the one result for a whole
call (:class:`SendManyResult`, resolved by :class:`SendManyCompletion` once the last batch holding
one of its records is resolved).

Each record is prepared by the same function ``send()`` uses (the producer hands it over), except
when every record is plain bytes: then the columns are built with C-level map/zip.

Whole-call bookkeeping costs one callback per batch, not per record: records of one call that
share a batch share its outcome, so per-record work happens only for batches that failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Any, Protocol, TypeVar

from josef._core.accumulator import Accumulator
from josef._core.metadata import TopicInfo
from josef._core.metrics import ProducerMetrics
from josef._core.partitioner import murmur2
from josef._core.records import FRAMING_ESTIMATE, Record, header_bytes
from josef._core.validation import INT64_MAX, check_callback, check_partition, check_timestamp, check_topic
from josef.errors import SerializationError
from josef.future import BatchResult, DeliveryCallback, RecordFuture
from josef.serialization import normalize_headers

_T = TypeVar("_T")


@dataclass(frozen=True)
class SendManyResult:
    """The outcome of one ``send_many()`` call.

    ``errors`` lists ``(index, exception)`` for the records that failed, by index into the
    call's ``values``; every other record was delivered.
    """

    topic: str
    count: int
    errors: list[tuple[int, BaseException]] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.count - len(self.errors)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __repr__(self) -> str:
        first = f", first error at {self.errors[0][0]}: {self.errors[0][1]!r}" if self.errors else ""
        return f"<SendManyResult {self.topic} {self.delivered}/{self.count} delivered{first}>"


def as_column(obj: Any, name: str) -> list[Any]:
    """A per-record argument of ``send_many()`` as a list.

    Accepted: lists and tuples (as they are), Arrow-like columns (anything with ``to_pylist()``,
    e.g. a pyarrow ``Array`` or ``ChunkedArray``: no import of pyarrow is needed), buffers of
    fixed-width rows (a 2-D C-contiguous byte buffer, or a 1-D buffer of ``Ns`` items such as a
    numpy ``S`` array: each row is sent as it is, padding included), objects with ``tolist()``
    (numpy), and any other iterable. A single ``bytes``/``str``/mapping is refused: it is one
    record, not a column of them.
    """
    if type(obj) is list:
        return obj
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, (bytes, bytearray, str, Mapping)):
        raise TypeError(
            f"send_many(): {name} must be a sequence with one entry per record, got a single "
            f"{type(obj).__name__} (use send() for one record)"
        )
    to_pylist = getattr(obj, "to_pylist", None)
    if callable(to_pylist):
        return list(to_pylist())
    rows = _fixed_width_rows(obj)
    if rows is not None:
        return rows
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        out = tolist()
        if isinstance(out, list):
            return out
    if isinstance(obj, Iterable):
        return list(obj)
    raise TypeError(f"send_many(): {name} must be a sequence, got {type(obj).__name__}")


def _fixed_width_rows(obj: Any) -> list[bytes] | None:
    try:
        view = memoryview(obj)
    except TypeError:
        return None
    with view:
        shape = view.shape or ()
        if view.format == "O":  # Python objects (a numpy object array): taken element by element
            return None
        if view.ndim == 2 and view.itemsize == 1 and view.c_contiguous:
            count, width = shape[0], shape[1]
        elif view.ndim == 1 and view.format.endswith("s") and view.c_contiguous:
            count, width = shape[0], view.itemsize
        else:
            raise TypeError(
                "send_many(): a buffer column must hold fixed-width rows (2-D bytes, or 1-D items of "
                f"format 'Ns'), got ndim={view.ndim} format={view.format!r}"
            )
        raw = view.tobytes()
    return [raw[i * width : (i + 1) * width] for i in range(count)]


class SendManyCompletion:
    """Counts down the batches holding one call's records; on the last one, resolves ``future``
    with a :class:`SendManyResult`.

    ``results[j]``/``slots[j]`` say where the j-th appended record is (its batch's result, its
    index in that batch) and ``positions[j]`` its index in the call (None: the same as j).
    ``early`` holds the records that failed before being appended.
    """

    def __init__(
        self,
        topic: str,
        count: int,
        results: list[BatchResult],
        slots: list[int],
        positions: list[int] | None,
        early: list[tuple[int, BaseException]],
    ) -> None:
        self.topic = topic
        self.count = count
        self.results = results
        self.slots = slots
        self.positions = positions
        self.early = early
        self.future: Future[SendManyResult] = Future()
        self.future.set_running_or_notify_cancel()
        self._lock = threading.Lock()
        distinct = list(dict.fromkeys(results))
        self._pending = len(distinct)
        if not distinct:
            self._finish()
            return
        for result in distinct:
            # A record future of the batch stands for the whole batch: all its records resolve at once.
            RecordFuture(result, 0, 0, -1, -1).add_done_callback(self._batch_done)

    def _batch_done(self, _: RecordFuture) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self._finish()

    def _finish(self) -> None:
        errors = list(self.early)
        if any(r.exception is not None or r.errors is not None for r in dict.fromkeys(self.results)):
            positions = self.positions
            for j, (result, slot) in enumerate(zip(self.results, self.slots, strict=True)):
                error = result.errors[slot] if result.errors is not None else result.exception
                if error is not None:
                    errors.append((j if positions is None else positions[j], error))
            errors.sort(key=_first)
        self.future.set_result(SendManyResult(self.topic, self.count, errors))


def _first(item: tuple[int, BaseException]) -> int:
    return item[0]


def per_record(column: list[Any] | None, count: int, name: str) -> list[Any] | None:
    """Check that a per-record column has one entry per value."""
    if column is not None and len(column) != count:
        raise ValueError(f"send_many(): {name} has {len(column)} entries for {count} values")
    return column


def failed_future(
    topic: str, partition: int | None, error: BaseException, callback: DeliveryCallback | None
) -> RecordFuture:
    """The future of a record that failed before it was queued; runs its callback now."""
    result = BatchResult(topic, -1 if partition is None else partition)
    future = RecordFuture(result, 0, -1, -1, -1)
    if callback is not None:
        result.add(future, callback, True)
    result.complete(-1, -1, error)
    return future


class PrepareRecord(Protocol):
    """The producer's one preparation of a record (serialized, validated, placed, sized), shared by
    ``send()`` and :class:`BulkSender`: it hands the result to ``append`` (the accumulator's
    signature) or, for a record too large to ever send, to ``reject``, and returns what they return.
    ``info`` is the topic's metadata when the caller has it (None: looked up)."""

    def __call__(
        self, topic: str, value: Any, key: Any, partition: int | None, timestamp_ms: Any, headers: Any,
        callback: DeliveryCallback | None, info: TopicInfo | None, append: Callable[..., _T],
        reject: Callable[..., _T],
    ) -> _T: ...


class BulkSender:
    """``Producer.send_many()`` once the producer has checked it may send: the columns are taken
    apart, each record prepared (by ``prepare``, or column-wise when all are plain bytes) and
    appended with one :meth:`Accumulator.append_many` call.

    ``one_at_a_time`` (interceptors or serializers that take the topic and headers are configured)
    sends each record with ``send`` instead, so that they see every record."""

    def __init__(
        self,
        *,
        accumulator: Accumulator,
        metrics: ProducerMetrics,
        topics: Callable[[], Mapping[str, TopicInfo]],
        topic_info: Callable[[str], TopicInfo],
        prepare: PrepareRecord,
        send: Callable[..., RecordFuture],
        too_large: Callable[[int], Exception],
        one_at_a_time: bool,
        plain_values: bool,
        plain_keys: bool,
        hash_keys: bool,
        custom_partition: bool,
        max_payload: int,
    ) -> None:
        self.accumulator = accumulator
        self.metrics = metrics
        self.topics = topics
        self.topic_info = topic_info
        self.prepare = prepare
        self.send = send
        self.too_large = too_large
        self.one_at_a_time = one_at_a_time
        self.plain_values = plain_values
        self.plain_keys = plain_keys
        self.hash_keys = hash_keys
        self.custom_partition = custom_partition
        self.max_payload = max_payload

    def send_many(
        self, topic: str, values: Any, keys: Any, headers: Any, partition: int | None, timestamps: Any,
        callback: DeliveryCallback | None, per_record_futures: bool,
    ) -> Future[SendManyResult] | list[RecordFuture]:
        """See ``Producer.send_many()``."""
        if self.one_at_a_time:
            return self._send_each(topic, values, keys, headers, partition, timestamps, callback, per_record_futures)
        value_list = as_column(values, "values")
        count = len(value_list)
        key_list = None if keys is None else per_record(as_column(keys, "keys"), count, "keys")
        shared_headers: bytes | None = None
        header_list = None
        if isinstance(headers, Mapping):
            shared_headers = header_bytes(normalize_headers(headers)) if headers else None
        elif headers is not None:
            header_list = per_record(as_column(headers, "headers"), count, "headers")
        shared_ts = -1
        ts_list = None
        if timestamps is None:
            shared_ts = int(time.time() * 1000)
        elif type(timestamps) is int:
            shared_ts = check_timestamp(timestamps, "timestamps")
        else:
            ts_list = per_record(as_column(timestamps, "timestamps"), count, "timestamps")
        if callback is not None and not callable(callback):
            check_callback(callback)
        try:
            info = self.topics().get(topic)
        except TypeError:  # unhashable: a list, a dict...
            info = None
        if info is None:
            info = self.topic_info(check_topic(topic))
        num_partitions = len(info.leaders)
        if partition is not None and (type(partition) is not int or not 0 <= partition < num_partitions):
            partition = check_partition(partition, topic, num_partitions)
        plain = (
            self.plain_values and header_list is None and ts_list is None and not self.custom_partition
            and (key_list is None or self.plain_keys)
        )
        prepared = (
            self._prepare_plain(value_list, key_list, shared_headers, shared_ts, partition, num_partitions)
            if plain else None
        )
        if prepared is not None:
            records, sizes, key_sizes, value_sizes, parts = prepared
            positions: list[int] | None = None
            early: list[tuple[int, BaseException]] = []
        else:
            records, sizes, key_sizes, value_sizes, parts, positions, early = self._prepare_each(
                topic, info, value_list, key_list, header_list, headers if header_list is None else None,
                ts_list, shared_ts, partition,
            )
        if early and self.metrics.recording:
            self.metrics.record_error(topic, len(early), time.monotonic())
        results, slots, futures = self.accumulator.append_many(
            topic, info, parts, records, sizes, key_sizes, value_sizes, callback, per_record_futures
        )
        failed: dict[int, RecordFuture] = {}
        if early and (callback is not None or per_record_futures):
            failed = {i: failed_future(topic, partition, exc, callback) for i, exc in early}
        if not per_record_futures:
            return SendManyCompletion(topic, count, results, slots, positions, early).future
        assert futures is not None
        if not early:
            return futures
        appended = iter(futures)
        return [failed[i] if i in failed else next(appended) for i in range(count)]

    def _send_each(
        self, topic: str, values: Any, keys: Any, headers: Any, partition: int | None, timestamps: Any,
        callback: DeliveryCallback | None, per_record_futures: bool,
    ) -> Future[SendManyResult] | list[RecordFuture]:
        """send_many() one send() at a time, so that interceptors and serializers that take
        (topic, headers, data) see every record; a bad record fails alone, as in send_many()."""
        value_list = as_column(values, "values")
        count = len(value_list)
        key_list = None if keys is None else per_record(as_column(keys, "keys"), count, "keys")
        header_list = None
        if headers is not None and not isinstance(headers, Mapping):
            header_list = per_record(as_column(headers, "headers"), count, "headers")
        ts_list = None
        if timestamps is not None and type(timestamps) is not int:
            ts_list = per_record(as_column(timestamps, "timestamps"), count, "timestamps")
        futures: list[RecordFuture] = []
        for i, value in enumerate(value_list):
            try:
                futures.append(self.send(
                    topic, value, None if key_list is None else key_list[i], partition=partition,
                    timestamp_ms=timestamps if ts_list is None else ts_list[i],
                    headers=headers if header_list is None else header_list[i], callback=callback,
                ))
            except (SerializationError, ValueError) as exc:
                futures.append(failed_future(topic, partition, exc, callback))
        if per_record_futures:
            return futures
        outcome: Future[SendManyResult] = Future()
        remaining = [count]
        lock = threading.Lock()

        def resolved(_future: RecordFuture) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                errors: list[tuple[int, BaseException]] = []
                for i, future in enumerate(futures):
                    error = future.exception(0)
                    if error is not None:
                        errors.append((i, error))
                outcome.set_result(SendManyResult(topic, count, errors))

        if not futures:
            outcome.set_result(SendManyResult(topic, 0))
        for future in futures:
            future.add_done_callback(resolved)
        return outcome

    def _prepare_each(
        self,
        topic: str,
        info: TopicInfo,
        value_list: list[Any],
        key_list: list[Any] | None,
        header_list: list[Any] | None,
        shared_headers: Any,
        ts_list: list[Any] | None,
        shared_ts: int,
        partition: int | None,
    ) -> tuple[list[Record], list[int], list[int], list[int], list[int | None] | None, list[int] | None,
               list[tuple[int, BaseException]]]:
        """send_many()'s records one by one, each prepared as send() prepares one. A record that
        fails is left out and reported in the last list, (index, exception)."""
        per_partition = partition is not None or self.custom_partition or (key_list is not None and self.hash_keys)
        records: list[Record] = []
        sizes: list[int] = []
        key_sizes: list[int] = []
        value_sizes: list[int] = []
        parts: list[int | None] | None = [] if per_partition else None
        positions: list[int] | None = None
        early: list[tuple[int, BaseException]] = []
        add_record, add_size, add_key_size, add_value_size = (
            records.append, sizes.append, key_sizes.append, value_sizes.append
        )
        add_part = parts.append if parts is not None else None

        def collect(
            _topic: str, chosen: int | None, _info: TopicInfo, record: Record, size: int, key_size: int,
            value_size: int, _callback: DeliveryCallback | None,
        ) -> None:
            add_record(record)
            add_size(size)
            add_key_size(key_size)
            add_value_size(value_size)
            if add_part is not None:
                add_part(chosen)

        too_large = self.too_large

        def reject(
            _topic: str, _partition: int | None, _timestamp: int, _key_size: int, _value_size: int, size: int,
            _callback: DeliveryCallback | None,
        ) -> None:
            raise too_large(size)

        prepare = self.prepare
        for i, value in enumerate(value_list):
            try:
                timestamp = shared_ts
                if ts_list is not None:  # checked here so that errors name the column
                    timestamp = ts_list[i]
                    if timestamp is None:
                        timestamp = int(time.time() * 1000)
                    elif type(timestamp) is not int or not 0 <= timestamp <= INT64_MAX:
                        timestamp = check_timestamp(timestamp, "timestamps")
                prepare(
                    topic, value, None if key_list is None else key_list[i], partition, timestamp,
                    shared_headers if header_list is None else header_list[i], None, info, collect, reject,
                )
            except Exception as exc:  # a bad record fails alone
                early.append((i, exc))
                if positions is None:
                    positions = list(range(i))
                continue
            if positions is not None:
                positions.append(i)
        return records, sizes, key_sizes, value_sizes, parts, positions, early

    def _prepare_plain(
        self,
        value_list: list[Any],
        key_list: list[Any] | None,
        shared_headers: bytes | None,
        shared_ts: int,
        partition: int | None,
        num_partitions: int,
    ) -> tuple[list[Record], list[int], list[int], list[int], list[int | None] | None] | None:
        """send_many()'s records when they are all bytes and the same headers and timestamp go with
        each: built column by column with C-level map/zip. None when a record needs the general
        path (a value or key that is not bytes, or one too large)."""
        if not _only_bytes(value_list) or (key_list is not None and not _only_bytes(key_list)):
            return None
        count = len(value_list)
        value_sizes = list(map(len, value_list))
        header_size = len(shared_headers) if shared_headers is not None else 0
        keys: Any
        if key_list is None:
            payloads, key_sizes, keys = value_sizes, [-1] * count, repeat(None, count)
        else:
            key_sizes = list(map(len, key_list))
            payloads, keys = list(map(add, value_sizes, key_sizes)), key_list
        if count and max(payloads) + header_size > self.max_payload:
            return None
        records: list[Record] = list(
            zip(repeat(shared_ts, count), keys, value_list, repeat(shared_headers, count), strict=True)
        )
        sizes = list(map((FRAMING_ESTIMATE + header_size).__add__, payloads))
        parts: list[int | None] | None = None
        if partition is not None:
            parts = [partition] * count
        elif key_list is not None and self.hash_keys:
            hash_of = murmur2
            parts = [(hash_of(key) & 0x7FFFFFFF) % num_partitions for key in key_list]
        return records, sizes, key_sizes, value_sizes, parts


def _only_bytes(column: list[Any]) -> bool:
    return set(map(type, column)) <= {bytes}
