"""The network layer against the mock cluster: connection setup stages (TLS through a
TLS-terminating proxy, the authenticator seam), the address book and reconnect backoff."""

from __future__ import annotations

import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from josef._core.connection import AUTHENTICATING, CONNECTING, READY, TLS_HANDSHAKE
from josef._core.network import Backoff, NetworkClient, NetworkSettings
from josef._core.protocol import ApiKey
from josef.errors import KafkaError, SaslAuthenticationFailedError
from josef.testing import MockCluster

pytestmark = pytest.mark.timeout(30)


def settings(**overrides: Any) -> NetworkSettings:
    base: dict[str, Any] = {
        "client_id": "net-test", "max_in_flight": 5, "send_buffer": 0, "receive_buffer": 0,
        "request_timeout": 5.0, "setup_timeout": 5.0, "idle_timeout": 0.0,
        "reconnect_backoff": Backoff(10, 50),
    }
    base.update(overrides)
    return NetworkSettings(**base)


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=2, topics={"t": 1}) as c:
        yield c
        assert c.internal_errors == []


def poll_until(net: NetworkClient, done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        net.poll(0.05)


class MetadataAuthenticator:
    """A stand-in for SASL: one Metadata request whose answer must list the brokers."""

    def __init__(self, host: str, versions: Mapping[int, int], log: list[str], fail: bool = False) -> None:
        assert ApiKey.METADATA in versions  # created with the negotiated versions
        self.versions = versions
        self.log = log
        self.fail = fail
        self.sent = False
        self._done = False

    def next_request(self) -> tuple[ApiKey, int, dict[str, Any]] | None:
        if self.sent:
            return None
        self.sent = True
        self.log.append("request")
        return ApiKey.METADATA, self.versions[ApiKey.METADATA], {"topics": [], "allow_auto_topic_creation": False}

    def on_response(self, api: ApiKey, body: dict[str, Any]) -> None:
        self.log.append(f"response {api.name} brokers={len(body['brokers'])}")
        if self.fail:
            raise SaslAuthenticationFailedError("bad credentials (test)")
        self._done = True

    @property
    def done(self) -> bool:
        return self._done


def test_authenticator_runs_after_api_versions_and_before_ready(cluster: MockCluster) -> None:
    log: list[str] = []
    ready: list[int] = []
    host, port = cluster.brokers[1]
    net = NetworkClient(
        settings(authenticator_factory=lambda h, v: MetadataAuthenticator(h, v, log)),
        [(host, port)],
        on_ready=lambda apis: ready.append(apis.node),
    )
    try:
        assert not net.ready(-1, time.monotonic())  # starts connecting
        states: set[str] = set()

        def is_ready() -> bool:
            states.add(net.conns[-1].state)
            return net.ready(-1, time.monotonic())

        poll_until(net, is_ready)
        assert log == ["request", "response METADATA brokers=2"]
        assert AUTHENTICATING in states and ready == [-1]
        apis = [r.api_key for r in cluster.requests()]
        assert apis[:2] == [ApiKey.API_VERSIONS, ApiKey.METADATA]  # authentication came right after ApiVersions
        answers: list[dict[str, Any] | None] = []
        version = net.api_versions(-1).version(ApiKey.METADATA)
        net.send(-1, ApiKey.METADATA, version, {"topics": [{"name": "t"}], "allow_auto_topic_creation": False},
                 lambda body, error: answers.append(body), time.monotonic())
        poll_until(net, lambda: answers)
        assert answers[0] is not None and answers[0]["topics"][0]["name"] == "t"
    finally:
        net.close()


def test_failed_authentication_closes_with_its_error_and_backs_off(cluster: MockCluster) -> None:
    errors: list[tuple[int, KafkaError]] = []
    host, port = cluster.brokers[1]
    net = NetworkClient(
        settings(authenticator_factory=lambda h, v: MetadataAuthenticator(h, v, [], fail=True)),
        [(host, port)],
        on_disconnect=lambda node, error: errors.append((node, error)),
    )
    try:
        net.ready(-1, time.monotonic())
        poll_until(net, lambda: errors)
        node, error = errors[0]
        assert node == -1 and isinstance(error, SaslAuthenticationFailedError)
        assert net.connection_failed(-1)
        assert net.reconnect_delay(-1, time.monotonic()) > 0  # backing off
        assert net.conns[-1].state != READY
    finally:
        net.close()


def test_address_book_and_least_loaded(cluster: MockCluster) -> None:
    host, port = cluster.brokers[2]
    net = NetworkClient(settings(), [("127.0.0.1", 1)])  # a bootstrap server nobody listens on
    try:
        net.add_node(1, host, port)  # e.g. a coordinator learned through FindCoordinator
        now = time.monotonic()
        assert not net.ready(1, now)
        poll_until(net, lambda: net.ready(1, time.monotonic()))
        assert net.least_loaded(time.monotonic()) == 1
        assert not net.connection_failed(1) and net.connection_failed(7)  # 7: no address
        net.set_brokers({1: cluster.brokers[1]})  # metadata without node 2: the learned address stays
        assert net.connection_count() == 1
    finally:
        net.close()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(50, 1000)
    for attempts, base in ((1, 0.05), (2, 0.1), (3, 0.2), (10, 1.0)):
        for _ in range(20):
            delay = backoff(attempts)
            assert base * 0.8 <= delay <= min(base * 1.2, 1.0)
    assert Backoff(0, 1000)(3) == 0.0


# -- the TLS stage, through a TLS-terminating proxy in front of a mock broker ----------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class TlsProxy:
    """Accepts TLS on 127.0.0.1 and relays the plaintext to ``target`` (one thread per connection)."""

    def __init__(self, cert: Path, key: Path, target: tuple[str, int]) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.handshakes += 1
        upstream = socket.create_connection(self.target)
        with client, upstream:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 10)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)

    def close(self) -> None:
        self.listener.close()


def test_tls_stage_connects_through_a_handshake_before_api_versions(cluster: MockCluster, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    proxy = TlsProxy(cert, key, cluster.brokers[1])
    context = ssl.create_default_context(cafile=str(cert))
    net = NetworkClient(settings(ssl_context=context, server_hostname="localhost"), [("127.0.0.1", proxy.port)])
    try:
        net.ready(-1, time.monotonic())
        assert net.conns[-1].state in (CONNECTING, TLS_HANDSHAKE)
        poll_until(net, lambda: net.ready(-1, time.monotonic()))
        # The proxy relays nothing before its side of the handshake is done, so a connection that got
        # its ApiVersions answer through it went TLS first (sampling the short TLS state raced).
        sock = net.conns[-1].sock
        assert isinstance(sock, ssl.SSLSocket) and sock.version() is not None and proxy.handshakes == 1
        answers: list[dict[str, Any] | None] = []
        version = net.api_versions(-1).version(ApiKey.METADATA)
        net.send(-1, ApiKey.METADATA, version, {"topics": [{"name": "t"}], "allow_auto_topic_creation": False},
                 lambda body, error: answers.append(body), time.monotonic())
        poll_until(net, lambda: answers)
        assert answers[0] is not None and answers[0]["topics"][0]["name"] == "t"
    finally:
        net.close()
        proxy.close()


def test_tls_handshake_failure_closes_the_connection(cluster: MockCluster, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    proxy = TlsProxy(cert, key, cluster.brokers[1])
    errors: list[KafkaError] = []
    untrusting = ssl.create_default_context()  # does not trust the self-signed certificate
    net = NetworkClient(settings(ssl_context=untrusting, server_hostname="localhost"),
                        [("127.0.0.1", proxy.port)], on_disconnect=lambda node, error: errors.append(error))
    try:
        net.ready(-1, time.monotonic())
        poll_until(net, lambda: errors)
        assert "TLS handshake" in str(errors[0]) and "CERTIFICATE_VERIFY_FAILED" in str(errors[0])
        assert net.connection_failed(-1)
    finally:
        net.close()
        proxy.close()


@pytest.mark.parametrize("gather", [True, False])
def test_requests_written_in_parts_arrive_whole_through_partial_writes(gather: bool, monkeypatch: Any) -> None:
    """Produce requests go out as parts (large batches from their own buffers) gathered by sendmsg,
    or joined where there is no sendmsg (Windows); a socket taking a few KiB at a time must still get
    every frame's bytes in order, and each unanswered (acks=0) request is reported written once its
    last byte went."""
    from josef._core import connection
    from josef._core.connection import BrokerConnection
    from josef._core.protocol.framing import encode_request

    monkeypatch.setattr(connection, "_GATHER", gather)

    mine, broker = socket.socketpair()
    mine.setblocking(False)
    broker.settimeout(10)
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    conn = BrokerConnection(1, "localhost", 9092, client_id="parts", max_in_flight=5, send_buffer=4096,
                            receive_buffer=4096)
    conn.sock, conn.state, conn.versions = mine, READY, {ApiKey.PRODUCE: 11}
    bodies = [
        {"transactional_id": None, "acks": 0, "timeout_ms": 30_000, "topic_data": [
            {"name": "t", "partition_data": [
                {"index": p, "records": bytearray(bytes([n * 7 + p]) * (100 + 3_000 * p))} for p in range(4)]}]}
        for n in range(6)
    ]
    written: list[int] = []
    expected = b""
    for n, body in enumerate(bodies):
        conn.send(ApiKey.PRODUCE, body, lambda response, error, n=n: written.append(n), 0.0, expect_response=False)
        expected += bytes(encode_request(ApiKey.PRODUCE, 11, n + 1, "parts", body))
    received = bytearray()
    try:
        while conn.wants_write or len(received) < len(expected):
            conn.flush(0.0)
            assert written == list(range(len(written)))
            received += broker.recv(1500)
        assert bytes(received) == expected
        assert written == list(range(6))
    finally:
        mine.close()
        broker.close()
