"""SCRAM client against the RFC 5802 / RFC 7677 test vectors, and the checks a hostile server would hit."""

from __future__ import annotations

import base64

import pytest

from josef._core.security.scram import ScramMechanism
from josef.errors import SaslAuthenticationFailedError


def test_rfc7677_scram_sha_256_vector() -> None:
    scram = ScramMechanism("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert scram.step(None) == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = scram.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert not scram.complete
    assert scram.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") is None
    assert scram.complete


def test_rfc5802_sha1_vector_through_the_same_code() -> None:
    scram = ScramMechanism("SCRAM-SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL", hash_name="sha1")
    assert scram.step(None) == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = scram.step(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final == b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    assert scram.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") is None and scram.complete


def _started(nonce: str = "abc") -> ScramMechanism:
    scram = ScramMechanism("SCRAM-SHA-512", "us,er=", "secret-canary", nonce=nonce)
    assert scram.step(None) == f"n,,n=us=2Cer=3D,r={nonce}".encode()
    return scram


def test_server_nonce_must_extend_the_client_nonce() -> None:
    salt = base64.b64encode(b"salt").decode()
    with pytest.raises(SaslAuthenticationFailedError, match="nonce"):
        _started().step(f"r=xyzdef,s={salt},i=4096".encode())
    with pytest.raises(SaslAuthenticationFailedError, match="nonce"):
        _started().step(f"r=abc,s={salt},i=4096".encode())  # not extended at all


@pytest.mark.parametrize("iterations", ["1", "4095", "16385", "1000000000", "-5", "x"])
def test_iteration_count_is_bounded(iterations: str) -> None:
    salt = base64.b64encode(b"salt").decode()
    with pytest.raises(SaslAuthenticationFailedError, match="iteration"):
        _started().step(f"r=abcdef,s={salt},i={iterations}".encode())


def test_wrong_server_signature_is_refused_and_secret_not_shown() -> None:
    scram = _started()
    salt = base64.b64encode(b"salt").decode()
    scram.step(f"r=abcdef,s={salt},i=4096".encode())
    with pytest.raises(SaslAuthenticationFailedError, match="signature") as info:
        scram.step(b"v=" + base64.b64encode(b"\0" * 64))
    assert "secret-canary" not in str(info.value) and "secret-canary" not in repr(scram)
    assert not scram.complete


def test_server_error_attribute_is_reported() -> None:
    with pytest.raises(SaslAuthenticationFailedError, match="unknown-user"):
        _started().step(b"e=unknown-user")


def test_unknown_mechanism_name() -> None:
    with pytest.raises(ValueError, match="SCRAM-SHA-256 or SCRAM-SHA-512"):
        ScramMechanism("SCRAM-MD5", "u", "p")
