"""``send_many()``'s pieces that are not the send path itself: turning the caller's columns into
lists, and the one result for a whole call (:class:`SendManyResult`, resolved by
:class:`SendManyCompletion` once the last batch holding one of its records is resolved).

Whole-call bookkeeping costs one callback per batch, not per record: records of one call that
share a batch share its outcome, so per-record work happens only for batches that failed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from josef.future import BatchResult, DeliveryCallback, RecordFuture


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
