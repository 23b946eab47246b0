"""Producer id, epoch and per-partition sequence numbers for the idempotent producer.

Sequences are assigned when a batch is first drained and never change on a retry, so the
broker can drop a duplicate and spot a gap. When a batch that had a sequence fails for good
(or expires), later sequences of its partition would leave a gap: the producer then bumps its
epoch locally (KIP-360) once nothing is in flight, and every partition starts again at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from josef._core.batch import ProducerBatch
from josef.types import TopicPartition

INT32_MAX = 2**31 - 1
INT16_MAX = 2**15 - 1
# The broker keeps the last five batches per partition for duplicate detection.
MAX_IN_FLIGHT_PER_PARTITION = 5


def add_sequence(sequence: int, increment: int) -> int:
    """Sequences wrap from 2**31-1 to 0, as the broker expects."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


@dataclass
class PartitionSequence:
    next_sequence: int = 0
    last_acked: int = -1
    # Until the first success, a partition gets one request in flight: a broker with no state
    # for this producer accepts any first sequence (KAFKA-15591), so pipelining before then
    # can reorder or lose records.
    acked_once: bool = False


class IdempotenceState:
    def __init__(self) -> None:
        self.producer_id = -1
        self.producer_epoch = -1
        self.bump_needed = False
        self.reinit_needed = False
        self._partitions: dict[TopicPartition, PartitionSequence] = {}

    def set_producer_id(self, producer_id: int, epoch: int) -> None:
        self.producer_id = producer_id
        self.producer_epoch = epoch
        self.bump_needed = False
        self._partitions.clear()

    def _entry(self, tp: TopicPartition) -> PartitionSequence:
        entry = self._partitions.get(tp)
        if entry is None:
            entry = self._partitions[tp] = PartitionSequence()
        return entry

    def max_in_flight(self, tp: TopicPartition) -> int:
        entry = self._partitions.get(tp)
        return MAX_IN_FLIGHT_PER_PARTITION if entry is not None and entry.acked_once else 1

    def assign(self, batch: ProducerBatch) -> None:
        entry = self._entry(batch.tp)
        batch.producer_id = self.producer_id
        batch.producer_epoch = self.producer_epoch
        batch.base_sequence = entry.next_sequence
        entry.next_sequence = add_sequence(entry.next_sequence, batch.count)

    def acknowledged(self, batch: ProducerBatch) -> None:
        if batch.producer_id != self.producer_id or batch.producer_epoch != self.producer_epoch:
            return
        entry = self._entry(batch.tp)
        entry.last_acked = add_sequence(batch.base_sequence, batch.count - 1)
        entry.acked_once = True

    def is_consequence(self, batch: ProducerBatch) -> bool:
        """OUT_OF_ORDER_SEQUENCE_NUMBER for a batch that is not next in line only means an
        earlier batch failed first: resending in order fixes it."""
        entry = self._partitions.get(batch.tp)
        if entry is None or batch.producer_epoch != self.producer_epoch:
            return False
        return batch.base_sequence != add_sequence(entry.last_acked, 1)

    def failed(self, batch: ProducerBatch, error: BaseException | None) -> None:
        """A batch with a sequence will never be acknowledged: later sequences need a new epoch."""
        if batch.producer_id == self.producer_id and batch.producer_epoch == self.producer_epoch:
            self.bump_needed = True

    def reset_producer_id(self) -> None:
        """Ask for a fresh producer id (InitProducerId) instead of a bump."""
        self.bump_needed = True
        self.reinit_needed = True

    def bump_epoch(self) -> None:
        if self.producer_epoch >= INT16_MAX or self.reinit_needed:
            self.reinit_needed = False
            self.producer_id = -1  # a fresh producer id instead
            self.producer_epoch = -1
        else:
            self.producer_epoch += 1
        self.bump_needed = False
        self._partitions.clear()
