"""josef over TLS and SASL against a real Kafka 4.x, read back by confluent-kafka (issue 13 acceptance)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import josef
from josef.errors import KafkaError, SaslAuthenticationFailedError, SslAuthenticationError
from tests.harness.proxy import ChaosProxy
from tests.harness.secure_kafka import PASSWORD, USER, SecureKafka
from tests.security.conftest import CANARIES, CLIENT_SECRET

COUNT = 10_000
CREDENTIALS = f'required username="{USER}" password="{PASSWORD}";'
PLAIN_JAAS = f"org.apache.kafka.common.security.plain.PlainLoginModule {CREDENTIALS}"
SCRAM_JAAS = f"org.apache.kafka.common.security.scram.ScramLoginModule {CREDENTIALS}"
OAUTH_JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    'unsecuredLoginStringClaim_sub="alice";'
)


def unsecured_jwt(sub: str = "alice", lifetime: float = 3600) -> tuple[str, float]:
    """An unsigned JWT the broker's default (test-only) OAUTHBEARER validator accepts."""
    now = time.time()

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    exp = int(now + lifetime)
    return f"{b64({'alg': 'none'})}.{b64({'sub': sub, 'iat': int(now), 'exp': exp})}.", float(exp)


def mode_config(cluster: SecureKafka, mode: str) -> dict[str, Any]:
    pki = cluster.pki
    ssl_java = {"ssl.truststore.location": str(pki.ca), "ssl.truststore.type": "PEM"}
    modes: dict[str, dict[str, Any]] = {
        "ssl": {"bootstrap.servers": cluster.bootstrap("SSL"), "security.protocol": "SSL", **ssl_java},
        "mtls": {
            "bootstrap.servers": cluster.bootstrap("MTLS"), "security.protocol": "SSL", **ssl_java,
            "ssl.keystore.location": str(pki.client_keystore_p12), "ssl.keystore.type": "PKCS12",
            "ssl.keystore.password": pki.key_password, "transactional.id": "mtls-txn",
        },
        "sasl-plain": {
            "bootstrap.servers": cluster.bootstrap("SASL_SSL"), "security.protocol": "SASL_SSL", **ssl_java,
            "sasl.mechanism": "PLAIN", "sasl.jaas.config": PLAIN_JAAS,
        },
        "sasl-scram-256": {
            "bootstrap.servers": cluster.bootstrap("SASL_SSL"), "security.protocol": "SASL_SSL", **ssl_java,
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": SCRAM_JAAS,
        },
        "sasl-scram-512-txn": {
            "bootstrap.servers": cluster.bootstrap("SASL_SSL"), "security.protocol": "SASL_SSL", **ssl_java,
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": SCRAM_JAAS, "transactional.id": "scram-txn",
        },
        "oauth-unsecured": {
            "bootstrap.servers": cluster.bootstrap("SASL_PLAINTEXT"), "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "sasl.jaas.config": OAUTH_JAAS,
        },
        "oauth-callback": {
            "bootstrap.servers": cluster.bootstrap("SASL_PLAINTEXT"), "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.token.callback": unsecured_jwt,
        },
        "librdkafka-aliases": {
            "bootstrap.servers": cluster.bootstrap("SASL_SSL"), "security.protocol": "sasl_ssl",
            "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": USER, "sasl.password": PASSWORD,
            "ssl.ca.location": str(pki.ca), "enable.idempotence": False, "acks": 1,
        },
    }  # fmt: skip
    return modes[mode]


def produce(config: dict[str, Any], topic: str, count: int, tag: str) -> None:
    failures: list[BaseException] = []

    def on_delivery(metadata: Any, error: BaseException | None) -> None:
        if error is not None:
            failures.append(error)

    with josef.Producer({**config, "linger.ms": 20}) as producer:
        transactional = config.get("transactional.id") is not None
        if transactional:
            producer.init_transactions()
            producer.begin_transaction()
        for i in range(count):
            producer.send(topic, f"{tag}-{i}".encode(), key=str(i).encode(), callback=on_delivery)
        if transactional:
            producer.commit_transaction()
        assert producer.flush(60) == 0
        assert CANARIES[0] not in repr(producer) and CANARIES[1] not in repr(producer)
    assert not failures, failures[:3]


def assert_read_back(cluster: SecureKafka, topic: str, count: int, tag: str) -> None:
    records = cluster.consume_all(topic, expected_count=count, timeout=120, isolation_level="read_committed")
    assert sorted(r.value() for r in records) == sorted(f"{tag}-{i}".encode() for i in range(count))


@pytest.mark.parametrize(
    "mode",
    ["ssl", "mtls", "sasl-plain", "sasl-scram-256", "sasl-scram-512-txn", "oauth-unsecured", "oauth-callback",
     "librdkafka-aliases"],
)  # fmt: skip
def test_produce_10000_records_per_mode(secure_kafka: SecureKafka, secure_topic: str, mode: str) -> None:
    produce(mode_config(secure_kafka, mode), secure_topic, COUNT, mode)
    assert_read_back(secure_kafka, secure_topic, COUNT, mode)


class _TokenEndpoint(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        auth = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        self.rfile.read(int(self.headers["Content-Length"]))
        ok = auth == f"josef-client:{CLIENT_SECRET}"
        token, _ = unsecured_jwt("oidc-client", 600)
        body = json.dumps({"access_token": token, "expires_in": 600} if ok else {"error": "invalid_client"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


def test_oidc_client_credentials(secure_kafka: SecureKafka, secure_topic: str, token_endpoint: str) -> None:
    config = {
        "bootstrap.servers": secure_kafka.bootstrap("SASL_PLAINTEXT"), "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.token.endpoint.url": token_endpoint,
        "sasl.jaas.config": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                            f'clientId="josef-client" clientSecret="{CLIENT_SECRET}" scope="kafka";',
    }  # fmt: skip
    produce(config, secure_topic, 500, "oidc")
    assert_read_back(secure_kafka, secure_topic, 500, "oidc")


def _first_error(config: dict[str, Any], topic: str, max_block_ms: int = 5000) -> tuple[BaseException, float]:
    started = time.monotonic()
    with josef.Producer({**config, "max.block.ms": max_block_ms, "delivery.timeout.ms": 60000}) as producer:
        try:
            producer.send(topic, b"x").result(30)
        except KafkaError as exc:
            return exc, time.monotonic() - started
        finally:
            producer.close(1)
    raise AssertionError("the record was delivered")


def test_hostname_mismatch_is_refused_by_default(secure_kafka: SecureKafka, secure_topic: str) -> None:
    config = {**mode_config(secure_kafka, "ssl"), "bootstrap.servers": secure_kafka.bootstrap("BADNAME")}
    error, elapsed = _first_error(config, secure_topic)
    assert isinstance(error, SslAuthenticationError), repr(error)
    assert "match" in str(error).lower() and "certificate" in str(error).lower(), str(error)
    assert elapsed < 6


def test_hostname_check_off_accepts_the_badname_certificate(secure_kafka: SecureKafka, secure_topic: str) -> None:
    config = {
        **mode_config(secure_kafka, "ssl"), "bootstrap.servers": secure_kafka.bootstrap("BADNAME"),
        "ssl.endpoint.identification.algorithm": "",
    }  # fmt: skip
    produce(config, secure_topic, 200, "badname")
    assert_read_back(secure_kafka, secure_topic, 200, "badname")


def test_untrusted_ca_is_refused(secure_kafka: SecureKafka, secure_topic: str) -> None:
    config = {**mode_config(secure_kafka, "ssl"), "ssl.truststore.location": str(secure_kafka.pki.other_ca)}
    error, _ = _first_error(config, secure_topic)
    assert isinstance(error, SslAuthenticationError), repr(error)
    assert "certificate verify failed" in str(error), str(error)


def test_mtls_without_client_certificate_is_refused(secure_kafka: SecureKafka, secure_topic: str) -> None:
    config = {**mode_config(secure_kafka, "ssl"), "bootstrap.servers": secure_kafka.bootstrap("MTLS")}
    error, _ = _first_error(config, secure_topic)
    assert isinstance(error, KafkaError) and "TLS" in str(error), repr(error)


class CountingProxy(ChaosProxy):
    """Counts the connections made through it."""

    def __init__(self, target_port: int) -> None:
        self.accepted = 0
        super().__init__(target_port)

    def _accept(self) -> None:
        self.accepted += 1
        super()._accept()


def test_wrong_password_fails_fast_with_bounded_attempts(secure_kafka: SecureKafka, secure_topic: str) -> None:
    proxy = CountingProxy(int(secure_kafka.bootstrap("SASL_SSL").rsplit(":", 1)[1]))
    try:
        config = {
            **mode_config(secure_kafka, "sasl-scram-512-txn"), "transactional.id": None,
            "bootstrap.servers": f"127.0.0.1:{proxy.port}", "ssl.endpoint.identification.algorithm": "",
            "sasl.jaas.config": SCRAM_JAAS.replace(PASSWORD, "wrong-password"),
            "reconnect.backoff.ms": 200, "reconnect.backoff.max.ms": 2000,
        }  # fmt: skip
        error, elapsed = _first_error(config, secure_topic, max_block_ms=4000)
        assert isinstance(error, SaslAuthenticationFailedError), repr(error)
        assert "Authentication failed" in str(error)
        assert elapsed < 4.5
        # No retry storm: within 4 s and a 200 ms..2 s backoff, a handful of attempts at most.
        assert 1 <= proxy.accepted <= 5, proxy.accepted
    finally:
        proxy.close()


def test_wrong_password_delivery_callback_and_error_text(secure_kafka: SecureKafka, secure_topic: str) -> None:
    config = {**mode_config(secure_kafka, "sasl-plain"), "sasl.jaas.config": PLAIN_JAAS.replace(PASSWORD, "nope")}
    error, _ = _first_error(config, secure_topic, max_block_ms=3000)
    assert isinstance(error, SaslAuthenticationFailedError)
    for canary in CANARIES:
        assert canary not in str(error) and canary not in repr(error)


def test_wrong_password_fails_init_transactions(secure_kafka: SecureKafka) -> None:
    config = {
        **mode_config(secure_kafka, "sasl-scram-512-txn"), "transactional.id": "wrong-pw-txn",
        "sasl.jaas.config": SCRAM_JAAS.replace(PASSWORD, "wrong"), "max.block.ms": 20000,
    }  # fmt: skip
    started = time.monotonic()
    with josef.Producer(config) as producer:
        with pytest.raises(SaslAuthenticationFailedError):
            producer.init_transactions()
        assert time.monotonic() - started < 10  # the refusal, not max.block.ms
        producer.close(1)


def _reauth_run(
    secure_kafka: SecureKafka, topic: str, seconds: float, mode: str = "sasl-scram-256", **extra: Any
) -> tuple[int, int]:
    """Produce for ``seconds``; (records, re-authentications counted by the connections)."""
    failures: list[BaseException] = []
    sent = 0
    config = {**mode_config(secure_kafka, mode), "linger.ms": 5, **extra}
    with josef.Producer(config) as producer:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(50):
                producer.send(topic, f"reauth-{sent}".encode(), callback=lambda m, e: e and failures.append(e))
                sent += 1
            time.sleep(0.05)
        assert producer.flush(60) == 0
        reauths = sum(conn_reauths(producer))
    assert not failures, failures[:3]
    return sent, reauths


def conn_reauths(producer: josef.Producer) -> list[int]:
    sender = producer._sender
    network = getattr(sender, "network", None) or getattr(sender, "_network", None)
    conns = (network or sender).conns.values()
    return [getattr(conn, "reauthentications", 0) for conn in conns]


def test_reauthentication_keeps_records_flowing(secure_kafka: SecureKafka, secure_topic: str) -> None:
    assert secure_kafka.reauth_ms == 10000
    sent, reauths = _reauth_run(secure_kafka, secure_topic, 25)
    assert reauths >= 2, reauths
    assert_read_back(secure_kafka, secure_topic, sent, "reauth")


def test_oauthbearer_token_refresh_with_reauthentication(secure_kafka: SecureKafka, secure_topic: str) -> None:
    """Tokens living 15 s: the broker's session ends with the token, re-authentication fetches a new one."""
    tokens: list[float] = []

    def short_lived() -> tuple[str, float]:
        token, expires = unsecured_jwt("alice", 15)
        tokens.append(expires)
        return token, expires

    sent, reauths = _reauth_run(
        secure_kafka, secure_topic, 30, "oauth-callback", **{"sasl.oauthbearer.token.callback": short_lived}
    )
    assert reauths >= 2, reauths
    assert len(tokens) >= 2, tokens
    assert_read_back(secure_kafka, secure_topic, sent, "reauth")


@pytest.mark.slow
def test_reauthentication_during_a_60s_run(secure_kafka: SecureKafka, secure_topic: str) -> None:
    sent, reauths = _reauth_run(secure_kafka, secure_topic, 60)
    assert reauths >= 5, reauths
    assert_read_back(secure_kafka, secure_topic, sent, "reauth")


def test_cli_output_shows_no_secret(secure_kafka: SecureKafka, secure_topic: str, tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        f"sasl.jaas.config={PLAIN_JAAS.replace(PASSWORD, CANARIES[0] + 'x')}\n"
        f"ssl.truststore.location={secure_kafka.pki.ca}\nssl.key.password={CANARIES[1]}\n"
        "max.block.ms=3000\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "josef", "produce", "--debug", "-b", secure_kafka.bootstrap("SASL_SSL"),
         "--config", str(props), secure_topic],
        input=b"one\ntwo\n", capture_output=True, timeout=60,
        env={"PYTHONPATH": str(Path(josef.__file__).parents[1]), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    output = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode != 0
    assert "SASL_AUTHENTICATION_FAILED" in output or "ssl.key.password" in output, output[-2000:]
    for canary in CANARIES:
        assert canary not in output


def test_port_is_really_tls(secure_kafka: SecureKafka) -> None:
    """Guard for the suite itself: the SSL listener does not answer plaintext Kafka."""
    port = int(secure_kafka.bootstrap("SSL").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x00\x00\x00\x0a" + b"\x00" * 10)
        sock.settimeout(5)
        try:
            data = sock.recv(100)
        except (ConnectionResetError, TimeoutError):
            data = b""
    assert not data.startswith(b"\x00\x00")
