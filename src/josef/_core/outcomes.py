"""What becomes of a sent batch: complete it, retry it, split it, or fail it.

The sender hands every Produce response (or the failure of its request) to
:meth:`BatchOutcomes.on_produce_response`; this is where Java's error classification, the
idempotent producer's sequence-error handling (KIP-360), splitting of batches the broker
found too large (KIP-126) and ``delivery.timeout.ms`` are applied. Sender thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from josef._core.accumulator import Accumulator
from josef._core.batch import ProducerBatch
from josef._core.compression import Compressor
from josef._core.idempotence import IdempotenceState, add_sequence
from josef._core.metadata import ClusterMetadata
from josef._core.metrics import ProducerMetrics
from josef._core.network import Backoff
from josef._core.records import HEADER_SIZE, append_records, decode_section, estimated_size
from josef._core.transactions import TransactionManager
from josef.errors import (
    DeliveryTimeoutError,
    ErrorCode,
    KafkaConnectionError,
    KafkaError,
    RecordTooLargeError,
    error_for_code,
)
from josef.types import TopicPartition

log = logging.getLogger("josef.sender")

E = ErrorCode
_SEQUENCE_ERRORS = frozenset({E.OUT_OF_ORDER_SEQUENCE_NUMBER, E.UNKNOWN_PRODUCER_ID, E.INVALID_PRODUCER_EPOCH})
# Errors after which the batch may be in the log all the same.
_MAYBE_WRITTEN = frozenset({
    E.REQUEST_TIMED_OUT, E.NETWORK_EXCEPTION, E.NOT_ENOUGH_REPLICAS_AFTER_APPEND, E.UNKNOWN_SERVER_ERROR,
})


class BatchOutcomes:
    """Completes, retries, splits and fails batches (see the module docstring)."""

    def __init__(
        self,
        *,
        acks: int,
        retries: int,
        delivery_timeout: float,
        retry_backoff: Backoff,
        compress: Compressor | None,
        accumulator: Accumulator,
        metadata: ClusterMetadata,
        metrics: ProducerMetrics,
        idempotence: IdempotenceState | None,
        txn: TransactionManager | None,
        in_flight: dict[TopicPartition, list[ProducerBatch]],
        on_written: Callable[[], None],
    ) -> None:
        self.acks = acks
        self.retries = retries
        self.delivery_timeout = delivery_timeout
        self.retry_backoff = retry_backoff
        self.compress = compress
        self.acc = accumulator
        self.metadata = metadata
        self.metrics = metrics
        self.idempotence = idempotence
        self.txn = txn
        self.in_flight = in_flight  # the sender's per-partition in-flight batches (shared)
        self._on_written = on_written
        self.forced = False  # close() gave up: nothing is retried any more
        self.retried_batches = 0
        self.split_batches = 0
        # No batch runs out before this: every batch there was when it was computed counted, and a
        # later one runs out delivery.timeout.ms after its creation at the earliest. Spares a walk
        # over every queue at each turn of the sender.
        self._next_expiry = 0.0
        self._released: list[tuple[ProducerBatch, int, int]] | None = None  # delivered by this response

    def on_produce_response(
        self,
        by_tp: dict[TopicPartition, ProducerBatch],
        response: dict[str, Any] | None,
        error: KafkaError | None,
        names_by_id: dict[Any, str] | None = None,
    ) -> None:
        # The batches this answer delivers give their memory back together (one lock and one
        # wake-up of waiting senders per response, not per batch), then their futures resolve.
        self._released = []
        try:
            self._on_produce_response(by_tp, response, error, names_by_id)
        finally:
            released, self._released = self._released, None
            if released:
                self.acc.complete_many([batch for batch, _, _ in released])
                for batch, base_offset, append_time in released:
                    batch.result.complete(base_offset, append_time, None)

    def _on_produce_response(
        self,
        by_tp: dict[TopicPartition, ProducerBatch],
        response: dict[str, Any] | None,
        error: KafkaError | None,
        names_by_id: dict[Any, str] | None,
    ) -> None:
        now = time.monotonic()
        for batch in by_tp.values():
            flight = self.in_flight.get(batch.tp)
            if flight is not None and batch in flight:
                flight.remove(batch)
        if any(batch.result.done() for batch in by_tp.values()):
            # Batches reported at their delivery.timeout.ms while in flight: whatever the answer
            # says now, their outcome was reported (unknown) and their epoch is being replaced.
            by_tp = {tp: batch for tp, batch in by_tp.items() if not batch.result.done()}
            if not by_tp:
                return
        if error is not None or response is None:
            for batch in by_tp.values():
                # The request may or may not have reached the log: its fate is unknown.
                batch.unknown = self.acks != 0
                self._retry_or_fail(batch, error or KafkaConnectionError("no response"), now)
            return
        if self.acks == 0:
            for batch in by_tp.values():
                self.complete(batch, -1, -1, None)
            self._on_written()
            return
        seen = set()
        for topic in response["responses"]:
            name: str = names_by_id.get(topic.get("topic_id"), "") if names_by_id else topic["name"]
            for part in topic["partition_responses"]:
                tp = TopicPartition(name, part["index"])
                answered = by_tp.get(tp)
                if answered is None:
                    continue
                seen.add(tp)
                self._on_partition_response(answered, part, now)
        for tp, batch in by_tp.items():
            if tp not in seen:
                self._retry_or_fail(batch, KafkaError(f"broker response had no result for {tp[0]}-{tp[1]}"), now)

    def _on_partition_response(self, batch: ProducerBatch, part: dict[str, Any], now: float) -> None:
        code = part["error_code"]
        state = self.idempotence
        if code == E.NONE or code == E.DUPLICATE_SEQUENCE_NUMBER:
            if state is not None:
                state.acknowledged(batch)
            base = part["base_offset"] if code == E.NONE else -1
            self.complete(batch, base, part.get("log_append_time_ms", -1), None)
            return
        message = part.get("error_message")
        record_errors = part.get("record_errors") or []
        if record_errors and not message:
            message = "; ".join(f"record {e['batch_index']}: {e.get('batch_index_error_message')}"
                                for e in record_errors)
        error: KafkaError = error_for_code(code, message)
        leader = part.get("current_leader")
        if leader and leader.get("leader_id", -1) >= 0:
            self.metadata.set_leader(batch.tp, leader["leader_id"], leader.get("leader_epoch", -1))
        if getattr(error, "invalid_metadata", False):
            self.metadata.request_update()
        if code == E.MESSAGE_TOO_LARGE and batch.count > 1:
            if self.compress is not None and batch.encoded is not None and batch.raw_size:
                ratio = (len(batch.encoded) - HEADER_SIZE) / batch.raw_size
                self.acc.observe_compression(batch.topic, ratio, reset=True)
            self._split(batch, now)
            return
        if code == E.MESSAGE_TOO_LARGE:
            error = RecordTooLargeError(
                f"the broker refused a record of {batch.raw_size} bytes as too large for "
                f"{batch.topic} (message.max.bytes / max.message.bytes): {message or error}"
            )
        if code in _MAYBE_WRITTEN:
            batch.unknown = True  # the broker may have appended it before giving up
        if state is not None and code in _SEQUENCE_ERRORS:
            self._on_sequence_error(batch, code, part, error, now)
            return
        self._retry_or_fail(batch, error, now)

    def _on_sequence_error(
        self, batch: ProducerBatch, code: int, part: dict[str, Any], error: KafkaError, now: float
    ) -> None:
        """OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID and INVALID_PRODUCER_EPOCH for an
        idempotent (not transactional) producer, handled as the Java client does (KIP-360)."""
        state = self.idempotence
        assert state is not None
        if batch.producer_id != state.producer_id or batch.producer_epoch != state.producer_epoch:
            # An answer for an older epoch: send it again, stamped anew.
            batch.base_sequence = -1
            batch.encoded = None
            batch.unknown = False
            self._retry(batch, now)
            return
        if code == E.OUT_OF_ORDER_SEQUENCE_NUMBER and state.is_consequence(batch):
            # An earlier batch of this partition failed; this one follows once that is resent.
            self._retry(batch, now)
            return
        if self.txn is not None:
            # No bump mid-transaction: the batch fails, and with it the transaction (abortable).
            batch.unknown = False
            state.failed(batch, error)
            self.complete(batch, -1, -1, error)
            return
        if batch.unknown:
            # An earlier attempt may have been written before the broker lost track of it:
            # resending under a new epoch could store it twice, so it fails, saying why.
            batch.unknown = False
            state.failed(batch, error)
            self.complete(batch, -1, -1, type(error)(
                f"{error} after an attempt whose outcome is unknown (lost response or timeout): "
                "the record may or may not have been written; it was not resent, to avoid a duplicate"
            ))
            return
        if now - batch.created >= self.delivery_timeout:
            state.failed(batch, error)
            self.complete(batch, -1, -1, error)
            return
        # The broker has lost (UNKNOWN_PRODUCER_ID), never had (OUT_OF_ORDER_SEQUENCE_NUMBER)
        # or no longer accepts (INVALID_PRODUCER_EPOCH) this producer's state for the partition:
        # go on under a new epoch, sequences from 0, once nothing is in flight or unresolved.
        log.info("%s for %s-%s (sequence %s): bumping the producer epoch", type(error).__name__,
                 batch.topic, batch.partition, batch.base_sequence)
        if code == E.INVALID_PRODUCER_EPOCH:
            state.reset_producer_id()
        else:
            state.bump_needed = True
        self._retry(batch, now)

    def _split(self, batch: ProducerBatch, now: float) -> None:
        """The broker refused the batch as too large: send its records again in halves (each at
        most ``batch.size``), keeping the batch's producer id, epoch and sequence range, as the
        Java client does (KIP-126). A single record still too large then fails alone."""
        records = decode_section(memoryview(batch.buf)[HEADER_SIZE:], batch.base_ts)
        target = min(self.acc.batch_size, max(batch.raw_size // 2, 1))
        parts: list[ProducerBatch] = []
        start = 0
        while start < len(records):
            size, end = 0, start
            while end < len(records) and (end == start or size + estimated_size(records[end]) <= target):
                size += estimated_size(records[end])
                end += 1
            if end - start == len(records):  # never resend the batch whole
                end = start + max(len(records) // 2, 1)
            part = ProducerBatch(batch.tp, batch.created)
            run = records[start:end]
            append_records(part.buf, run, run[0][0], 0, size)
            part.count = len(run)
            part.base_ts = run[0][0]
            part.size = size
            part.max_ts = max(r[0] for r in run)
            part.max_record = max(map(estimated_size, run))
            part.attempts = batch.attempts
            if batch.base_sequence >= 0:
                part.producer_id = batch.producer_id
                part.producer_epoch = batch.producer_epoch
                part.base_sequence = add_sequence(batch.base_sequence, start)
            parts.append(part)
            start = end
        batch.result.split(
            [(part.result, sum(p.count for p in parts[:i]), part.count) for i, part in enumerate(parts)],
            lambda: self.acc.complete(batch),
        )
        self.split_batches += 1
        if self.metrics.recording:
            self.metrics.record_split(now)
        self.acc.put_back(parts)

    def _retry_or_fail(self, batch: ProducerBatch, error: KafkaError, now: float) -> None:
        retry_allowed = error.retriable and batch.attempts < self.retries and not self.forced
        timed_out = now - batch.created >= self.delivery_timeout
        if retry_allowed and not timed_out:
            self._retry(batch, now)
            return
        if batch.unknown and self.idempotence is not None and not self.forced and error.retriable and not timed_out:
            # It may be in the log: failing it could be a lie, and resending it under a new
            # sequence a duplicate. Retry with the same sequence until the broker says which,
            # or until delivery.timeout.ms, when it is reported with its outcome unknown.
            self._retry(batch, now)
            return
        if self.idempotence is not None and batch.base_sequence >= 0:
            self.idempotence.failed(batch, error)  # its sequence is never reused: a new epoch
        if retry_allowed or (batch.unknown and timed_out):
            # Only delivery.timeout.ms stopped the retries: that is the outcome, as when the
            # batch expires while queued (the last attempt's error is in the message).
            error = self._delivery_timeout(batch, now, f"; the last attempt failed with {error!r}")
        self.complete(batch, -1, -1, error)

    def _delivery_timeout(self, batch: ProducerBatch, now: float, detail: str = "") -> DeliveryTimeoutError:
        waited = (now - batch.created) * 1000
        unknown = batch.unknown and self.acks != 0
        outcome = (
            "; the outcome is unknown: the batch was sent and no answer settled it in time (none came, "
            "or one that leaves it open), so the records may or may not have been written (they are not "
            "sent again)"
            if unknown else ""
        )
        return DeliveryTimeoutError(
            f"expiring {batch.count} record(s) for {batch.topic}-{batch.partition}: "
            f"{waited:.0f} ms has passed since batch creation (delivery.timeout.ms="
            f"{self.delivery_timeout * 1000:.0f}){outcome}{detail}",
            outcome_unknown=unknown,
        )

    def _retry(self, batch: ProducerBatch, now: float) -> None:
        self.retried_batches += 1
        if self.metrics.recording:
            self.metrics.record_retry(batch.topic, batch.count, now)
        self.acc.reenqueue(batch, now, self.retry_backoff(batch.attempts + 1))

    def complete(self, batch: ProducerBatch, base_offset: int, append_time: int, error: BaseException | None) -> None:
        if batch.result.done():
            return
        if append_time is None:
            append_time = -1
        if error is None and self._released is not None:
            self._released.append((batch, base_offset, append_time))
            return
        self.acc.complete(batch)
        if error is not None and self.metrics.recording:
            self.metrics.record_error(batch.topic, batch.count, time.monotonic())
        if error is not None and self.txn is not None:
            self.txn.batch_failed(error)
        batch.result.complete(base_offset, append_time, error)

    def expire(self, now: float) -> float:
        """Report every batch whose ``delivery.timeout.ms`` ran out, queued or in flight: a hard
        bound, as in the Java client. A batch that may be in the log (sent, no answer) fails with
        its outcome unknown; its sequence is never reused: the epoch is bumped (KIP-360) once the
        requests in flight are resolved, and a transaction holding it must abort."""
        if now < self._next_expiry:
            return self._next_expiry - now + 0.001
        expired, next_expiry = self.acc.expire(now, self.delivery_timeout)
        for flight in self.in_flight.values():
            for batch in flight:
                if batch.result.done():
                    continue
                deadline = batch.created + self.delivery_timeout
                if now < deadline:
                    next_expiry = min(next_expiry, deadline)
                    continue
                batch.unknown = self.acks != 0  # sent, and no answer yet
                expired.append(batch)  # stays in flight until its request is resolved
        for batch in expired:
            if self.idempotence is not None and batch.base_sequence >= 0:
                self.idempotence.failed(batch, None)
            self.complete(batch, -1, -1, self._delivery_timeout(batch, now))
        self._next_expiry = min(next_expiry, now + self.delivery_timeout)
        return max(next_expiry - now, 0.0) + 0.001

    def fail_everything(self, error: BaseException) -> None:
        for batch in self.acc.abort_all():
            self.complete(batch, -1, -1, error)
        for flight in self.in_flight.values():
            for batch in flight:
                self.complete(batch, -1, -1, error)
            flight.clear()
        for batch in list(self.acc.incomplete):
            self.complete(batch, -1, -1, error)

