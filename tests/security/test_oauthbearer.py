"""OAUTHBEARER: the RFC 7628 client message, token sources, refresh timing, the OIDC client-credentials flow."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from josef._core.security.oauthbearer import (
    CallbackTokenProvider,
    OAuthBearerMechanism,
    RefreshPolicy,
    TokenCache,
    UnsecuredTokenProvider,
    jwt_expiry,
)
from josef._core.security.oidc import ClientCredentialsTokenProvider
from josef.errors import SaslAuthenticationFailedError


def test_client_first_message_is_rfc7628() -> None:
    mech = OAuthBearerMechanism("tok.en.", {"traceId": "42"})
    assert mech.step(None) == b"n,,\x01auth=Bearer tok.en.\x01traceId=42\x01\x01"
    assert mech.step(b"") is None and mech.complete


def test_error_status_is_acknowledged_then_raised() -> None:
    mech = OAuthBearerMechanism("t")
    mech.step(None)
    assert mech.step(b'{"status":"invalid_token"}') == b"\x01"
    with pytest.raises(SaslAuthenticationFailedError, match="invalid_token"):
        mech.step(b"")
    assert not mech.complete


def test_unsecured_token_has_the_claims_the_broker_checks() -> None:
    provider = UnsecuredTokenProvider(
        {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginLifetimeSeconds": "120"}, clock=lambda: 1000.0
    )
    token, expires = provider()
    header, payload, signature = token.split(".")
    assert signature == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims == {"sub": "alice", "iat": 1000, "exp": 1120}
    assert expires == 1120.0 and jwt_expiry(token) == 1120.0


def test_unsecured_login_needs_a_subject_and_known_options() -> None:
    with pytest.raises(ValueError, match="unsecuredLoginStringClaim_sub"):
        UnsecuredTokenProvider({})
    with pytest.raises(ValueError, match="unknown OAuthBearerLoginModule option 'bogus'"):
        UnsecuredTokenProvider({"unsecuredLoginStringClaim_sub": "a", "bogus": "1"})


def test_callback_results_are_checked() -> None:
    assert CallbackTokenProvider(lambda: ("t", 5))() == ("t", 5.0)
    with pytest.raises(SaslAuthenticationFailedError, match="must return"):
        CallbackTokenProvider(lambda: 42)()
    with pytest.raises(SaslAuthenticationFailedError, match="exp claim"):
        CallbackTokenProvider(lambda: "not-a-jwt")()


def test_token_cache_refreshes_after_the_window() -> None:
    now = [0.0]
    calls = []

    def provider() -> tuple[str, float]:
        calls.append(now[0])
        return f"token-{len(calls)}", now[0] + 1000

    cache = TokenCache(provider, RefreshPolicy(0.8, 0.0, 60, 300), clock=lambda: now[0])
    assert cache.token() == "token-1"
    now[0] = 690.0
    assert cache.token() == "token-1"  # refresh at min(800, 1000 - 300) = 700
    now[0] = 701.0
    assert cache.token() == "token-2"
    assert cache.fetches == 2


def test_refresh_policy_respects_min_period_for_short_tokens() -> None:
    policy = RefreshPolicy(0.8, 0.0, 60, 300)
    assert policy.refresh_at(0, 100) == 80  # min period would outlive the token: use the window
    assert policy.refresh_at(0, 200) == 160
    assert policy.refresh_at(0, 3600) == 2880


class _TokenEndpoint(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.seen.append({"auth": self.headers["Authorization"], "body": self.rfile.read(length).decode()})
        status = 401 if "bad" in self.path else 200
        body = json.dumps({"access_token": "access-token-canary", "expires_in": 300}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_credentials_flow(endpoint: str) -> None:
    _TokenEndpoint.seen.clear()
    provider = ClientCredentialsTokenProvider(
        endpoint + "/token", "my id", "client-secret-canary", "kafka", clock=lambda: 100.0
    )
    assert provider() == ("access-token-canary", 400.0)
    request = _TokenEndpoint.seen[0]
    assert request["body"] == "grant_type=client_credentials&scope=kafka"
    assert base64.b64decode(request["auth"].split()[1]) == b"my%20id:client-secret-canary"
    assert "client-secret-canary" not in repr(provider)


def test_client_credentials_http_error_names_the_status_not_the_secret(endpoint: str) -> None:
    provider = ClientCredentialsTokenProvider(endpoint + "/bad", "id", "client-secret-canary")
    with pytest.raises(SaslAuthenticationFailedError, match="HTTP 401") as info:
        provider()
    assert "client-secret-canary" not in str(info.value)


def test_token_from_a_file_url(tmp_path: Path) -> None:
    token, _ = UnsecuredTokenProvider({"unsecuredLoginStringClaim_sub": "a"}, clock=lambda: 10.0)()
    path = tmp_path / "token.jwt"
    path.write_text(token + "\n")
    assert ClientCredentialsTokenProvider(path.as_uri(), None, None)() == (token, 3610.0)


def test_client_credentials_need_id_and_secret() -> None:
    with pytest.raises(ValueError, match="client id and secret"):
        ClientCredentialsTokenProvider("https://idp.example/token", "id", None)
    with pytest.raises(ValueError, match="scheme"):
        ClientCredentialsTokenProvider("ftp://idp.example/token", "id", "s")


def test_a_failing_callback_becomes_an_authentication_error() -> None:
    def broken() -> tuple[str, float]:
        raise RuntimeError("signer unavailable")

    with pytest.raises(SaslAuthenticationFailedError, match="RuntimeError: signer unavailable"):
        TokenCache(CallbackTokenProvider(broken)).token()
