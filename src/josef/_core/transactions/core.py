"""The transaction manager's core: its state, and what requests' outcomes do to it.

Everything here runs with :attr:`TxnCore.lock` held, on the sender thread (a response) or a
user thread (a call); none of it does I/O. :class:`~josef._core.transactions.manager.TransactionManager`
adds the user calls and the sender's side on top.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josef._core.idempotence import IdempotenceState
from josef._core.protocol import ApiKey
from josef._core.request_source import Target
from josef._core.transactions.queue import RequestQueue
from josef._core.transactions.requests import (
    AddOffsetsRequest,
    Coordinator,
    EndTxnRequest,
    InitProducerIdRequest,
    TxnOffsetCommitRequest,
    TxnRequest,
)
from josef._core.transactions.state import (
    DRAINABLE,
    FATAL_BATCH_ERRORS,
    TxnProgress,
    TxnState,
    Verdict,
    check_transition,
    classify,
    fenced_error,
)
from josef._core.transactions.types import TxnResult
from josef.errors import (
    BrokerError,
    ErrorCode,
    IllegalStateError,
    KafkaError,
    TransactionAbortedError,
    TransactionAbortRequiredError,
    error_for_code,
)

if TYPE_CHECKING:
    from josef._core.network import NodeApis

log = logging.getLogger("josef.transactions")


class TxnCore:
    """The state and the request queue of one transactional producer (a :class:`TxnContext`)."""

    def __init__(
        self,
        transactional_id: str,
        transaction_timeout_ms: int,
        idempotence: IdempotenceState,
        wake: Callable[[], None],
        retry_backoff: float,
        retry_backoff_max: float,
    ) -> None:
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = transaction_timeout_ms
        self.idempotence = idempotence
        self.wake = wake
        self.lock = threading.RLock()
        self.state = TxnState.UNINITIALIZED
        self.last_error: BaseException | None = None  # the abortable or fatal error
        # The user call that has not been seen to finish yet (it timed out): only the same call
        # may be made until it has (it then resumes waiting for the same result).
        self.pending: TxnResult | None = None
        self.queue = RequestQueue(retry_backoff, retry_backoff_max)
        self.progress = TxnProgress()
        # Transactions v2 (KIP-890), decided with each producer id.
        self.tv2 = False
        self.max_produce_version = 11
        self.transactions_committed = 0
        self.transactions_aborted = 0

    # -- state ---------------------------------------------------------------------------------

    def transition_to(self, target: TxnState, error: BaseException | None = None) -> None:
        """Move to ``target`` (raising IllegalStateError, naming both states, if the table
        forbids it)."""
        check_transition(self.state, target)
        log.debug("transaction state %s -> %s (%s)", self.state.value, target.value, self.transactional_id)
        if error is not None:
            self.last_error = error
        elif target in (TxnState.READY, TxnState.IN_TRANSACTION):
            self.last_error = None
        self.state = target

    def transition(self, target: TxnState, error: BaseException | None = None) -> bool:
        """A transition on the sender thread: an illegal one is a bug, and poisons the manager."""
        try:
            self.transition_to(target, error)
            return True
        except IllegalStateError as exc:
            log.error("josef transaction manager bug: %s", exc)
            self.fatal(KafkaError(f"internal error in the transaction manager: {exc}"))
            return False

    def abort_required(self) -> TransactionAbortRequiredError:
        cause = self.last_error
        return TransactionAbortRequiredError(
            f"the transaction cannot commit: {cause}; call abort_transaction() and start again", cause
        )

    def decide_protocol(self, apis: NodeApis) -> None:
        self.tv2 = (
            apis.features.get("transaction.version", 0) >= 2
            and apis.version(ApiKey.END_TXN) >= 5
            and apis.version(ApiKey.PRODUCE) >= 12
            and apis.version(ApiKey.TXN_OFFSET_COMMIT) >= 5
        )
        self.max_produce_version = 12 if self.tv2 else 11
        log.info("transactional.id %r: transactions v%d", self.transactional_id, 2 if self.tv2 else 1)

    # -- the queue (for the request kinds) -----------------------------------------------------

    def queued(self, request: TxnRequest) -> bool:
        return self.queue.queued(request)

    def sent(self, request: TxnRequest) -> None:
        self.queue.sent(request)

    def discard(self, request: TxnRequest) -> None:
        self.queue.discard(request)

    def enqueue(self, request: TxnRequest) -> None:
        self.queue.enqueue(request)

    def retry(self, request: TxnRequest, delay: float | None = None) -> None:
        self.queue.retry(request, delay)

    def set_coordinator(self, target: Target, coordinator: Coordinator) -> None:
        self.queue.coordinators[target] = coordinator

    def forget_coordinator(self, target: Target) -> None:
        self.queue.forget_coordinator(target)

    def drop_group_requests(self, group: str | None) -> None:
        """The group's coordinator cannot be used: forget its offset commits."""
        self.queue.drop(lambda r: r.group != group or not isinstance(r, (AddOffsetsRequest, TxnOffsetCommitRequest)))

    def drop_transaction_requests(self, error: BaseException) -> None:
        """Forget queued requests that would add to the transaction, failing their results."""
        for request in self.queue.drop(lambda r: r.survives_abort()):
            if request.result is not None:
                request.result.complete(error)

    # -- outcomes ------------------------------------------------------------------------------

    def answered(self, request: TxnRequest, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        """A request's response (or failure) arrived (sender thread)."""
        with self.lock:
            self.queue.answered(request)
            if self.state is TxnState.FATAL_ERROR:
                return
            if error is not None or body is None:
                # Disconnected or timed out: the coordinator may have moved.
                log.info("%s to the coordinator failed (%s): retrying", request.api.name, error)
                self.forget_coordinator(request.target)
                self.retry(request)  # an add of unknown outcome is resolved even when aborting
                return
            request.handle(body)
        self.wake()

    def on_error(self, request: TxnRequest, code: int, message: str | None) -> None:
        """The common handling of an error code."""
        verdict = classify(code, request.api)
        what = request.api.name
        end_txn = isinstance(request, EndTxnRequest)
        if verdict == Verdict.REDISCOVER:
            self.forget_coordinator(request.target)
            self.retry(request, self.queue.retry_backoff)
        elif verdict == Verdict.RETRY:
            self.retry(request, request.concurrent_delay(code))
        elif verdict == Verdict.FENCED:
            self.fatal(fenced_error(code, what, message))
        elif verdict == Verdict.ABORTABLE and not end_txn and self.state not in DRAINABLE:
            if request.result is not None:  # the transaction is being aborted anyway
                request.result.complete(TransactionAbortedError(f"{what} failed: {error_for_code(code, message)}"))
        elif verdict == Verdict.ABORTABLE and self.state in DRAINABLE:
            self.abortable(error_for_code(code, message), request.result)
        elif verdict == Verdict.ABORTABLE and self.state is TxnState.ABORTING and end_txn:
            if self.transition(TxnState.ABORTABLE_ERROR, error_for_code(code, message)) and request.result:
                request.result.complete(self.abort_required())
        else:
            self.fatal(error_for_code(code, f"{what} failed: {message}" if message else f"{what} failed"))

    def end_transaction(self, request: TxnRequest, response: dict[str, Any] | None) -> None:
        """EndTxn succeeded (or was not needed)."""
        committing = self.state is TxnState.COMMITTING
        if response is not None and response.get("producer_id", -1) >= 0 and response.get("producer_epoch", -1) >= 0:
            # Transactions v2: the coordinator bumped the epoch (or gave a new id); sequences
            # start again at 0.
            self.idempotence.set_producer_id(response["producer_id"], response["producer_epoch"])
        if committing:
            self.transactions_committed += 1
        else:
            self.transactions_aborted += 1
        bump = not committing and not self.tv2 and (self.idempotence.bump_needed or self.progress.epoch_rejected)
        self.progress.reset()
        if bump:
            # v1: a batch failed with a sequence; only a new epoch lets sequences restart at 0.
            if self.transition(TxnState.INITIALIZING):
                self.enqueue(InitProducerIdRequest(self, request.result, bump=True))
            return
        if self.transition(TxnState.READY) and request.result is not None:
            request.result.complete()

    def abortable(self, error: BaseException, result: TxnResult | None = None) -> None:
        """The transaction can no longer commit."""
        if self.state is TxnState.ABORTABLE_ERROR:
            if result is not None:
                result.complete(self.abort_required())
            return
        if self.state not in DRAINABLE:
            return
        log.warning("transaction %r must be aborted: %s", self.transactional_id, error)
        if not self.transition(TxnState.ABORTABLE_ERROR, error):
            return
        failure = self.abort_required()
        if result is not None:
            result.complete(failure)
        # A commit waiting for its batches now fails; queued offset commits too.
        self.drop_transaction_requests(failure)

    def fatal(self, error: BaseException) -> None:
        """Nothing more can be done with this producer."""
        if self.state is TxnState.FATAL_ERROR:
            return
        log.error("transactional producer %r failed fatally: %s", self.transactional_id, error)
        self.last_error = error
        self.state = TxnState.FATAL_ERROR  # allowed from every state
        for request in self.queue.take_all():
            if request.result is not None:
                request.result.complete(error)
        if self.pending is not None:
            self.pending.complete(error)

    def authentication_failed(self, error: BaseException) -> None:
        """A broker refused our credentials or TLS: calls waiting for a connection cannot succeed,
        so they fail (fatally, as in the Java client) instead of waiting out max.block.ms."""
        with self.lock:
            if self.queue or (self.pending is not None and not self.pending.done()):
                self.fatal(error)

    def batch_failed(self, error: BaseException) -> None:
        """A batch of the transaction failed for good (sender thread)."""
        if isinstance(error, TransactionAbortedError):
            return
        with self.lock:
            if self.state is TxnState.FATAL_ERROR:
                return
            code = getattr(error, "code", None)
            if isinstance(error, BrokerError) and code in FATAL_BATCH_ERRORS:
                if code == ErrorCode.PRODUCER_FENCED:
                    error = fenced_error(code, "produce", getattr(error, "message", None))
                self.fatal(error)
            elif self.state in DRAINABLE:
                if code == ErrorCode.INVALID_PRODUCER_EPOCH and not self.tv2:
                    self.progress.epoch_rejected = True
                self.abortable(error)

