"""One partition of the mock cluster: its log, watermarks, replicas and per-producer idempotence state.

The log keeps record batches exactly as producers sent them; only the base offset (and the partition
leader epoch, neither covered by the CRC) is rewritten on append, as a broker does.  Memory is bounded by
``retention_bytes``: the oldest batches are dropped (and the log start offset moves) once a partition holds
more than that.

Idempotence follows the broker's rules (Kafka's ``ProducerStateManager``), per producer id:

* an older epoch than the last one seen: INVALID_PRODUCER_EPOCH;
* a newer epoch: accepted only if its first sequence is 0 (the producer restarted its sequences);
* the same epoch: a batch whose sequences match one of the last five appended batches is a duplicate and
  is answered with the original base offset, without appending it again; otherwise the first sequence
  must follow the last one appended, or the answer is OUT_OF_ORDER_SEQUENCE_NUMBER;
* a producer id this partition has no state for: any first sequence is accepted (Kafka 2.5+, where
  state may have been removed by retention), unless the cluster never issued that id, which gives
  UNKNOWN_PRODUCER_ID.

Transactions: the first transactional batch of a producer opens its transaction on this partition (its
offset bounds the last stable offset); a control batch (:func:`control_batch`) closes it, and an abort
adds ``(producer_id, first_offset, last_offset)`` to the aborted-transactions index that read_committed
fetches return.
"""

from __future__ import annotations

import bisect
import struct
from collections import deque
from dataclasses import dataclass, field

from josef._core import compression
from josef._core.idempotence import add_sequence
from josef._core.records import (
    CONTROL_FLAG,
    HEADER_SIZE,
    TRANSACTIONAL_FLAG,
    BatchHeader,
    crc_matches,
    encode_batch,
    read_batch_header,
    read_varint,
    set_base_offset,
)
from josef.errors import ErrorCode, ProtocolError

__all__ = [
    "MAX_DUPLICATE_WINDOW",
    "BatchHeader",
    "Partition",
    "ProducerEntry",
    "control_batch",
    "count_records",
    "last_sequence",
    "parse_batch_header",
]

MAX_DUPLICATE_WINDOW = 5

_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")


def last_sequence(header: BatchHeader) -> int:
    """The sequence number of the batch's last record."""
    return add_sequence(header.base_sequence, header.record_count - 1)


class InvalidBatch(Exception):
    """The produced records are not one valid batch; ``code`` is the error to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_batch_header(data: bytes) -> BatchHeader:
    """Check that ``data`` is exactly one RecordBatch v2 with a good CRC; raises :class:`InvalidBatch`."""
    try:
        header = read_batch_header(data)
    except ProtocolError as exc:
        raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE, str(exc)) from None
    if header.magic != 2:
        raise InvalidBatch(ErrorCode.INVALID_RECORD, f"record batch magic {header.magic}: Produce v3+ needs magic 2")
    if header.size != len(data):
        if header.size < len(data):
            raise InvalidBatch(ErrorCode.INVALID_RECORD, "a Produce partition must carry exactly one record batch")
        raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE,
                           f"record batch length {header.length} runs past the {len(data)} bytes sent")
    if not crc_matches(data, header):
        raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE, "record batch CRC mismatch")
    count, last_delta = header.record_count, header.last_offset_delta
    if count <= 0 or last_delta != count - 1:
        raise InvalidBatch(ErrorCode.INVALID_RECORD,
                           f"record count {count} disagrees with last offset delta {last_delta}")
    if header.control:
        raise InvalidBatch(ErrorCode.INVALID_RECORD, "clients may not produce control batches")
    return header


def count_records(data: bytes, header: BatchHeader, max_uncompressed: int) -> int:
    """The number of records in the batch's record section, walking only the record lengths.

    Compressed sections are decompressed first (refused beyond ``max_uncompressed`` bytes).  Cheap
    enough for every Produce request, unlike decoding each record's fields.
    """
    body: bytes = data[HEADER_SIZE:]
    if header.codec:
        try:
            body = compression.decompress(header.codec, body)
        except Exception as exc:
            raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE, f"cannot decompress the record batch: {exc}") from exc
        if len(body) > max_uncompressed:
            raise InvalidBatch(ErrorCode.INVALID_RECORD, "decompressed record batch is too large")
    pos, end, count = 0, len(body), 0
    while pos < end:
        try:
            size, pos = read_varint(body, pos, end)
        except ProtocolError as exc:
            raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE, str(exc)) from None
        if size <= 0 or pos + size > end:
            raise InvalidBatch(ErrorCode.CORRUPT_MESSAGE, "record length runs past the end of the batch")
        pos += size
        count += 1
        if count > header.record_count:
            break
    if count != header.record_count:
        raise InvalidBatch(ErrorCode.INVALID_RECORD, f"batch says {header.record_count} records, holds {count}")
    return count


def control_batch(offset: int, producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                  timestamp_ms: int) -> bytes:
    """A control batch holding one transaction marker (COMMIT when ``commit``, else ABORT).

    Key: version int16 0, type int16 (0 abort, 1 commit); value: version int16 0, coordinator epoch int32.
    """
    key = _CONTROL_KEY.pack(0, 1 if commit else 0)
    value = _CONTROL_VALUE.pack(0, coordinator_epoch)
    out, _ = encode_batch(
        [(timestamp_ms, key, value, None)], base_timestamp=timestamp_ms, max_timestamp=timestamp_ms,
        producer_id=producer_id, producer_epoch=producer_epoch, transactional=True, control=True,
    )
    set_base_offset(out, offset, -1)
    return bytes(out)


@dataclass
class ProducerEntry:
    """What a partition remembers about one producer id."""

    epoch: int
    last_sequence: int = -1
    # (first sequence, last sequence, base offset) of the last batches appended, newest last.
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=MAX_DUPLICATE_WINDOW))
    # Offset of this producer's first record in its open transaction here, or None.
    txn_first_offset: int | None = None


@dataclass
class StoredBatch:
    base_offset: int
    last_offset: int
    max_timestamp: int
    producer_id: int
    attributes: int
    data: bytes


class AppendResult:
    """``code`` 0 with ``base_offset`` (``duplicate`` when an earlier append is being replayed)."""

    __slots__ = ("base_offset", "code", "duplicate", "message")

    def __init__(self, code: int, base_offset: int = -1, message: str | None = None, duplicate: bool = False):
        self.code = code
        self.base_offset = base_offset
        self.message = message
        self.duplicate = duplicate


class Partition:
    """One topic partition: replicas and leadership, and the log the leader holds."""

    def __init__(self, topic: str, index: int, replicas: list[int], retention_bytes: int,
                 min_insync_replicas: int) -> None:
        self.topic = topic
        self.index = index
        self.replicas = list(replicas)
        self.isr = list(replicas)
        self.leader = replicas[0] if replicas else -1
        self.leader_epoch = 0
        self.retention_bytes = retention_bytes
        self.min_insync_replicas = min_insync_replicas
        self.max_message_bytes: int | None = None  # the topic's max.message.bytes, if set
        self.retention_ms = -1  # the topic's retention.ms (-1: keep)
        self.batches: list[StoredBatch] = []
        self._last_offsets: list[int] = []  # parallel to batches, for bisect
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.high_watermark = 0
        self.size_bytes = 0
        self.producers: dict[int, ProducerEntry] = {}
        self.open_txns: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.aborted: list[tuple[int, int, int]] = []  # (producer id, first offset, last offset)
        # High watermark advances scheduled by simulated replication: (due time, offset).
        self.pending_hw: deque[tuple[float, int]] = deque()

    def __repr__(self) -> str:
        return (f"<Partition {self.topic}-{self.index} leader={self.leader} isr={self.isr} "
                f"offsets={self.log_start_offset}..{self.log_end_offset} hw={self.high_watermark}>")

    @property
    def last_stable_offset(self) -> int:
        if self.open_txns:
            return min(min(self.open_txns.values()), self.high_watermark)
        return self.high_watermark

    # -- appending -------------------------------------------------------------------------------

    def check_producer(self, header: BatchHeader, pid_known: bool) -> AppendResult | None:
        """The idempotence verdict for a batch: None to append it, else the answer to give."""
        pid = header.producer_id
        if pid < 0:
            return None
        entry = self.producers.get(pid)
        first = header.base_sequence
        if entry is None:
            if not pid_known:
                return AppendResult(ErrorCode.UNKNOWN_PRODUCER_ID, message=f"producer id {pid} was never issued")
            return None
        if header.producer_epoch < entry.epoch:
            return AppendResult(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                message=f"epoch {header.producer_epoch} is older than {entry.epoch} for producer id {pid}",
            )
        if header.producer_epoch > entry.epoch:
            if first != 0:
                return AppendResult(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    message=f"new epoch {header.producer_epoch} must start at sequence 0, not {first}")
            return None
        last = last_sequence(header)
        for dup_first, dup_last, dup_offset in entry.recent:
            if dup_first == first and dup_last == last:
                return AppendResult(ErrorCode.NONE, dup_offset, duplicate=True)
        if entry.last_sequence >= 0 or entry.recent:
            expected = add_sequence(entry.last_sequence, 1)
            if first != expected:
                return AppendResult(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    message=f"expected sequence {expected}, got {first} (producer id {pid})")
        elif first != 0:
            return AppendResult(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                message=f"expected sequence 0, got {first} (producer id {pid})")
        return None

    def append(self, data: bytes, header: BatchHeader, leader_epoch: int) -> int:
        """Append an already validated batch; returns its base offset."""
        base = self.log_end_offset
        buf = bytearray(data)
        set_base_offset(buf, base, leader_epoch)
        self._store(StoredBatch(base, base + header.last_offset_delta, header.max_timestamp, header.producer_id,
                                header.attributes, bytes(buf)))
        pid = header.producer_id
        if pid >= 0:
            entry = self.producers.get(pid)
            if entry is None or header.producer_epoch != entry.epoch:
                txn = entry.txn_first_offset if entry is not None else None
                entry = self.producers[pid] = ProducerEntry(header.producer_epoch, txn_first_offset=txn)
            entry.last_sequence = last_sequence(header)
            entry.recent.append((header.base_sequence, entry.last_sequence, base))
            if header.transactional and pid not in self.open_txns:
                self.open_txns[pid] = base
                entry.txn_first_offset = base
        return base

    def write_marker(self, producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                     now_ms: int) -> int:
        """Append a COMMIT/ABORT control batch for ``producer_id``; returns its offset."""
        offset = self.log_end_offset
        data = bytearray(control_batch(offset, producer_id, producer_epoch, commit, coordinator_epoch, now_ms))
        set_base_offset(data, offset, self.leader_epoch)
        self._store(StoredBatch(offset, offset, now_ms, producer_id, CONTROL_FLAG | TRANSACTIONAL_FLAG, bytes(data)))
        first = self.open_txns.pop(producer_id, None)
        entry = self.producers.get(producer_id)
        if entry is not None:
            entry.txn_first_offset = None
        if first is not None and not commit:
            self.aborted.append((producer_id, first, offset))
        return offset

    def _store(self, batch: StoredBatch) -> None:
        self.batches.append(batch)
        self._last_offsets.append(batch.last_offset)
        self.log_end_offset = batch.last_offset + 1
        self.size_bytes += len(batch.data)
        if self.size_bytes > self.retention_bytes:
            self._enforce_retention()

    def _enforce_retention(self) -> None:
        drop = 0
        size = self.size_bytes
        while size > self.retention_bytes and drop < len(self.batches) - 1:
            size -= len(self.batches[drop].data)
            drop += 1
        if not drop:
            return
        del self.batches[:drop]
        del self._last_offsets[:drop]
        self.size_bytes = size
        self.log_start_offset = self.batches[0].base_offset
        self.aborted = [a for a in self.aborted if a[2] >= self.log_start_offset]
        self.high_watermark = max(self.high_watermark, self.log_start_offset)

    def truncate_to_empty(self) -> None:
        """Forget every record (used by :meth:`MockCluster.delete_records`-style helpers)."""
        self.batches.clear()
        self._last_offsets.clear()
        self.log_start_offset = self.log_end_offset
        self.high_watermark = self.log_end_offset
        self.size_bytes = 0
        self.aborted.clear()

    def delete_before(self, offset: int) -> None:
        """Move the log start offset up to ``offset`` (DeleteRecords, time retention); whole batches below go."""
        if offset <= self.log_start_offset:
            return
        drop = bisect.bisect_left(self._last_offsets, offset)
        self.size_bytes -= sum(len(b.data) for b in self.batches[:drop])
        del self.batches[:drop]
        del self._last_offsets[:drop]
        self.log_start_offset = offset
        self.aborted = [a for a in self.aborted if a[2] >= offset]
        self.high_watermark = max(self.high_watermark, offset)

    def expire_older_than(self, timestamp_ms: int) -> None:
        """Time retention: drop the leading batches whose newest record is older than ``timestamp_ms``
        (the active batch, the last one, stays, as a broker keeps the active segment)."""
        keep = 0
        while keep < len(self.batches) - 1 and self.batches[keep].max_timestamp < timestamp_ms:
            keep += 1
        if keep:
            self.delete_before(self.batches[keep].base_offset)

    # -- replication -----------------------------------------------------------------------------

    def advance_high_watermark(self, now: float) -> bool:
        """Apply due high-watermark moves; True if the watermark moved."""
        moved = False
        while self.pending_hw and self.pending_hw[0][0] <= now:
            offset = self.pending_hw.popleft()[1]
            if offset > self.high_watermark:
                self.high_watermark = offset
                moved = True
        return moved

    # -- reading ---------------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, upper: int) -> bytes:
        """Whole batches from the one holding ``offset``, below ``upper``, up to ``max_bytes`` (at least one)."""
        i = bisect.bisect_left(self._last_offsets, offset)
        parts: list[bytes] = []
        total = 0
        batches = self.batches
        while i < len(batches):
            batch = batches[i]
            if batch.base_offset >= upper or batch.last_offset >= upper:
                break
            if parts and total + len(batch.data) > max_bytes:
                break
            parts.append(batch.data)
            total += len(batch.data)
            i += 1
        return b"".join(parts)

    def aborted_between(self, start: int, end: int) -> list[tuple[int, int]]:
        """``(producer_id, first_offset)`` of aborted transactions overlapping ``[start, end)``."""
        return [(pid, first) for pid, first, last in self.aborted if last >= start and first < end]

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int]:
        """``(offset, timestamp)`` of the first batch whose max timestamp reaches ``timestamp``; (-1, -1) if none.

        Batch granularity: the offset is that batch's base offset, which is where a consumer must start.
        """
        for batch in self.batches:
            if batch.max_timestamp >= timestamp and not batch.attributes & CONTROL_FLAG:
                return batch.base_offset, batch.max_timestamp
        return -1, -1

    def max_timestamp_offset(self) -> tuple[int, int]:
        best = (-1, -1)
        for batch in self.batches:
            if not batch.attributes & CONTROL_FLAG and batch.max_timestamp > best[1]:
                best = (batch.last_offset, batch.max_timestamp)
        return best
