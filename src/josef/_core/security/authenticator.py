"""Drives SaslHandshake v1 and SaslAuthenticate on one connection, after ApiVersions.

The connection asks :meth:`SaslAuthenticator.next_request` for a request to send and hands back
every response to :meth:`on_response`; once :attr:`done` it may carry other requests. The broker's
``session_lifetime_ms`` (KIP-368) says when the session ends: :meth:`reauthenticate_at` is a moment
between 85 % and 95 % of it, when the connection runs a fresh authenticator on the same socket
(after its in-flight requests are answered, so none is dropped).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from josef._core.protocol import ApiKey
from josef.errors import (
    AuthenticationError,
    IllegalSaslStateError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
    error_for_code,
)


class Mechanism(Protocol):
    name: str
    complete: bool

    def step(self, challenge: bytes | None) -> bytes | None: ...


class SaslAuthenticator:
    """One SASL exchange; ``versions`` are the API versions negotiated with the broker."""

    def __init__(self, mechanism: Mechanism, versions: Mapping[int, int]) -> None:
        if ApiKey.SASL_HANDSHAKE not in versions or ApiKey.SASL_AUTHENTICATE not in versions:
            raise UnsupportedVersionError(
                "the broker does not offer SaslHandshake v1 and SaslAuthenticate (Kafka 1.0 or newer is needed); "
                "is this listener really SASL?"
            )
        self._mechanism = mechanism
        self._auth_version = min(versions[ApiKey.SASL_AUTHENTICATE], 2)
        self._state = "handshake"
        self._pending: bytes | None = None
        self.session_lifetime_ms = 0
        self.round_trips = 0

    def __repr__(self) -> str:
        return f"<SaslAuthenticator {self._mechanism.name} {self._state}>"

    @property
    def mechanism(self) -> str:
        return self._mechanism.name

    @property
    def done(self) -> bool:
        return self._state == "done"

    def next_request(self) -> tuple[ApiKey, int, dict[str, Any]] | None:
        if self._state == "handshake":
            self._state = "handshake-sent"
            return ApiKey.SASL_HANDSHAKE, 1, {"mechanism": self._mechanism.name}
        if self._pending is not None:
            auth_bytes, self._pending = self._pending, None
            self._state = "auth-sent"
            return ApiKey.SASL_AUTHENTICATE, self._auth_version, {"auth_bytes": auth_bytes}
        return None

    def on_response(self, api: ApiKey | int, body: dict[str, Any]) -> None:
        """Take one response; raises :class:`AuthenticationError` (or a subclass) on failure."""
        code = body.get("error_code", 0)
        if api == ApiKey.SASL_HANDSHAKE and self._state == "handshake-sent":
            if code == UnsupportedSaslMechanismError.code:
                offered = ", ".join(body.get("mechanisms") or []) or "none"
                raise UnsupportedSaslMechanismError(
                    f"the broker does not enable {self._mechanism.name} on this listener (it enables: {offered})"
                )
            if code:
                raise _auth_error(code, None)
            self._state = "auth"
            self._pending = self._mechanism.step(None)
            return
        if api == ApiKey.SASL_AUTHENTICATE and self._state == "auth-sent":
            self.round_trips += 1
            if code:
                raise _auth_error(code, body.get("error_message"))
            self.session_lifetime_ms = int(body.get("session_lifetime_ms") or 0)
            reply = self._mechanism.step(bytes(body.get("auth_bytes") or b""))
            if reply is None:
                if not self._mechanism.complete:
                    raise IllegalSaslStateError(f"{self._mechanism.name}: the exchange ended without completing")
                self._state = "done"
            else:
                self._pending = reply
                self._state = "auth"
            return
        raise IllegalSaslStateError(f"unexpected {ApiKey(api).name} response in SASL state {self._state}")

    def reauthenticate_at(self, authenticated_at: float, rng: Callable[[], float] = random.random) -> float | None:
        """When to re-authenticate (seconds, same clock as ``authenticated_at``), or None if never."""
        if self.session_lifetime_ms <= 0:
            return None
        return authenticated_at + self.session_lifetime_ms / 1000 * (0.85 + 0.10 * rng())


def _auth_error(code: int, message: str | None) -> AuthenticationError:
    error = error_for_code(code, message)
    if isinstance(error, AuthenticationError):
        return error
    wrapped = IllegalSaslStateError(f"SASL failed with {error}")
    wrapped.__cause__ = error
    return wrapped
