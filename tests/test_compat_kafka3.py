"""Older brokers: josef against Kafka 3.x (3.9.1 by default; ``JOSEF_COMPAT_KAFKA_VERSIONS`` takes a
comma-separated list, e.g. ``3.9.1,3.7.2``). A round trip with every codec, idempotent acks=all,
and a committed and an aborted transaction (the pre-KIP-890 protocol: 3.x has no
transaction.version 2), all read back by confluent-kafka."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from josef import Producer
from tests.harness.kafka import KafkaCluster

VERSIONS = [v.strip() for v in os.environ.get("JOSEF_COMPAT_KAFKA_VERSIONS", "3.9.1").split(",") if v.strip()]


@pytest.fixture(scope="module", params=VERSIONS)
def old_kafka(request: pytest.FixtureRequest) -> Iterator[KafkaCluster]:
    with KafkaCluster(1, version=request.param) as cluster:
        yield cluster


def _topic(cluster: KafkaCluster, partitions: int) -> str:
    name = f"compat-{uuid.uuid4().hex[:10]}"
    cluster.create_topic(name, partitions=partitions)
    return name


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_round_trip_with_every_codec(old_kafka: KafkaCluster, codec: str) -> None:
    topic = _topic(old_kafka, 3)
    sent = [(f"k{i % 17}".encode(), f"value {i} {codec} ".encode() * (1 + i % 5), [("n", str(i).encode())])
            for i in range(600)]
    with Producer(bootstrap_servers=old_kafka.bootstrap_servers, compression_type=codec, linger_ms=20) as producer:
        futures = [producer.send(topic, value, key, headers=headers) for key, value, headers in sent]
        assert producer.flush(60) == 0
    assert all(f.exception(0) is None for f in futures)
    messages = old_kafka.consume_all(topic, len(sent))
    got = sorted((m.key(), m.value(), m.headers()) for m in messages)
    assert got == sorted((k, v, h) for k, v, h in sent)
    for future, message in zip(sorted(futures, key=lambda f: (f.result(0).partition, f.result(0).offset)),
                               messages, strict=True):
        assert (future.result(0).partition, future.result(0).offset) == (message.partition(), message.offset())


def test_idempotent_acks_all_exactly_once_in_order(old_kafka: KafkaCluster) -> None:
    topic = _topic(old_kafka, 4)
    with Producer(bootstrap_servers=old_kafka.bootstrap_servers, acks="all", enable_idempotence=True,
                  batch_size=2048, linger_ms=2) as producer:
        futures = [producer.send(topic, str(i).encode(), key=str(i % 4).encode()) for i in range(5000)]
        assert producer.flush(60) == 0
        assert producer._sender.idempotence is not None and producer._sender.idempotence.producer_id >= 0
    assert all(f.exception(0) is None for f in futures)
    per_partition: dict[int, list[int]] = {}
    for message in old_kafka.consume_all(topic, 5000):
        per_partition.setdefault(message.partition(), []).append(int(message.value()))
    assert sum(len(v) for v in per_partition.values()) == 5000  # no duplicates
    for values in per_partition.values():
        assert values == sorted(values)  # send order kept per partition (one key per partition here)


def test_committed_and_aborted_transactions(old_kafka: KafkaCluster) -> None:
    topic = _topic(old_kafka, 2)
    with Producer(bootstrap_servers=old_kafka.bootstrap_servers, transactional_id=f"compat-{uuid.uuid4().hex[:8]}",
                  compression_type="lz4") as producer:
        producer.init_transactions(60)
        with producer.transaction(60):
            for i in range(200):
                producer.send(topic, f"committed-{i}".encode())
        producer.begin_transaction()
        aborted = [producer.send(topic, f"aborted-{i}".encode()) for i in range(200)]
        assert producer.flush(60) == 0
        producer.abort_transaction(60)
        with producer.transaction(60):
            producer.send(topic, b"committed-last")
    assert all(f.exception(0) is None for f in aborted)  # written, then aborted
    committed = old_kafka.consume_all(topic, 201, isolation_level="read_committed")
    assert sorted(m.value() for m in committed) == sorted(
        [f"committed-{i}".encode() for i in range(200)] + [b"committed-last"]
    )
    everything = old_kafka.consume_all(topic, 401, isolation_level="read_uncommitted")
    assert sum(m.value().startswith(b"aborted-") for m in everything) == 200
