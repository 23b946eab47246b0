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


class EvenPartitioner:
    """A partitioner class with Java's shape: partition(...) -> int."""

    def partition(self, topic: str, key: bytes | None, value: bytes | None, partitions: int) -> int:
        return 0


def test_partitioner_class_java_names_and_dotted_paths() -> None:
    base = {"bootstrap.servers": "h:1"}
    rr = ProducerConfig.from_user(base, partitioner_class="org.apache.kafka.clients.producer.RoundRobinPartitioner")
    assert rr["partitioner"] == "round_robin" and rr["partitioner.ignore.keys"] is True
    uniform_sticky = "org.apache.kafka.clients.producer.UniformStickyPartitioner"
    uniform = ProducerConfig.from_user({**base, "partitioner.class": uniform_sticky})
    assert uniform["partitioner"] == "sticky" and uniform["partitioner.ignore.keys"] is True
    dotted = ProducerConfig.from_user({**base, "partitioner.class": "tests.test_config.EvenPartitioner"})
    assert dotted["partitioner"]("t", None, b"v", 3) == 0
    assert ProducerConfig.from_user(base, partitioner_class=len)["partitioner"] is len
    with pytest.raises(ValueError, match="either partitioner or partitioner.class"):
        ProducerConfig.from_user(base, partitioner="sticky", partitioner_class=len)
    with pytest.raises(ValueError, match="partitioner.class: cannot load"):
        ProducerConfig.from_user(base, partitioner_class="tests.test_config.Missing")
    with pytest.raises(ValueError, match="is not callable"):
        ProducerConfig.from_user(base, partitioner_class=5)


def test_round_robin_partitioner_class_spreads_records() -> None:
    from josef import Producer
    from josef.testing import MockCluster

    with MockCluster(topics={"t": 3}) as cluster, Producer(
        bootstrap_servers=cluster.bootstrap_servers,
        partitioner_class="org.apache.kafka.clients.producer.RoundRobinPartitioner",
    ) as producer:
        partitions = [producer.send("t", b"v", key=b"same").result(10).partition for _ in range(6)]
    assert sorted(partitions) == [0, 0, 1, 1, 2, 2]


def test_network_keys_are_validated() -> None:
    base = {"bootstrap.servers": "h:1"}
    config = ProducerConfig.from_user(base)
    assert config["client.dns.lookup"] == "use_all_dns_ips"
    assert config["metadata.recovery.strategy"] == "rebootstrap"
    assert ProducerConfig.from_user(base, client_dns_lookup="resolve_canonical_bootstrap_servers_only")[
        "client.dns.lookup"
    ] == "resolve_canonical_bootstrap_servers_only"
    with pytest.raises(ValueError, match="client.dns.lookup: 'default' is not one of"):
        ProducerConfig.from_user(base, client_dns_lookup="default")
    with pytest.raises(ValueError, match="metadata.recovery.strategy"):
        ProducerConfig.from_user(base, metadata_recovery_strategy="sometimes")


@pytest.mark.parametrize(
    ("key", "hint"),
    [("linger.msec", "linger.ms"), ("bootstrap_server", "bootstrap.servers"), ("compresion.type", "compression.type")],
)
def test_misspelled_keys_get_a_hint(key: str, hint: str) -> None:
    with pytest.raises(ValueError, match=rf"{key}: unknown configuration key \(did you mean {hint}\?\)"):
        ProducerConfig.from_user({"bootstrap.servers": "h:1", key: 1})


def test_unrelated_unknown_keys_get_no_hint() -> None:
    from josef.config import did_you_mean

    assert did_you_mean("frobnicate") is None
    with pytest.raises(ValueError, match=r"^frobnicate: unknown configuration key$"):
        ProducerConfig.from_user({"bootstrap.servers": "h:1", "frobnicate": 1})

@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("bootstrap.servers", 9092, "bootstrap.servers: expected a string 'host:port[,host:port...]' or a list "
                                    "of 'host:port' strings, got int 9092"),
        ("bootstrap.servers", ["h:1", 2], "bootstrap.servers: expected 'host:port' strings in the list, got int 2"),
        ("linger.ms", [5], "linger.ms: expected an integer, got list [5]"),
        ("linger.ms", 2.5, "linger.ms: expected an integer, got float 2.5"),
        ("enable.idempotence", 1, "enable.idempotence: expected true or false, got int 1"),
        ("compression.type", 4, "compression.type: expected a string (one of none, gzip"),
        ("acks", None, "acks: expected one of all, -1, 0, 1 (a string or an int), got NoneType None"),
        ("client.id", 7, "client.id: expected a string, got int 7"),
        ("key.serializer", "json", "key.serializer: expected a callable, got str 'json'"),
        ("partitioner", 3, "partitioner: expected a callable or one of sticky"),
    ],
)
def test_type_mistakes_name_the_key_and_the_expected_type(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ProducerConfig.from_user({"bootstrap.servers": "h:1", key: value})
    assert str(caught.value).startswith(message)


def test_every_problem_is_reported_at_once() -> None:
    from josef.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        ProducerConfig.from_user(
            {"bootstrap.servers": 9092, "linger.ms": "soon", "lingerr.ms": 5, "acks": "2", "retries": 0},
            batch_size=-1, enable_idempotence=True,
        )
    error = caught.value
    assert isinstance(error, ValueError)
    assert [p.key for p in error.problems] == [
        "lingerr.ms", "bootstrap.servers", "linger.ms", "acks", "batch.size", "retries",
    ]
    lines = str(error).splitlines()
    assert lines[0] == "6 configuration problems:"
    assert lines[1:] == [f"  {p}" for p in error.problems]
    assert error.problems[0].hint == "did you mean linger.ms?"
    assert lines[1] == "  lingerr.ms: unknown configuration key (did you mean linger.ms?)"
    # A problem can carry a hint (e.g. the key the user probably meant), shown after its message.
    from josef.config import ConfigProblem

    assert str(ConfigError([ConfigProblem("lingerr.ms", "lingerr.ms: unknown", "did you mean linger.ms?")])) == (
        "lingerr.ms: unknown (did you mean linger.ms?)"
    )


def test_a_key_that_failed_to_parse_causes_no_second_error() -> None:
    """linger.ms is unreadable: the delivery.timeout.ms >= linger.ms + request.timeout.ms check,
    which would read linger.ms's default instead, is skipped rather than misreported."""
    with pytest.raises(ValueError) as caught:
        ProducerConfig.from_user({"bootstrap.servers": "h:1", "linger.ms": "x", "delivery.timeout.ms": 30001})
    assert str(caught.value) == "linger.ms: expected an integer, got str 'x'"


def test_exit_flush_timeout_is_a_josef_key() -> None:
    assert make()["josef.exit.flush.timeout.ms"] == 5000
    assert make(josef_exit_flush_timeout_ms=250)["josef.exit.flush.timeout.ms"] == 250
