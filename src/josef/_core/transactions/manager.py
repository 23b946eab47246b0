"""The transaction manager: the user's transactional calls, and the sender's I/O-free view of them.

User threads call its blocking methods (through ``Producer``); they change the state, queue
coordinator requests and wait on a :class:`~josef._core.transactions.types.TxnResult`. The sender
thread asks it, once per turn of its loop, for :meth:`TransactionManager.next_request` (at most
one coordinator request in flight, the most urgent first: FindCoordinator, InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), resolves the request's target,
sends it and hands the answer back to the request. EndTxn goes out only once every batch of
the transaction completed. The manager holds no reference to the sender or the network.

Two wire protocols, chosen when the producer id is obtained:

* transactions v1 (KIP-98): a partition joins the transaction through AddPartitionsToTxn
  before its first batch is drained; offsets through AddOffsetsToTxn, then TxnOffsetCommit;
  a transaction that saw a failed batch is followed by an epoch bump (InitProducerId with the
  current id and epoch) so that sequences can start again from 0.
* transactions v2 (KIP-890, Kafka 4.0+, cluster feature ``transaction.version`` >= 2):
  Produce v12 and TxnOffsetCommit v5 add partitions implicitly; every EndTxn (v5) bumps the
  epoch and returns the id and epoch for the next transaction, and sequences restart at 0.

Errors are of three kinds. Retriable ones (coordinator moved or loading, concurrent
transactions, disconnects) are retried here, re-finding the coordinator when needed.
Abortable ones (a failed batch, TRANSACTION_ABORTABLE, group fencing of the offsets commit)
put the manager in ``ABORTABLE_ERROR``: the user must call ``abort_transaction()``, which then
makes the producer usable again. Fatal ones (fenced by a newer instance, authorization,
protocol violations) are final: every later call raises them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from josef._core.idempotence import IdempotenceState
from josef._core.request_source import Target, TargetKind
from josef._core.transactions.core import TxnCore
from josef._core.transactions.requests import (
    AddOffsetsRequest,
    AddPartitionsRequest,
    Coordinator,
    EndTxnRequest,
    InitProducerIdRequest,
    TxnOffsetCommitRequest,
    TxnRequest,
)
from josef._core.transactions.state import DRAINABLE, FAIL_QUEUED, TxnState
from josef._core.transactions.types import ConsumerGroupMetadata, Offsets, TxnResult
from josef.errors import IllegalStateError, KafkaTimeoutError, TransactionAbortedError

if TYPE_CHECKING:
    from josef._core.accumulator import ProducerBatch

_FOREVER = 3600.0


class TransactionManager(TxnCore):
    def __init__(
        self,
        transactional_id: str,
        transaction_timeout_ms: int,
        idempotence: IdempotenceState,
        wake: Callable[[], None],
        *,
        retry_backoff: float = 0.1,
        retry_backoff_max: float = 1.0,
    ) -> None:
        super().__init__(transactional_id, transaction_timeout_ms, idempotence, wake, retry_backoff, retry_backoff_max)
        self._give_up_at: float | None = None  # closing: stop waiting for the coordinator then
        self._poll_delay = _FOREVER

    # -- user threads --------------------------------------------------------------------------

    def _raise_if_failed(self, allow_abortable: bool = False) -> None:
        if self.state is TxnState.FATAL_ERROR:
            assert self.last_error is not None
            raise self.last_error
        if self.state is TxnState.ABORTABLE_ERROR and not allow_abortable:
            raise self.abort_required()

    def _check_pending(self, op: str) -> TxnResult | None:
        """The earlier timed-out call, if this is the same call (which resumes it); raises if
        another call is still pending."""
        pending = self.pending
        if pending is None:
            return None
        if pending.op == op:
            return pending
        if op == "abort_transaction" and pending.done() and self.state is TxnState.ABORTABLE_ERROR:
            self.pending = None  # its failure is why the user aborts
            return None
        raise IllegalStateError(
            f"{op}() while an earlier {pending.op}() that timed out is still unresolved: "
            f"call {pending.op}() again to learn its outcome first"
        )

    def check_send(self) -> None:
        """``send()`` is only allowed inside a transaction."""
        state = self.state
        if state is TxnState.IN_TRANSACTION:
            return
        self._raise_if_failed()
        raise IllegalStateError(
            f"send() on a transactional producer outside a transaction (state: {state.value}): "
            "call begin_transaction() first"
            + (" (and init_transactions() before that)" if state is TxnState.UNINITIALIZED else "")
        )

    def init_transactions(self) -> TxnResult:
        with self.lock:
            self._raise_if_failed()
            pending = self._check_pending("init_transactions")
            if pending is not None:
                return pending
            if self.state is not TxnState.UNINITIALIZED:
                raise IllegalStateError(
                    f"init_transactions() called twice (state: {self.state.value}); it is called once per producer"
                )
            self.transition_to(TxnState.INITIALIZING)
            result = self.pending = TxnResult("init_transactions")
            self.enqueue(InitProducerIdRequest(self, result))
        self.wake()
        return result

    def begin_transaction(self) -> None:
        with self.lock:
            self._raise_if_failed()
            self._check_pending("begin_transaction")
            if self.state is TxnState.UNINITIALIZED:
                raise IllegalStateError("begin_transaction() before init_transactions()")
            if self.state is TxnState.IN_TRANSACTION:
                raise IllegalStateError("begin_transaction() while a transaction is already open")
            if self.state is not TxnState.READY:
                raise IllegalStateError(
                    f"begin_transaction() while the previous transaction is still {self.state.value}"
                )
            self.transition_to(TxnState.IN_TRANSACTION)

    def send_offsets(self, offsets: Offsets, group: ConsumerGroupMetadata) -> TxnResult:
        with self.lock:
            self._raise_if_failed()
            pending = self._check_pending("send_offsets_to_transaction")
            if pending is not None:
                return pending
            if self.state is not TxnState.IN_TRANSACTION:
                raise IllegalStateError(
                    f"send_offsets_to_transaction() outside a transaction (state: {self.state.value}): "
                    "call begin_transaction() first"
                )
            result = self.pending = TxnResult("send_offsets_to_transaction")
            if not offsets:
                result.complete()
                return result
            kind = TxnOffsetCommitRequest if self.tv2 else AddOffsetsRequest
            self.enqueue(kind(self, offsets, group, result))
        self.wake()
        return result

    def commit_transaction(self) -> TxnResult:
        with self.lock:
            self._raise_if_failed()
            pending = self._check_pending("commit_transaction")
            if pending is not None:
                return pending
            if self.state is not TxnState.IN_TRANSACTION:
                raise IllegalStateError(
                    f"commit_transaction() without an open transaction (state: {self.state.value})"
                )
            self.transition_to(TxnState.COMMITTING)
            result = self.pending = TxnResult("commit_transaction")
            self.enqueue(EndTxnRequest(self, result, commit=True))
        self.wake()
        return result

    def abort_transaction(self) -> TxnResult:
        with self.lock:
            self._raise_if_failed(allow_abortable=True)
            pending = self._check_pending("abort_transaction")
            if pending is not None:
                return pending
            if self.state not in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR):
                raise IllegalStateError(
                    f"abort_transaction() without an open transaction (state: {self.state.value})"
                )
            result = self.pending = TxnResult("abort_transaction")
            self._begin_abort(result)
        self.wake()
        return result

    def can_abort(self) -> bool:
        """Whether abort_transaction() would be accepted now."""
        return self.state in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR) and (
            self.pending is None or self.pending.op == "abort_transaction"
        )

    def observed(self, result: TxnResult) -> None:
        """The user saw ``result`` finish: it is no longer pending."""
        with self.lock:
            if self.pending is result:
                self.pending = None

    def abort_on_close(self, deadline: float) -> None:
        """close() with a transaction open: abort it (without waiting); the sender gives up
        on coordinator requests at ``deadline``."""
        self._give_up_at = deadline
        with self.lock:
            if self.state in (TxnState.IN_TRANSACTION, TxnState.ABORTABLE_ERROR) and self.pending is None:
                self._begin_abort(TxnResult("close"))
        self.wake()

    def _begin_abort(self, result: TxnResult) -> None:
        self.transition_to(TxnState.ABORTING)
        self.drop_transaction_requests(TransactionAbortedError("the transaction was aborted"))
        self.enqueue(EndTxnRequest(self, result, commit=False))

    # -- the sender thread ---------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing queued or in flight (the sender may stop)."""
        if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
            return True
        return self.queue.in_flight is None and (not self.queue or self.state is TxnState.FATAL_ERROR)

    def may_drain(self, batch: ProducerBatch) -> bool:
        """Whether the batch may be sent now (called under the accumulator lock)."""
        if self.state not in DRAINABLE:
            return False
        if self.tv2:
            return True
        tp = batch.tp
        if tp in self.progress.added:
            return True
        self.progress.new_partitions.add(tp)
        return False

    def batches_sent(self, batches: list[ProducerBatch]) -> None:
        if self.tv2:
            self.progress.touched = True  # the leader adds the partition to the transaction

    def abort_error(self) -> BaseException | None:
        """The error to fail queued records with: their transaction is being aborted, or the
        producer failed (None while records may go)."""
        if self.state not in FAIL_QUEUED:
            return None
        if self.state is TxnState.FATAL_ERROR and self.last_error is not None:
            return self.last_error
        return TransactionAbortedError(
            "the record was not sent: its transaction is being aborted"
            + (f" after an error: {self.last_error}" if self.last_error is not None else "")
        )

    def next_request(self, now: float, *, batches_pending: bool = False) -> TxnRequest | None:
        """The most urgent coordinator request that may go now (None: nothing may; see
        :meth:`poll_delay`). ``batches_pending``: some batch of the producer has not completed
        yet, so EndTxn must wait (the completions wake the sender)."""
        self._poll_delay = _FOREVER
        if self.queue.in_flight is not None:
            return None
        with self.lock:
            if self.state in DRAINABLE and self.progress.new_partitions and not self.queue.has(AddPartitionsRequest):
                self.enqueue(AddPartitionsRequest(self))
            while True:
                request = self.queue.most_urgent()
                if request is None or (isinstance(request, EndTxnRequest) and batches_pending):
                    return None
                if now < request.retry_at:
                    self._poll_delay = request.retry_at - now
                    return None
                target = request.target
                if target.kind is TargetKind.ANY_BROKER or target in self.queue.coordinators:
                    return request
                self.queue.find_coordinator(self, target)  # more urgent: it is picked next

    def poll_delay(self, now: float) -> float:
        """How long the sender may wait before asking :meth:`next_request` again, as far as
        the manager is concerned (answers and user calls wake it sooner)."""
        return self._poll_delay

    def coordinator(self, target: Target) -> Coordinator | None:
        """The coordinator a request's target names, as FindCoordinator last gave it."""
        return self.queue.coordinators.get(target)

    def coordinator_unreachable(self, target: Target, now: float) -> float:
        """The coordinator cannot be reached (its broker died?): ask who it is now, after a
        pause, as the answer changes only once the cluster has noticed. Returns the pause."""
        with self.lock:
            self.forget_coordinator(target)
            self.queue.find_coordinator(self, target, now + self.queue.retry_backoff)
        return self.queue.retry_backoff


def wait_for(manager: TransactionManager, result: TxnResult, timeout: float, op: str) -> None:
    """Block a user thread until ``result`` is done (raising its error), or raise
    KafkaTimeoutError after ``timeout`` seconds, leaving the call pending to be resumed."""
    if not result.wait(timeout):
        raise KafkaTimeoutError(
            f"{op}() did not complete within {timeout:.3g} s; its outcome is not known yet: "
            f"call {op}() again to resume waiting for it"
        )
    manager.observed(result)
    if result.error is not None:
        raise result.error
