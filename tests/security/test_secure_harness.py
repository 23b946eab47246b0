"""The secure broker of the harness works for a client we did not write (confluent-kafka)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Producer

from tests.harness.secure_kafka import SecureKafka, reader_config


@pytest.mark.parametrize("listener", ["SSL", "MTLS", "SASL_SSL", "SASL_PLAINTEXT"])
def test_confluent_kafka_produces_over_each_listener(
    secure_kafka: SecureKafka, secure_topic: str, listener: str
) -> None:
    errors: list[KafkaError] = []
    producer = Producer({**reader_config(secure_kafka, listener), "error_cb": errors.append})
    for i in range(100):
        producer.produce(secure_topic, value=f"{listener}-{i}".encode())
    assert producer.flush(30) == 0, errors
    records = secure_kafka.consume_all(secure_topic, expected_count=100)
    assert sorted(r.value() for r in records) == sorted(f"{listener}-{i}".encode() for i in range(100))


def test_confluent_kafka_refuses_the_badname_certificate(secure_kafka: SecureKafka, secure_topic: str) -> None:
    errors: list[KafkaError] = []
    conf = {**reader_config(secure_kafka, "SSL"), "bootstrap.servers": secure_kafka.bootstrap("BADNAME")}
    producer = Producer({**conf, "error_cb": errors.append, "message.timeout.ms": 3000})
    producer.produce(secure_topic, value=b"x")
    producer.flush(10)
    assert any("certificate" in e.str().lower() or "ssl" in e.str().lower() for e in errors), errors
