"""TLS and SASL (PLAIN, SCRAM-SHA-256/512) for the mock cluster's listeners.

A :class:`MockSecurity` describes every listener of one :class:`~josef.testing.MockCluster`: the
security protocol, the server's ``ssl.SSLContext`` (a throw-away CA and a certificate for the
cluster's host are generated with ``cryptography`` when none is given), the enabled mechanisms and
the users. :class:`SaslSession` is the broker side of one connection's SASL exchange: the server
half of RFC 4616 (PLAIN) and RFC 5802/7677 (SCRAM), verifying the client's proof the way a broker
does. Meant for tests of a security configuration, not for protecting anything.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import os
import secrets
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from josef._core.protocol import ApiKey
from josef.errors import ErrorCode

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
_ITERATIONS = 4096
UNSUPPORTED_SASL_MECHANISM = ErrorCode.UNSUPPORTED_SASL_MECHANISM
ILLEGAL_SASL_STATE = ErrorCode.ILLEGAL_SASL_STATE
SASL_AUTHENTICATION_FAILED = ErrorCode.SASL_AUTHENTICATION_FAILED
_FAILED = "Authentication failed: Invalid username or password"


@dataclass
class _ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes


@dataclass
class MockSecurity:
    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    ca_location: str | None = None  # PEM file clients can trust (set when the certificate is generated)
    mechanisms: tuple[str, ...] = MECHANISMS
    users: Mapping[str, str] = field(default_factory=dict)
    session_lifetime_ms: int = 0  # KIP-368: what SaslAuthenticate reports (re-authentication is accepted)
    _scram: dict[tuple[str, str], _ScramCredential] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"MockSecurity({self.protocol}, mechanisms={list(self.mechanisms)}, users={sorted(self.users)})"

    @classmethod
    def create(
        cls,
        protocol: str,
        host: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        mechanisms: tuple[str, ...] = MECHANISMS,
        users: Mapping[str, str] | None = None,
        session_lifetime_ms: int = 0,
    ) -> MockSecurity:
        protocol = protocol.strip().upper()
        if protocol not in PROTOCOLS:
            raise ValueError(f"security_protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        unknown = [m for m in mechanisms if m not in MECHANISMS]
        if unknown:
            raise ValueError(f"sasl_mechanisms: the mock cluster offers {', '.join(MECHANISMS)}, not {unknown[0]}")
        if protocol.startswith("SASL_") and not users:
            raise ValueError("sasl_users: a SASL mock cluster needs at least one user ({name: password})")
        ca_location = None
        if protocol in ("SSL", "SASL_SSL") and ssl_context is None:
            ssl_context, ca_location = _generated_server_context(host)
        security = cls(protocol, ssl_context, ca_location, tuple(mechanisms), dict(users or {}), session_lifetime_ms)
        for name, password in (users or {}).items():
            for mechanism, hash_name in _HASHES.items():
                salt = secrets.token_bytes(16)
                salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, _ITERATIONS)
                client_key = hmac.new(salted, b"Client Key", hash_name).digest()
                stored_key = hashlib.new(hash_name, client_key).digest()
                server_key = hmac.new(salted, b"Server Key", hash_name).digest()
                security._scram[(mechanism, name)] = _ScramCredential(salt, stored_key, server_key)
        return security

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None and self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def client_config(self) -> dict[str, Any]:
        """The ``security.protocol`` and trust settings a client needs (credentials not included)."""
        config: dict[str, Any] = {"security.protocol": self.protocol}
        if self.tls and self.ca_location:
            config["ssl.truststore.location"] = self.ca_location
        return config


class SaslSession:
    """The broker side of SaslHandshake + SaslAuthenticate on one connection."""

    def __init__(self, security: MockSecurity) -> None:
        self._security = security
        self.authenticated = False
        self.principal: str | None = None
        self._mechanism: str | None = None
        self._scram: tuple[str, str, str, _ScramCredential] | None = None  # user, nonce, first-bare+server-first
        self.close_after_reply = False

    def allows(self, api_key: int) -> bool:
        """Whether this request may be handled now (before authentication only the SASL setup may)."""
        return self.authenticated or api_key in (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)

    def handle(self, api_key: int, version: int, body: Mapping[str, Any]) -> dict[str, Any]:
        if api_key == ApiKey.SASL_HANDSHAKE:
            return self._handshake(str(body.get("mechanism")))
        return self._authenticate(bytes(body.get("auth_bytes") or b""))

    def _handshake(self, mechanism: str) -> dict[str, Any]:
        enabled = list(self._security.mechanisms)
        if mechanism not in enabled:
            self.close_after_reply = True
            return {"error_code": UNSUPPORTED_SASL_MECHANISM, "mechanisms": enabled}
        # A handshake on an authenticated connection starts a re-authentication (KIP-368).
        self._mechanism, self._scram = mechanism, None
        return {"error_code": ErrorCode.NONE, "mechanisms": enabled}

    def _fail(self, message: str = _FAILED) -> dict[str, Any]:
        self.close_after_reply = True
        self.authenticated = False
        return {"error_code": SASL_AUTHENTICATION_FAILED, "error_message": message, "auth_bytes": b""}

    def _success(self, user: str, reply: bytes = b"") -> dict[str, Any]:
        if self.principal is not None and self.principal != user:
            return self._fail("Cannot change principals during re-authentication")
        self.authenticated, self.principal, self._mechanism = True, user, None
        return {
            "error_code": ErrorCode.NONE, "error_message": None, "auth_bytes": reply,
            "session_lifetime_ms": self._security.session_lifetime_ms,
        }  # fmt: skip

    def _authenticate(self, data: bytes) -> dict[str, Any]:
        mechanism = self._mechanism
        if mechanism is None:
            self.close_after_reply = True
            return {"error_code": ILLEGAL_SASL_STATE, "error_message": "SaslAuthenticate before SaslHandshake",
                    "auth_bytes": b""}  # fmt: skip
        if mechanism == "PLAIN":
            parts = data.split(b"\0")
            if len(parts) != 3:
                return self._fail("Invalid SASL/PLAIN message")
            user, password = parts[1].decode(errors="replace"), parts[2].decode(errors="replace")
            expected = self._security.users.get(user)
            if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
                return self._fail()
            return self._success(user)
        if self._scram is None:
            return self._scram_first(mechanism, data)
        return self._scram_final(mechanism, data)

    def _scram_first(self, mechanism: str, data: bytes) -> dict[str, Any]:
        text = data.decode(errors="replace")
        if not text.startswith("n,,"):
            return self._fail("Invalid SCRAM client-first message")
        bare = text[3:]
        attrs = dict(part.split("=", 1) for part in bare.split(",") if "=" in part)
        user = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        nonce = attrs.get("r", "")
        credential = self._security._scram.get((mechanism, user))
        if credential is None or not nonce:
            return self._fail()
        server_nonce = nonce + secrets.token_urlsafe(18)
        server_first = f"r={server_nonce},s={base64.b64encode(credential.salt).decode()},i={_ITERATIONS}"
        self._scram = (user, server_nonce, f"{bare},{server_first}", credential)
        return {
            "error_code": ErrorCode.NONE, "error_message": None, "auth_bytes": server_first.encode(),
            "session_lifetime_ms": 0,
        }  # fmt: skip

    def _scram_final(self, mechanism: str, data: bytes) -> dict[str, Any]:
        assert self._scram is not None
        user, nonce, first_messages, credential = self._scram
        text = data.decode(errors="replace")
        without_proof, _, proof_b64 = text.rpartition(",p=")
        attrs = dict(part.split("=", 1) for part in without_proof.split(",") if "=" in part)
        if attrs.get("r") != nonce:
            return self._fail("Invalid SCRAM nonce")
        hash_name = _HASHES[mechanism]
        auth_message = f"{first_messages},{without_proof}".encode()
        signature = hmac.new(credential.stored_key, auth_message, hash_name).digest()
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            return self._fail()
        if len(proof) != len(signature):
            return self._fail()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(hash_name, client_key).digest(), credential.stored_key):
            return self._fail()
        server_signature = hmac.new(credential.server_key, auth_message, hash_name).digest()
        return self._success(user, b"v=" + base64.b64encode(server_signature))


def _generated_server_context(host: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh CA and a certificate for ``host``; returns it and the CA's PEM path."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise ValueError(
            "security_protocol with TLS: generating the mock cluster's certificate needs the 'cryptography' "
            "package; install it or pass ssl_context= (a server-side ssl.SSLContext)"
        ) from None
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "josef mock cluster CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        names = [x509.DNSName(host)]
    if host in ("127.0.0.1", "localhost"):
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    folder = tempfile.mkdtemp(prefix="josef-mock-tls-")
    ca_path = os.path.join(folder, "ca.pem")
    chain_path = os.path.join(folder, "server.pem")
    with open(ca_path, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(chain_path, "wb") as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))  # fmt: skip
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain_path)
    os.unlink(chain_path)  # the key lives in the context now; only the CA stays for clients
    return context, ca_path
