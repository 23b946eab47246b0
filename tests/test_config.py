"""Configuration: Java names and defaults, precise errors, no secrets in repr."""

from __future__ import annotations

import logging

import pytest

from josef.config import ProducerConfig


def make(**kwargs: object) -> ProducerConfig:
    return ProducerConfig.from_user({"bootstrap.servers": "127.0.0.1:9092"}, **kwargs)


def test_java_defaults() -> None:
    cfg = make()
    assert cfg["acks"] == -1
    assert cfg["linger.ms"] == 5
    assert cfg["batch.size"] == 16384
    assert cfg["buffer.memory"] == 32 * 1024 * 1024
    assert cfg["max.block.ms"] == 60000
    assert cfg["max.request.size"] == 1048576
    assert cfg["delivery.timeout.ms"] == 120000
    assert cfg["request.timeout.ms"] == 30000
    assert cfg["retries"] == 2**31 - 1
    assert cfg["max.in.flight.requests.per.connection"] == 5
    assert cfg.idempotent


def test_dotted_keys_and_underscore_kwargs_are_the_same() -> None:
    a = ProducerConfig.from_user({"bootstrap.servers": "h:1", "linger.ms": "7"})
    b = ProducerConfig.from_user(bootstrap_servers="h:1", linger_ms=7)
    assert a["linger.ms"] == b["linger.ms"] == 7
    assert a["bootstrap.servers"] == [("h", 1)]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("linger.mss", 5, "linger.mss: unknown configuration key"),
        ("linger.ms", -1, "linger.ms: -1 is out of range"),
        ("linger.ms", "soon", "linger.ms: expected an integer"),
        ("acks", "2", "acks: '2' is not one of"),
        ("compression.type", "brotli", "compression.type: 'brotli' is not one of"),
        ("compression.zstd.level", 23, "compression.zstd.level: 23 is out of range"),
        ("enable.idempotence", "maybe", "enable.idempotence: expected true or false"),
        ("bootstrap.servers", "nohostport", "bootstrap.servers: 'nohostport' is not host:port"),
    ],
)
def test_bad_values_name_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ProducerConfig.from_user({"bootstrap.servers": "h:1", key: value})


def test_bootstrap_servers_required() -> None:
    with pytest.raises(ValueError, match="bootstrap.servers: required"):
        ProducerConfig.from_user({})


def test_explicit_idempotence_conflicts_raise() -> None:
    with pytest.raises(ValueError, match="acks: conflicts with enable.idempotence=true"):
        make(enable_idempotence=True, acks=1)
    with pytest.raises(ValueError, match="max.in.flight.requests.per.connection"):
        make(enable_idempotence=True, max_in_flight_requests_per_connection=6)


def test_default_idempotence_gives_way_to_explicit_acks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="josef.config"):
        cfg = make(acks="1")
    assert not cfg.idempotent
    assert "idempotence disabled" in caplog.text


def test_transactional_id_requires_idempotence() -> None:
    with pytest.raises(ValueError, match="transactional.id"):
        make(transactional_id="tx", enable_idempotence=False)


def test_delivery_timeout_floor() -> None:
    with pytest.raises(ValueError, match="delivery.timeout.ms: must be >= linger.ms"):
        make(delivery_timeout_ms=1000, request_timeout_ms=2000)
    assert make(request_timeout_ms=200000)["delivery.timeout.ms"] == 200005


def test_same_key_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="given twice"):
        ProducerConfig.from_user({"bootstrap.servers": "h:1", "linger.ms": 1}, linger_ms=2)


def test_secrets_are_hidden_from_repr() -> None:
    cfg = make(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="hunter2")
    assert "hunter2" not in repr(cfg)
    assert "[hidden]" in repr(cfg)
