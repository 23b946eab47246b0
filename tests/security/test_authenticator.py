"""SaslHandshake + SaslAuthenticate driven by the authenticator, against scripted broker answers."""

from __future__ import annotations

import pytest

from josef._core.protocol import ApiKey
from josef._core.security.authenticator import SaslAuthenticator
from josef._core.security.plain import PlainMechanism
from josef._core.security.scram import ScramMechanism
from josef.errors import (
    IllegalSaslStateError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
)

VERSIONS = {ApiKey.SASL_HANDSHAKE: 1, ApiKey.SASL_AUTHENTICATE: 2}


def test_plain_exchange_records_session_lifetime() -> None:
    auth = SaslAuthenticator(PlainMechanism("alice", "pw"), VERSIONS)
    assert auth.next_request() == (ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
    assert auth.next_request() is None  # waits for the answer
    auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 0, "mechanisms": ["PLAIN"]})
    assert auth.next_request() == (ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0pw"})
    assert not auth.done
    auth.on_response(ApiKey.SASL_AUTHENTICATE, {"error_code": 0, "auth_bytes": b"", "session_lifetime_ms": 10000})
    assert auth.done and auth.next_request() is None
    assert auth.session_lifetime_ms == 10000
    assert 108.5 <= auth.reauthenticate_at(100.0, rng=lambda: 0.0) <= 108.5  # type: ignore[operator]
    assert auth.reauthenticate_at(100.0, rng=lambda: 1.0) == pytest.approx(109.5)


def test_scram_takes_two_round_trips() -> None:
    auth = SaslAuthenticator(ScramMechanism("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO"), VERSIONS)
    auth.next_request()
    auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 0, "mechanisms": []})
    assert auth.next_request() == (ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"})
    server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    auth.on_response(ApiKey.SASL_AUTHENTICATE, {"error_code": 0, "auth_bytes": server_first})
    api, _, body = auth.next_request()  # type: ignore[misc]
    assert api == ApiKey.SASL_AUTHENTICATE and body["auth_bytes"].endswith(
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    auth.on_response(
        ApiKey.SASL_AUTHENTICATE, {"error_code": 0, "auth_bytes": b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="}
    )
    assert auth.done and auth.round_trips == 2 and auth.reauthenticate_at(0.0) is None


def test_unsupported_mechanism_names_what_the_broker_enables() -> None:
    auth = SaslAuthenticator(PlainMechanism("a", "b"), VERSIONS)
    auth.next_request()
    with pytest.raises(UnsupportedSaslMechanismError, match="enables: SCRAM-SHA-512"):
        auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 33, "mechanisms": ["SCRAM-SHA-512"]})


def test_authentication_failure_carries_the_broker_message() -> None:
    auth = SaslAuthenticator(PlainMechanism("a", "wrong-canary"), {**VERSIONS, ApiKey.SASL_AUTHENTICATE: 1})
    auth.next_request()
    auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 0})
    assert auth.next_request()[1] == 1  # type: ignore[index]
    with pytest.raises(SaslAuthenticationFailedError, match="Invalid username or password") as info:
        auth.on_response(
            ApiKey.SASL_AUTHENTICATE,
            {"error_code": 58, "error_message": "Authentication failed: Invalid username or password"},
        )
    assert "wrong-canary" not in str(info.value)


def test_out_of_order_response_is_an_illegal_state() -> None:
    auth = SaslAuthenticator(PlainMechanism("a", "b"), VERSIONS)
    with pytest.raises(IllegalSaslStateError):
        auth.on_response(ApiKey.SASL_AUTHENTICATE, {"error_code": 0})


def test_broker_without_sasl_apis() -> None:
    with pytest.raises(UnsupportedVersionError, match="really SASL"):
        SaslAuthenticator(PlainMechanism("a", "b"), {ApiKey.PRODUCE: 9})
