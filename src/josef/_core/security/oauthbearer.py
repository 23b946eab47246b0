"""SASL OAUTHBEARER (RFC 7628) and where its tokens come from.

The mechanism sends one client message carrying the bearer token (plus SASL extensions). On
failure the broker answers a JSON status instead of an empty message; the client must then send a
single ``0x01`` byte so the broker can close the exchange with its error.

Token providers return ``(token, expires_at)`` with ``expires_at`` in seconds since the epoch:

* :class:`UnsecuredTokenProvider`: the unsigned JWTs of the Java client's
  ``unsecuredLoginStringClaim_sub`` login, which Kafka's default (test-only) validator accepts;
* :class:`CallbackTokenProvider`: a user callable (e.g. an AWS MSK IAM signer);
* :class:`josef._core.security.oidc.ClientCredentialsTokenProvider`: the OIDC client-credentials flow (KIP-768).

:class:`TokenCache` asks its provider again once a share of the token's lifetime has passed
(``sasl.login.refresh.*``), so connections that re-authenticate pick up a fresh token.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from josef.errors import KafkaError, SaslAuthenticationFailedError

Token = tuple[str, float]


class TokenProvider(Protocol):
    def __call__(self) -> Token: ...


class OAuthBearerMechanism:
    name = "OAUTHBEARER"

    def __init__(self, token: str, extensions: Mapping[str, str] | None = None) -> None:
        for key, value in (extensions or {}).items():
            if key == "auth" or not key.isalpha() or "\x01" in value:
                raise ValueError(f"sasl OAUTHBEARER extension {key!r} is not a valid extension name or value")
        self._token = token
        self._extensions = dict(extensions or {})
        self._sent = False
        self._server_error: str | None = None
        self.complete = False

    def __repr__(self) -> str:
        return "OAuthBearerMechanism(token=[hidden])"

    def step(self, challenge: bytes | None) -> bytes | None:
        if not self._sent:
            self._sent = True
            ext = "".join(f"{k}={v}\x01" for k, v in self._extensions.items())
            return f"n,,\x01auth=Bearer {self._token}\x01{ext}\x01".encode()
        if self._server_error is not None:
            raise SaslAuthenticationFailedError(f"OAUTHBEARER: the broker refused the token: {self._server_error}")
        if challenge:
            # An error status (RFC 7628 section 3.2.2): acknowledge it, the broker then fails the exchange.
            self._server_error = _status(challenge)
            return b"\x01"
        self.complete = True
        return None


def _status(challenge: bytes) -> str:
    try:
        status = json.loads(challenge)
        if isinstance(status, dict):
            return ", ".join(f"{k}={v}" for k, v in status.items() if k in ("status", "scope", "openid-configuration"))
    except ValueError:
        pass
    return "unreadable status"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (not verified: the broker does that), if there is one."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
        return float(exp) if isinstance(exp, (int, float)) else None
    except ValueError:
        return None


class UnsecuredTokenProvider:
    """Unsigned JWTs (``{"alg":"none"}``) for test clusters, from the Java login's JAAS options.

    Options: ``unsecuredLoginStringClaim_<name>``, ``unsecuredLoginNumberClaim_<name>``,
    ``unsecuredLoginListClaim_<name>`` (first character is the separator),
    ``unsecuredLoginPrincipalClaimName`` (default ``sub``), ``unsecuredLoginLifetimeSeconds`` (3600),
    ``unsecuredLoginScopeClaimName`` (default ``scope``). ``unsecuredLoginExtension_<name>`` options
    are SASL extensions, read by :func:`extensions_from_options`.
    """

    def __init__(self, options: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._claims: dict[str, Any] = {}
        self.lifetime = 3600.0
        principal_claim = options.get("unsecuredLoginPrincipalClaimName", "sub")
        for key, value in options.items():
            if key.startswith("unsecuredLoginStringClaim_"):
                self._claims[key.split("_", 1)[1]] = value
            elif key.startswith("unsecuredLoginNumberClaim_"):
                self._claims[key.split("_", 1)[1]] = _number(key, value)
            elif key.startswith("unsecuredLoginListClaim_"):
                self._claims[key.split("_", 1)[1]] = [v for v in value[1:].split(value[:1])] if value else []
            elif key == "unsecuredLoginLifetimeSeconds":
                self.lifetime = float(_number(key, value))
            elif key in ("unsecuredLoginPrincipalClaimName", "unsecuredLoginScopeClaimName"):
                continue
            elif not key.startswith("unsecuredLoginExtension_"):
                raise ValueError(f"sasl.jaas.config: unknown OAuthBearerLoginModule option {key!r}")
        if not isinstance(self._claims.get(principal_claim), str) or not self._claims[principal_claim]:
            raise ValueError(
                f"sasl.jaas.config: the unsecured OAUTHBEARER login needs unsecuredLoginStringClaim_{principal_claim}"
            )

    def __call__(self) -> Token:
        now = self._clock()
        expires = now + self.lifetime
        claims = {**self._claims, "iat": int(now), "exp": int(expires)}
        header = _b64url(json.dumps({"alg": "none"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{payload}.", float(int(expires))


def _number(key: str, value: str) -> int | float:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"sasl.jaas.config: option {key!r} must be a number") from None


def extensions_from_options(options: Mapping[str, str]) -> dict[str, str]:
    """SASL extensions from ``unsecuredLoginExtension_<name>`` / ``extension_<name>`` JAAS options."""
    out = {}
    for key, value in options.items():
        for prefix in ("unsecuredLoginExtension_", "extension_"):
            if key.startswith(prefix):
                out[key[len(prefix) :]] = value
    return out


class CallbackTokenProvider:
    """Wraps a user callable returning ``(token, expires_at_epoch_seconds)`` or a JWT string."""

    def __init__(self, callback: Callable[[], Any]) -> None:
        self._callback = callback

    def __call__(self) -> Token:
        result = self._callback()
        if isinstance(result, str):
            expires = jwt_expiry(result)
            if expires is None:
                raise SaslAuthenticationFailedError(
                    "sasl.oauthbearer.token.callback returned a token without an exp claim; "
                    "return (token, expires_at_epoch_seconds)"
                )
            return result, expires
        if (
            isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str)
            and isinstance(result[1], (int, float))
        ):  # fmt: skip
            return result[0], float(result[1])
        raise SaslAuthenticationFailedError(
            "sasl.oauthbearer.token.callback must return (token: str, expires_at_epoch_seconds: float), "
            f"got {type(result).__name__}"
        )


@dataclass(frozen=True)
class RefreshPolicy:
    """``sasl.login.refresh.*``: when a cached token is replaced (defaults are the Java client's)."""

    window_factor: float = 0.8
    window_jitter: float = 0.05
    min_period: float = 60.0
    buffer: float = 300.0

    def refresh_at(self, received: float, expires: float, rng: random.Random | None = None) -> float:
        lifetime = max(0.0, expires - received)
        share = self.window_factor + (rng or random).random() * self.window_jitter
        when = received + lifetime * share
        # Keep `buffer` seconds before expiry when the lifetime allows it, and wait at least
        # `min_period` between refreshes unless that would outlive the token.
        when = min(when, max(received, expires - self.buffer)) if lifetime > self.buffer else when
        earliest = received + self.min_period
        return max(when, earliest) if earliest < expires else when


class TokenCache:
    """One token shared by every connection of a producer; fetched again when due (thread-safe)."""

    def __init__(
        self, provider: TokenProvider, policy: RefreshPolicy | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._provider = provider
        self._policy = policy or RefreshPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._refresh_at = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenCache(expires={self._expires:.0f}, token=[hidden])"

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._refresh_at:
                try:
                    token, expires = self._provider()
                except KafkaError:
                    raise
                except Exception as exc:  # a user callback's own failure must not kill the sender thread
                    raise SaslAuthenticationFailedError(
                        f"OAUTHBEARER: getting a token failed: {type(exc).__name__}: {str(exc)[:200]}"
                    ) from exc
                if not token:
                    raise SaslAuthenticationFailedError("OAUTHBEARER: the token provider returned an empty token")
                self.fetches += 1
                self._token, self._expires = token, expires
                self._refresh_at = self._policy.refresh_at(now, expires)
            return self._token

    @property
    def expires(self) -> float:
        return self._expires
