"""SASL PLAIN (RFC 4616): one message with the user name and password, in the clear (use TLS)."""

from __future__ import annotations


class PlainMechanism:
    name = "PLAIN"

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self.complete = False
        self._sent = False

    def __repr__(self) -> str:
        return f"PlainMechanism(username={self._username!r}, password=[hidden])"

    def step(self, challenge: bytes | None) -> bytes | None:
        """The next message for the server, or ``None`` when the exchange is over."""
        if not self._sent:
            self._sent = True
            return b"\0" + self._username.encode() + b"\0" + self._password.encode()
        self.complete = True  # the broker answers an empty token on success
        return None
