"""One connection to one broker: a non-blocking socket, pipelined requests, version negotiation.

The :class:`~josef._core.network.NetworkClient` owns every connection and drives it from its
selector loop. A connection goes through explicit setup stages before it carries requests::

    CONNECTING ──► [TLS] ──► API_VERSIONS ──► [AUTHENTICATING] ──► READY ──► CLOSED
    (TCP connect)  (handshake,  (negotiate;      (Authenticator       (up to max.in.flight
                    if an        falls back to   requests, if a        requests, answered
                    SSLContext)  the broker's    factory is given)     in order)
                                 version)

Every stage before READY counts against ``socket.connection.setup.timeout.ms``; any error
closes the connection and fails what it carried. All socket reads and writes go through
:meth:`BrokerConnection._read` and :meth:`BrokerConnection._write`, so a TLS socket (which
may want a write to read, and keeps decrypted bytes pending) needs no change elsewhere.

The authentication seam: an ``authenticator_factory(host, versions)`` is called once per
connection, after ApiVersions, with the negotiated api versions, and returns an object with

* ``next_request() -> (ApiKey, version, body) | None``: the next request to send (None once
  it has nothing more to send);
* ``on_response(api, body)``: the response to that request; raises
  :class:`~josef.errors.AuthenticationError` (a ``KafkaError``) on failure, which closes the
  connection with that error;
* ``done`` (a property): authentication succeeded; the connection becomes READY;
* optionally ``reauthenticate_at(now) -> float | None``: when the broker's session ends
  (KIP-368). The connection then stops taking requests, waits for those in flight, and runs a
  fresh authenticator on the same socket (``reauthentications`` counts them).

The SASL authenticator and the ``ssl.SSLContext`` come from :mod:`josef._core.security`. A refused
certificate closes the connection with :class:`~josef.errors.SslAuthenticationError`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from josef._core.protocol import ApiKey, FrameReader, decode_response, negotiate_version
from josef._core.protocol.framing import encode_request_parts
from josef.errors import (
    ErrorCode,
    KafkaConnectionError,
    KafkaError,
    ProtocolError,
    SslAuthenticationError,
    UnsupportedVersionError,
    error_for_code,
)
from josef.version import __version__

if TYPE_CHECKING:
    from josef._core.metrics import NodeStats

log = logging.getLogger("josef.connection")

ResponseCallback = Callable[[dict[str, Any] | None, KafkaError | None], None]

CONNECTING, TLS_HANDSHAKE, HANDSHAKE, AUTHENTICATING, READY, CLOSED = (
    "connecting", "tls handshake", "handshake", "authenticating", "ready", "closed"
)
_SETTING_UP = frozenset({CONNECTING, TLS_HANDSHAKE, HANDSHAKE, AUTHENTICATING})


class Authenticator(Protocol):
    """Authenticates one connection after ApiVersions (SASL); see the module docstring."""

    def next_request(self) -> tuple[ApiKey, int, dict[str, Any]] | None: ...

    def on_response(self, api: ApiKey, body: dict[str, Any]) -> None: ...

    @property
    def done(self) -> bool: ...


# Called once per connection with the broker's host and the negotiated api versions.
AuthenticatorFactory = Callable[[str, Mapping[int, int]], Authenticator]

_API_VERSIONS_MAX = 4
# What one recv() asks for. Python allocates the whole size before the call: 1 MiB costs a fresh
# mapping each time (14 µs against 2 µs for a 60-byte Produce response); larger frames take
# several reads.
_READ_CHUNK = 1 << 16
_IOV_MAX = 512  # parts written per sendmsg: under every platform's IOV_MAX (1024 on Linux)
_GATHER = hasattr(socket.socket, "sendmsg")  # not on Windows: a request's parts are joined there


@dataclass
class InFlight:
    correlation_id: int
    api_key: int
    version: int
    callback: ResponseCallback
    sent_at: float


class BrokerConnection:
    def __init__(
        self,
        node_id: int,
        host: str,
        port: int,
        *,
        client_id: str,
        max_in_flight: int,
        send_buffer: int,
        receive_buffer: int,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        authenticator_factory: AuthenticatorFactory | None = None,
        address_index: int = 0,
    ) -> None:
        self.node_id = node_id
        self.host = host
        self.port = port
        # Which of the host's addresses to try (client.dns.lookup=use_all_dns_ips: the next one after a failure).
        self.address_index = address_index
        self.client_id = client_id
        self.max_in_flight = max_in_flight
        self._send_buffer = send_buffer
        self._receive_buffer = receive_buffer
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or host
        self._authenticator_factory = authenticator_factory
        self._authenticator: Authenticator | None = None
        self._tls_wants_write = False
        self._reauth_at: float | None = None  # KIP-368: when to authenticate again on this socket
        self._reauthenticating = False
        self.reauthentications = 0
        self.state = CLOSED
        self.sock: socket.socket | None = None
        self.versions: dict[int, int] = {}  # api key -> version both sides speak
        self.finalized_features: dict[str, int] = {}
        self.in_flight: deque[InFlight] = deque()
        # acks=0 requests: (end of the request in the output queue, callback to run once written).
        self._unanswered: deque[tuple[int, ResponseCallback]] = deque()
        # Requests to write, in parts (a Produce request's large batches are parts of their own, written
        # from the batches' own buffers), and how many bytes they hold.
        self._out: deque[bytes | bytearray | memoryview] = deque()
        self._out_size = 0
        self._reader = FrameReader()
        self._correlation = 0
        self.connect_started = 0.0
        self.last_activity = 0.0
        self.on_ready: Callable[[BrokerConnection], None] | None = None
        self.on_close: Callable[[BrokerConnection, KafkaError], None] | None = None
        self.stats: NodeStats | None = None  # metrics of this broker, if recorded

    def __repr__(self) -> str:
        return f"<BrokerConnection node={self.node_id} {self.host}:{self.port} {self.state}>"

    # -- state ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state == READY

    def can_send(self) -> bool:
        if self.state != READY:
            return False
        if self._reauth_at is not None and time.monotonic() >= self._reauth_at:
            # Re-authenticate (KIP-368) once the requests in flight are answered; none is dropped.
            if not self.in_flight and not self._unanswered:
                self._start_authentication(time.monotonic(), again=True)
            return False
        return len(self.in_flight) < self.max_in_flight

    @property
    def setting_up(self) -> bool:
        """In a setup stage (connect, TLS, ApiVersions, authentication): not ready yet."""
        return self.state in _SETTING_UP

    @property
    def wants_write(self) -> bool:
        return self.state == CONNECTING or self._tls_wants_write or bool(self._out)

    def connect(self, now: float) -> None:
        """Start a non-blocking connect; the selector reports when it is done."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
            family, _, _, _, address = infos[self.address_index % len(infos)]
        except OSError as exc:
            raise KafkaConnectionError(f"cannot resolve host name {self.host!r} (DNS): {exc}") from exc
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._send_buffer > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
        if self._receive_buffer > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
        if self._ssl_context is not None:
            # Wrapped before connecting: the selector must only ever see this one socket object
            # (wrapping later detaches the registered one, and its key could never be removed).
            sock = self._ssl_context.wrap_socket(
                sock, server_hostname=self._server_hostname, do_handshake_on_connect=False
            )
        self.sock = sock
        self.state = CONNECTING
        self.connect_started = now
        self.last_activity = now
        if self.stats is not None:
            self.stats.connected(now)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.close(KafkaConnectionError(f"connect to {self.host}:{self.port} failed: {errno.errorcode.get(code)}"))
            raise KafkaConnectionError(f"connect to {self.host}:{self.port} failed: {errno.errorcode.get(code)}")

    # -- setup stages ---------------------------------------------------------------------------

    def _connected(self, now: float) -> None:
        """TCP is up: the TLS handshake if configured, else ApiVersions."""
        if self._ssl_context is not None:
            self.state = TLS_HANDSHAKE
            self._tls_handshake(now)
            return
        self._start_api_versions(now)

    def _tls_handshake(self, now: float) -> None:
        """One non-blocking step of the TLS handshake (driven by selector events)."""
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._tls_wants_write = False
            return
        except ssl.SSLWantWriteError:
            self._tls_wants_write = True
            return
        except (ssl.SSLError, OSError) as exc:
            self.close(self._tls_error(exc))
            return
        self._tls_wants_write = False
        self._start_api_versions(now)

    def _tls_error(self, exc: OSError) -> KafkaError:
        """A refused certificate (ours or the broker's) is not worth retrying: SslAuthenticationError."""
        where = f"node {self.node_id} ({self.host}:{self.port})"
        if isinstance(exc, ssl.SSLCertVerificationError):
            problem = exc.verify_message or str(exc.reason)
            if "hostname" in problem.lower() or "ip address mismatch" in problem.lower():
                hint = (f"the broker's certificate does not name {self._server_hostname}; fix the certificate or the "
                        'address, or set ssl.endpoint.identification.algorithm="" to skip the name check')
            else:
                hint = "the broker's certificate is not signed by a CA in the truststore (ssl.truststore.*)"
            return SslAuthenticationError(
                f"TLS handshake with {where} failed: certificate verify failed ({exc.reason}): {problem}: {hint}"
            )
        if isinstance(exc, ssl.SSLError) and "alert" in str(exc.reason or "").lower():
            return SslAuthenticationError(f"TLS handshake with {where} failed: the broker refused it: {exc.reason}")
        return KafkaConnectionError(f"TLS handshake with {where} failed: {exc}")

    def _start_api_versions(self, now: float) -> None:
        self.state = HANDSHAKE
        self._send_api_versions(_API_VERSIONS_MAX, now)

    def _send_api_versions(self, version: int, now: float) -> None:
        body = {"client_software_name": "josef", "client_software_version": __version__}
        self._enqueue(ApiKey.API_VERSIONS, version, body, self._on_api_versions, now)

    def _on_api_versions(self, response: dict[str, Any] | None, error: KafkaError | None) -> None:
        if error is not None or response is None:
            return  # the connection is closing already
        code = response.get("error_code", ErrorCode.NONE)
        if code == ErrorCode.UNSUPPORTED_VERSION:  # our ApiVersions is too new: the broker listed what it speaks
            broker_max = next(
                (k["max_version"] for k in response["api_keys"] if k["api_key"] == ApiKey.API_VERSIONS), 0
            )
            self._send_api_versions(min(broker_max, _API_VERSIONS_MAX - 1), self.last_activity)
            return
        if code:
            self.close(error_for_code(code, "ApiVersions failed"))
            return
        versions = {}
        for entry in response["api_keys"]:
            version = negotiate_version(entry["api_key"], entry["min_version"], entry["max_version"])
            if version is not None:
                versions[entry["api_key"]] = version
        self.versions = versions
        self.finalized_features = {
            f["name"]: f["max_version_level"] for f in response.get("finalized_features") or ()
        }
        if ApiKey.PRODUCE not in versions or ApiKey.METADATA not in versions:
            self.close(UnsupportedVersionError(
                f"broker {self.host}:{self.port} speaks no Produce/Metadata version josef supports "
                "(Kafka 2.1 or newer is required)"
            ))
            return
        if self._authenticator_factory is not None:
            self._start_authentication(self.last_activity, again=False)
            return
        self._become_ready()

    def _start_authentication(self, now: float, *, again: bool) -> None:
        """SASL after ApiVersions; ``again``: a re-authentication of a ready connection (KIP-368)."""
        assert self._authenticator_factory is not None
        self.state = AUTHENTICATING
        self._reauth_at = None
        self._reauthenticating = again
        if again:
            self.connect_started = now  # the setup timeout bounds the re-authentication too
        try:
            self._authenticator = self._authenticator_factory(self.host, dict(self.versions))
        except KafkaError as exc:
            self.close(exc)
            return
        self._authenticate(now)

    def _authenticate(self, now: float) -> None:
        """Send the authenticator's next request, or finish once it is done."""
        auth = self._authenticator
        assert auth is not None
        step = auth.next_request()
        if step is not None:
            api, version, body = step

            def on_response(response: dict[str, Any] | None, error: KafkaError | None) -> None:
                if error is not None or response is None:
                    return  # the connection is closing already
                try:
                    auth.on_response(api, response)
                except KafkaError as exc:
                    self.close(exc)
                    return
                self._authenticate(self.last_activity)

            self._enqueue(api, version, body, on_response, now)
            return
        if auth.done:
            reauthenticate_at = getattr(auth, "reauthenticate_at", None)
            self._reauth_at = reauthenticate_at(time.monotonic()) if reauthenticate_at is not None else None
            if self._reauthenticating:
                self.reauthentications += 1
                log.debug("node %s re-authenticated", self.node_id)
                self.state = READY
                return
            self._become_ready()
        else:
            self.close(KafkaConnectionError(
                f"authentication with node {self.node_id} ({self.host}:{self.port}) ended without success"
            ))

    def _become_ready(self) -> None:
        self.state = READY
        if self.on_ready is not None:
            self.on_ready(self)

    # -- requests ------------------------------------------------------------------------------

    def send(
        self,
        api_key: int,
        body: Mapping[str, Any],
        callback: ResponseCallback,
        now: float,
        *,
        version: int | None = None,
        expect_response: bool = True,
    ) -> None:
        if self.state != READY:
            raise KafkaConnectionError(f"connection to node {self.node_id} is not ready")
        if version is None:
            version = self.versions.get(api_key)
            if version is None:
                raise UnsupportedVersionError(f"broker {self.node_id} does not support API {ApiKey(api_key).name}")
        self._enqueue(api_key, version, body, callback, now, expect_response=expect_response)

    def _enqueue(
        self,
        api_key: int,
        version: int,
        body: Mapping[str, Any],
        callback: ResponseCallback,
        now: float,
        *,
        expect_response: bool = True,
    ) -> None:
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        parts = encode_request_parts(api_key, version, self._correlation, self.client_id, body)
        if len(parts) == 1:
            size = len(parts[0])
            self._out.append(parts[0])
        else:
            size = sum(map(len, parts))
            if not _GATHER or isinstance(self.sock, ssl.SSLSocket):  # no sendmsg (TLS: one buffer, full records)
                self._out.append(bytearray().join(parts))
            else:
                self._out.extend(parts)
        self._out_size += size
        if self.stats is not None:
            self.stats.request(size, now)
        if expect_response:
            self.in_flight.append(InFlight(self._correlation, api_key, version, callback, now))
        else:
            # acks=0: the broker never answers; the request is done once written.
            self._unanswered.append((self._out_size, callback))

    def flush(self, now: float) -> None:
        """Write as much queued output as the socket takes."""
        if not self._out or self.sock is None or self.state in (CONNECTING, TLS_HANDSHAKE):
            return
        sent = self._write(self._out)
        if sent <= 0:
            return
        self._out_size -= sent
        out = self._out
        left = sent
        while left:
            head = out[0]
            if len(head) <= left:
                left -= len(head)
                out.popleft()
            else:
                out[0] = memoryview(head)[left:]
                left = 0
        self.last_activity = now
        if self._unanswered:
            done = []
            while self._unanswered and self._unanswered[0][0] <= sent:
                done.append(self._unanswered.popleft()[1])
            self._unanswered = deque((end - sent, cb) for end, cb in self._unanswered)
            for callback in done:
                callback({}, None)

    # -- socket I/O: the only two places that touch the socket's data ---------------------------

    def _write(self, parts: deque[bytes | bytearray | memoryview]) -> int:
        """Write what the socket takes of ``parts``, gathered by one system call; 0 if it takes
        nothing now (or the connection closed)."""
        assert self.sock is not None
        try:
            if len(parts) == 1 or not _GATHER or isinstance(self.sock, ssl.SSLSocket):
                return self.sock.send(parts[0])
            return self.sock.sendmsg(list(islice(parts, _IOV_MAX)))
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError as exc:
            self.close(KafkaConnectionError(f"write to node {self.node_id} failed: {exc}"))
            return 0

    def _read(self) -> bytes | None:
        """What the socket has (with a TLS socket's pending decrypted bytes); b"" once the
        peer closed, None if nothing can be read now (or the connection closed)."""
        assert self.sock is not None
        try:
            data = self.sock.recv(_READ_CHUNK)
            if isinstance(self.sock, ssl.SSLSocket):
                pending = self.sock.pending()
                if pending:
                    data += self.sock.recv(pending)
            return data
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLError as exc:  # e.g. TLS 1.3: the broker refuses our certificate after the handshake
            self.close(self._tls_error(exc))
            return None
        except OSError as exc:
            self.close(KafkaConnectionError(f"read from node {self.node_id} failed: {exc}"))
            return None

    # -- selector events -----------------------------------------------------------------------

    def on_writable(self, now: float) -> None:
        if self.state == CONNECTING:
            assert self.sock is not None
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.close(KafkaConnectionError(
                    f"connect to node {self.node_id} ({self.host}:{self.port}) failed: "
                    f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"
                ))
                return
            self._connected(now)
        elif self.state == TLS_HANDSHAKE:
            self._tls_handshake(now)
        self.flush(now)

    def on_readable(self, now: float) -> None:
        if self.state == TLS_HANDSHAKE:
            self._tls_handshake(now)
            return
        data = self._read()
        if data is None:
            return
        if not data:
            self.close(KafkaConnectionError(f"node {self.node_id} ({self.host}:{self.port}) closed the connection"))
            return
        self.last_activity = now
        if self.stats is not None:
            self.stats.received(len(data), now)
        try:
            self._reader.feed(data)
            while self.state != CLOSED:
                frame = self._reader.next_frame()
                if frame is None:
                    break
                self._on_frame(frame)
        except ProtocolError as exc:
            self.close(ProtocolError(f"node {self.node_id} sent a malformed response: {exc}"))

    def _on_frame(self, frame: bytes) -> None:
        if not self.in_flight:
            raise ProtocolError("response without a request")
        request = self.in_flight.popleft()
        correlation_id, body = decode_response(request.api_key, request.version, frame)
        if correlation_id != request.correlation_id:
            raise ProtocolError(
                f"correlation id {correlation_id} does not match the oldest request ({request.correlation_id})"
            )
        if self.stats is not None:  # last_activity: when this read began
            produce = request.api_key == ApiKey.PRODUCE
            throttle = body.get("throttle_time_ms", 0) if produce else 0
            self.stats.response(produce, request.sent_at, self.last_activity, throttle)
        request.callback(body, None)

    def deadline(self, request_timeout: float, setup_timeout: float, idle_timeout: float) -> float | None:
        """When this connection times out (setup, oldest request, or idleness) if nothing happens."""
        if self.state in _SETTING_UP:
            return self.connect_started + setup_timeout
        if self.in_flight:
            return self.in_flight[0].sent_at + request_timeout
        if idle_timeout > 0:
            return self.last_activity + idle_timeout
        return None

    def timed_out(self, now: float, request_timeout: float, setup_timeout: float) -> bool:
        if self.state in _SETTING_UP:
            return now - self.connect_started > setup_timeout
        return bool(self.in_flight) and now - self.in_flight[0].sent_at > request_timeout

    def close(self, reason: KafkaError) -> None:
        """Close the socket and fail every request still waiting for an answer with ``reason``."""
        if self.state == CLOSED:
            return
        was = self.state
        self.state = CLOSED
        if self.stats is not None:
            self.stats.closed(time.monotonic())
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        pending = list(self.in_flight)
        self.in_flight.clear()
        unanswered = [cb for _, cb in self._unanswered]
        self._unanswered.clear()
        self._out.clear()
        self._out_size = 0
        self._reader = FrameReader()
        log.debug("closing %r (was %s): %s", self, was, reason)
        for request in pending:
            request.callback(None, reason)
        for callback in unanswered:
            callback(None, reason)
        if self.on_close is not None:
            self.on_close(self, reason)

