"""The transaction manager's coordinator requests waiting to go, the one in flight, and the
coordinators they go to."""

from __future__ import annotations

import time
from collections.abc import Callable

from josef._core.request_source import Target, TargetKind
from josef._core.transactions.requests import Coordinator, FindCoordinatorRequest, TxnContext, TxnRequest


class RequestQueue:
    """At most one request is in flight; the most urgent queued one goes next."""

    def __init__(self, retry_backoff: float, retry_backoff_max: float) -> None:
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = max(retry_backoff_max, retry_backoff)
        self.requests: list[TxnRequest] = []
        self.in_flight: TxnRequest | None = None
        self.coordinators: dict[Target, Coordinator] = {}

    def __bool__(self) -> bool:
        return bool(self.requests)

    def enqueue(self, request: TxnRequest) -> None:
        self.requests.append(request)

    def queued(self, request: TxnRequest) -> bool:
        return any(queued is request for queued in self.requests)

    def discard(self, request: TxnRequest) -> None:
        self.requests = [queued for queued in self.requests if queued is not request]

    def sent(self, request: TxnRequest) -> None:
        self.discard(request)
        self.in_flight = request

    def answered(self, request: TxnRequest) -> None:
        if self.in_flight is request:
            self.in_flight = None

    def retry(self, request: TxnRequest, delay: float | None = None) -> None:
        """Queue ``request`` again, after ``delay`` or the exponential retry backoff."""
        if delay is None:
            delay = min(self.retry_backoff * 2 ** min(request.attempts - 1, 10), self.retry_backoff_max)
        request.retry_at = time.monotonic() + delay
        self.requests.append(request)

    def most_urgent(self) -> TxnRequest | None:
        """Strictly in order of urgency (stable among equals): offsets are committed before
        EndTxn, and a coordinator is known before anything goes to it."""
        return min(self.requests, key=lambda r: r.urgency) if self.requests else None

    def has(self, kind: type[TxnRequest]) -> bool:
        return any(isinstance(request, kind) for request in self.requests)

    def drop(self, keep: Callable[[TxnRequest], bool]) -> list[TxnRequest]:
        """Take out the queued requests ``keep`` says no to; returns them."""
        dropped = [request for request in self.requests if not keep(request)]
        self.requests = [request for request in self.requests if keep(request)]
        return dropped

    def take_all(self) -> list[TxnRequest]:
        """Every queued request and the one in flight (a fatal error ends them all)."""
        taken, self.requests = self.requests, []
        if self.in_flight is not None:
            taken.append(self.in_flight)
        return taken

    # -- coordinators --------------------------------------------------------------------------

    def find_coordinator(self, txn: TxnContext, target: Target, not_before: float = 0.0) -> None:
        """Queue a FindCoordinator for ``target`` unless one is queued already."""
        for request in self.requests:
            if isinstance(request, FindCoordinatorRequest) and request.coordinator == target:
                return
        self.enqueue(FindCoordinatorRequest(txn, target, retry_at=not_before))

    def forget_coordinator(self, target: Target) -> None:
        if target.kind in (TargetKind.TXN_COORDINATOR, TargetKind.GROUP_COORDINATOR):
            self.coordinators.pop(target, None)
