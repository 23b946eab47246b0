"""SASL SCRAM-SHA-256 / SCRAM-SHA-512 client (RFC 5802, RFC 7677), as Kafka uses it.

Three messages: client-first (user name, client nonce), client-final (proof computed from the
salted password), then the server-final message whose signature proves the broker knows the
credential too. The client checks that the server's nonce extends its own, refuses iteration
counts outside Kafka's range (a hostile server could ask for billions to stall the client), and
verifies the server signature before calling the exchange complete.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from josef.errors import SaslAuthenticationFailedError

#: Kafka stores SCRAM credentials with 4096 to 16384 iterations (its own bounds).
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384

_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


def _escape(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise SaslAuthenticationFailedError(f"SCRAM: malformed server message attribute {key[:20]!r}")
        out.setdefault(key, value)
    return out


class ScramMechanism:
    """One SCRAM exchange; ``step`` is fed the server's messages in order."""

    def __init__(
        self,
        mechanism: str,
        username: str,
        password: str,
        *,
        nonce: str | None = None,
        extensions: dict[str, str] | None = None,
        hash_name: str | None = None,
    ) -> None:
        if hash_name is None:
            if mechanism not in _HASHES:
                raise ValueError(f"sasl.mechanism: {mechanism!r} is not SCRAM-SHA-256 or SCRAM-SHA-512")
            hash_name = _HASHES[mechanism]
        self.name = mechanism
        self._hash = hash_name
        self._username = username
        self._password = password
        self._nonce = nonce or secrets.token_urlsafe(24)
        ext = "".join(f",{k}={v}" for k, v in (extensions or {}).items())
        self._client_first_bare = f"n={_escape(username)},r={self._nonce}{ext}"
        self._auth_message = ""
        self._server_signature = b""
        self._state = "start"
        self.complete = False

    def __repr__(self) -> str:
        return f"ScramMechanism({self.name!r}, username={self._username!r}, password=[hidden], state={self._state})"

    def _hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self._hash).digest()

    def step(self, challenge: bytes | None) -> bytes | None:
        """The next message for the server, or ``None`` once the server signature is verified."""
        if self._state == "start":
            self._state = "first-sent"
            return ("n,," + self._client_first_bare).encode()
        if challenge is None:
            raise SaslAuthenticationFailedError("SCRAM: the server sent no message")
        try:
            text = challenge.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslAuthenticationFailedError("SCRAM: the server message is not UTF-8") from None
        if self._state == "first-sent":
            self._state = "final-sent"
            return self._client_final(text)
        if self._state == "final-sent":
            self._verify_server_final(text)
            self._state = "done"
            self.complete = True
            return None
        raise SaslAuthenticationFailedError("SCRAM: the exchange is already complete")

    def _client_final(self, server_first: str) -> bytes:
        attrs = _attributes(server_first)
        if "e" in attrs:
            raise SaslAuthenticationFailedError(f"SCRAM: the server refused: {attrs['e']}")
        if "m" in attrs:
            raise SaslAuthenticationFailedError("SCRAM: the server requires an extension josef does not know")
        nonce, salt_b64, iterations_text = attrs.get("r"), attrs.get("s"), attrs.get("i")
        if not nonce or salt_b64 is None or iterations_text is None:
            raise SaslAuthenticationFailedError("SCRAM: the server-first message lacks r, s or i")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslAuthenticationFailedError("SCRAM: the server nonce does not extend the client nonce")
        if not iterations_text.isdigit():
            raise SaslAuthenticationFailedError("SCRAM: the iteration count is not a number")
        iterations = int(iterations_text)
        if self._hash in _HASHES.values() and not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise SaslAuthenticationFailedError(
                f"SCRAM: the server asks for {iterations} iterations, outside [{MIN_ITERATIONS}, {MAX_ITERATIONS}]"
            )
        try:
            salt = base64.b64decode(salt_b64, validate=True)
        except ValueError:
            raise SaslAuthenticationFailedError("SCRAM: the salt is not base64") from None
        salted = hashlib.pbkdf2_hmac(self._hash, self._password.encode(), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._hash, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        self._auth_message = f"{self._client_first_bare},{server_first},{without_proof}"
        signature = self._hmac(stored_key, self._auth_message.encode())
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), self._auth_message.encode())
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify_server_final(self, server_final: str) -> None:
        attrs = _attributes(server_final)
        if "e" in attrs:
            raise SaslAuthenticationFailedError(f"SCRAM: the server refused: {attrs['e']}")
        try:
            signature = base64.b64decode(attrs.get("v", ""), validate=True)
        except ValueError:
            signature = b""
        if not signature or not hmac.compare_digest(signature, self._server_signature):
            raise SaslAuthenticationFailedError(
                "SCRAM: the server signature is wrong (the broker does not hold this credential)"
            )
