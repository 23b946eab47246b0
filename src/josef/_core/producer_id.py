"""Getting a producer id: the one InitProducerId request of idempotent and transactional producers.

:class:`InitProducerId` builds the request for the negotiated version (with the current id and
epoch when it asks for an epoch bump) and applies a successful answer to the
:class:`~josef._core.idempotence.IdempotenceState`. The transaction manager sends it to its
coordinator; :class:`ProducerIdSource`, an I/O-free request source, sends it to any broker for
an idempotent producer without ``transactional.id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josef._core.idempotence import INT32_MAX, IdempotenceState
from josef._core.protocol import ApiKey
from josef._core.protocol import types as wire
from josef._core.request_source import ANY_BROKER, Target
from josef.errors import ErrorCode, KafkaError, error_for_code

if TYPE_CHECKING:
    from josef._core.network import Backoff, NodeApis

_FOREVER = 3600.0


class InitProducerId:
    """The InitProducerId request's body and the handling of its success."""

    api = ApiKey.INIT_PRODUCER_ID

    def __init__(
        self,
        state: IdempotenceState,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = INT32_MAX,
        *,
        bump: bool = False,
    ) -> None:
        self.state = state
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = transaction_timeout_ms
        self.bump = bump  # with the current id and epoch: the coordinator bumps the epoch (KIP-360)

    def build(self, apis: NodeApis) -> tuple[int, wire.InitProducerIdRequest]:
        body: wire.InitProducerIdRequest = {
            "transactional_id": self.transactional_id,
            "transaction_timeout_ms": self.transaction_timeout_ms,
            "producer_id": self.state.producer_id if self.bump else -1,
            "producer_epoch": self.state.producer_epoch if self.bump else -1,
        }
        return apis.version(ApiKey.INIT_PRODUCER_ID), body

    def apply(self, body: dict[str, Any]) -> int:
        """Take the new id and epoch from a response; returns its error code (NONE: applied)."""
        code: int = body["error_code"]
        if code == ErrorCode.NONE:
            self.state.set_producer_id(body["producer_id"], body["producer_epoch"])
        return code


class ProducerIdSource:
    """The producer id of an idempotent producer without ``transactional.id``: one
    InitProducerId at a time to any broker whenever the state has no id, retried after a
    backoff; a non-retriable error (e.g. CLUSTER_AUTHORIZATION_FAILED) is reported to
    ``on_fatal`` (which fails what waits for an id) and asked again after the backoff, as the
    Java client does."""

    def __init__(self, state: IdempotenceState, backoff: Backoff, on_fatal: Callable[[KafkaError], None]) -> None:
        self.state = state
        self._backoff = backoff
        self._on_fatal = on_fatal
        self._in_flight = False
        self._retry_at = 0.0

    def next_request(self, now: float) -> _ProducerIdRequest | None:
        if self.state.producer_id >= 0 or self._in_flight or now < self._retry_at:
            return None
        return _ProducerIdRequest(self)

    def poll_delay(self, now: float) -> float:
        if self.state.producer_id >= 0 or self._in_flight:
            return _FOREVER
        return max(self._retry_at - now, 0.0)

    def sent(self) -> None:
        self._in_flight = True

    def answered(self, request: InitProducerId, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        self._in_flight = False
        if error is None and body is not None:
            code = request.apply(body)
            if code == ErrorCode.NONE:
                return
            error = error_for_code(code, "InitProducerId failed")
        if error is not None and not error.retriable:
            self._on_fatal(error)
        self._retry_at = time.monotonic() + self._backoff(1)


class _ProducerIdRequest:
    target: Target = ANY_BROKER
    api = ApiKey.INIT_PRODUCER_ID

    def __init__(self, source: ProducerIdSource) -> None:
        self.source = source
        self.request = InitProducerId(source.state)

    def build(self, apis: NodeApis) -> tuple[int, wire.InitProducerIdRequest]:
        self.source.sent()
        return self.request.build(apis)

    def on_response(self, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        self.source.answered(self.request, body, error)
