"""The mock cluster's TLS and SASL listeners, with josef and with confluent-kafka as clients."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Producer as CkProducer

import josef
from josef.errors import SaslAuthenticationFailedError, SslAuthenticationError, UnsupportedSaslMechanismError
from josef.testing import MockCluster

USERS = {"alice": "mock-pw-canary"}


def _jaas(module: str, password: str = "mock-pw-canary") -> str:
    return f'org.apache.kafka.common.security.{module} required username="alice" password="{password}";'


@pytest.mark.parametrize(
    ("protocol", "mechanism", "module"),
    [
        ("SSL", None, None),
        ("SASL_SSL", "PLAIN", "plain.PlainLoginModule"),
        ("SASL_SSL", "SCRAM-SHA-256", "scram.ScramLoginModule"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "scram.ScramLoginModule"),
    ],
)
def test_josef_produces_over_secured_mock(protocol: str, mechanism: str | None, module: str | None) -> None:
    with MockCluster(brokers=2, topics={"t": 2}, security_protocol=protocol, sasl_users=USERS) as cluster:
        config: dict[str, Any] = {"bootstrap.servers": cluster.bootstrap_servers, **cluster.security.client_config()}
        if mechanism is not None and module is not None:
            config.update({"sasl.mechanism": mechanism, "sasl.jaas.config": _jaas(module)})
        with josef.Producer(config) as producer:
            for i in range(100):
                producer.send("t", str(i).encode(), partition=i % 2)
            assert producer.flush(30) == 0
        values = sorted(int(r.value) for p in (0, 1) for r in cluster.records("t", p))  # type: ignore[arg-type]
        assert values == list(range(100))
        assert cluster.internal_errors == []


def test_confluent_kafka_authenticates_with_scram_against_the_mock() -> None:
    """An independent SCRAM client: the mock's server side computes what a broker would."""
    with MockCluster(brokers=1, topics={"t": 1}, security_protocol="SASL_SSL", sasl_users=USERS) as cluster:
        errors: list[Any] = []
        ck = CkProducer({
            "bootstrap.servers": cluster.bootstrap_servers, "security.protocol": "SASL_SSL",
            "ssl.ca.location": cluster.security.ca_location, "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "alice", "sasl.password": USERS["alice"], "error_cb": errors.append,
        })  # fmt: skip
        for i in range(10):
            ck.produce("t", str(i).encode())
        assert ck.flush(30) == 0, errors
        assert len(cluster.records("t", 0)) == 10


def test_wrong_password_and_unknown_mechanism_are_refused() -> None:
    with MockCluster(
        brokers=1, topics={"t": 1}, security_protocol="SASL_PLAINTEXT", sasl_users=USERS, sasl_mechanisms=("PLAIN",)
    ) as cluster:
        base = {"bootstrap.servers": cluster.bootstrap_servers, "security.protocol": "SASL_PLAINTEXT",
                "max.block.ms": 3000}  # fmt: skip
        wrong = {**base, "sasl.mechanism": "PLAIN", "sasl.jaas.config": _jaas("plain.PlainLoginModule", "nope")}
        with josef.Producer(wrong) as producer, pytest.raises(SaslAuthenticationFailedError):
            producer.send("t", b"x").result(10)
        scram = {**base, "sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": _jaas("scram.ScramLoginModule")}
        with josef.Producer(scram) as producer, pytest.raises(UnsupportedSaslMechanismError, match="enables: PLAIN"):
            producer.send("t", b"x").result(10)
        assert cluster.records("t", 0) == []


def test_untrusted_mock_certificate_is_refused() -> None:
    with MockCluster(brokers=1, security_protocol="SSL") as cluster:
        config = {"bootstrap.servers": cluster.bootstrap_servers, "security.protocol": "SSL", "max.block.ms": 3000}
        with josef.Producer(config) as producer, pytest.raises(SslAuthenticationError, match="verify failed"):
            producer.send("t", b"x").result(10)
        assert cluster._server.tls_failures >= 1


def test_sasl_needs_users() -> None:
    with pytest.raises(ValueError, match="sasl_users"):
        MockCluster(brokers=1, security_protocol="SASL_SSL", start=False)
