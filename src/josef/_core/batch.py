"""One partition's records that travel together in one RecordBatch, and its send state.

A leaf of the sender-thread machinery: the accumulator fills batches, the sender, idempotence and metrics
read them, and none of those need each other to know what a batch is.
"""

from __future__ import annotations

from josef._core.records import HEADER_SIZE
from josef.future import BatchResult
from josef.types import TopicPartition

__all__ = ["ProducerBatch"]


class ProducerBatch:
    """Records for one partition that travel in one RecordBatch.

    Its records live only in ``buf``, in wire format, written as each is appended (by the C
    shortcut, the Python append and ``send_many`` alike), as the Java client's
    ``MemoryRecordsBuilder`` writes them: one compact copy, no Python object per record, and the
    sender sends that buffer as it is instead of walking records scattered in memory."""

    __slots__ = (
        "attempts",
        "base_sequence",
        "base_ts",
        "buf",
        "closed",
        "count",
        "created",
        "encoded",
        "last_attempt",
        "limit",
        "max_record",
        "max_ts",
        "partition",
        "producer_epoch",
        "producer_id",
        "raw_size",
        "reserved",
        "result",
        "retry_at",
        "size",
        "topic",
        "tp",
        "unknown",
    )

    def __init__(self, tp: TopicPartition, now: float) -> None:
        self.tp = tp
        self.topic, self.partition = tp
        # Room for the batch header (filled in when sent), then the records section.
        self.buf = bytearray(HEADER_SIZE)
        self.count = 0  # records in buf
        self.base_ts = -1  # the first record's timestamp: what the others' deltas are from
        self.max_record = 0  # the largest record's size as send() counted it (for record-size-max)
        self.size = HEADER_SIZE  # estimated bytes, uncompressed
        self.limit = 0  # uncompressed bytes this batch may hold (batch.size, or more when compressed)
        self.reserved = 0  # bytes of buffer.memory this batch holds
        self.result = BatchResult(tp[0], tp[1])
        self.created = now
        self.attempts = 0
        self.last_attempt = 0.0
        self.retry_at = 0.0
        # An attempt ended without a definite answer (timeout, lost connection, ...): the
        # batch may be in the log. Sticky until the broker acknowledges it.
        self.unknown = False
        self.max_ts = -1
        self.closed = False
        self.producer_id = -1
        self.producer_epoch = -1
        self.base_sequence = -1
        self.encoded: bytearray | None = None
        self.raw_size = 0

    def __repr__(self) -> str:
        return f"<ProducerBatch {self.topic}-{self.partition} n={self.count} seq={self.base_sequence}>"
