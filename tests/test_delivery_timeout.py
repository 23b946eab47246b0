"""Issue 12, case 3: ``delivery.timeout.ms`` is a hard upper bound on reporting, with idempotence
and transactions too. Against a real broker frozen with SIGSTOP (it keeps its sockets and answers
nothing): batches never sent expire at their deadline, batches in flight are reported at their
deadline with a DeliveryTimeoutError saying the outcome is unknown, and once the broker is back
the producer delivers again without duplicating or reordering anything (read back by
confluent-kafka); a transaction holding such a batch must abort."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from josef import Producer, RecordFuture
from josef._core.transactions import TransactionAbortRequiredError
from josef.errors import DeliveryTimeoutError, KafkaError

DELIVERY_TIMEOUT = 10.0
MARGIN = 0.5  # seconds past the deadline a report may come, on a loaded 2-core machine

CONFIG: dict[str, int] = {
    "delivery.timeout.ms": int(DELIVERY_TIMEOUT * 1000),
    "request.timeout.ms": 4000,
    "linger.ms": 5,
    "batch.size": 1024,  # many batches: some in flight, more queued behind them
    "max.block.ms": 5000,
}


def _resolved_by_deadline(futures: list[tuple[RecordFuture, float]]) -> list[BaseException | None]:
    """Each future's error, checking it resolves by its own send time + delivery.timeout.ms."""
    errors = []
    for future, sent_at in futures:
        remaining = sent_at + DELIVERY_TIMEOUT + MARGIN - time.monotonic()
        errors.append(future.exception(max(remaining, 0.0)))  # KafkaTimeoutError if still pending
        assert time.monotonic() <= sent_at + DELIVERY_TIMEOUT + MARGIN
    return errors


def _topic(cluster: Any, partitions: int) -> str:
    name = f"frozen-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(name, partitions=partitions)
    return name


def test_frozen_broker_every_record_reported_within_delivery_timeout(kafka_factory: Any) -> None:
    cluster = kafka_factory(1)
    topic = _topic(cluster, 2)
    config = {k.replace(".", "_"): v for k, v in CONFIG.items()}
    with Producer(bootstrap_servers=cluster.bootstrap_servers, **config) as producer:
        producer.send(topic, b"warm-up", partition=0).result(30)
        producer.send(topic, b"warm-up", partition=1).result(30)
        cluster.pause(1)
        try:
            futures = []
            for i in range(100):
                futures.append((producer.send(topic, f"frozen-{i}".encode() * 20, partition=i % 2), time.monotonic()))
            started = time.monotonic()
            assert producer.flush() == 0  # no timeout: it returns when the last deadline has passed
            assert time.monotonic() - started <= DELIVERY_TIMEOUT + MARGIN
            errors = _resolved_by_deadline(futures)
        finally:
            cluster.resume(1)
        assert all(isinstance(e, DeliveryTimeoutError) for e in errors), errors
        unknown = [e for e in errors if isinstance(e, DeliveryTimeoutError) and e.outcome_unknown]
        never_sent = [e for e in errors if isinstance(e, DeliveryTimeoutError) and not e.outcome_unknown]
        assert unknown and never_sent  # both kinds were there: in flight, and queued behind
        assert all("outcome is unknown" in str(e) for e in unknown)
        assert all("outcome is unknown" not in str(e) for e in never_sent)
        # The broker is back: the same producer delivers again, in order, without duplicates.
        after = [producer.send(topic, f"after-{i}".encode(), partition=i % 2) for i in range(200)]
        assert producer.flush(60) == 0
        assert all(f.exception(0) is None for f in after)
    values = [m.value() for m in cluster.consume_all(topic, 202)]
    frozen = [v for v in values if v.startswith(b"frozen-")]
    assert len(frozen) == len(set(frozen)) <= len(unknown)  # at most the unknown ones, each at most once
    for partition in (0, 1):
        later = [int(v.split(b"-")[1]) for v in values if v.startswith(b"after-")
                 and int(v.split(b"-")[1]) % 2 == partition]
        assert later == sorted(later) and len(later) == 100


def test_frozen_broker_transaction_with_an_unknown_batch_must_abort(kafka_factory: Any) -> None:
    cluster = kafka_factory(1)
    topic = _topic(cluster, 1)
    config = {k.replace(".", "_"): v for k, v in CONFIG.items()}
    txn_id = f"frozen-{topic}"
    with Producer(bootstrap_servers=cluster.bootstrap_servers, transactional_id=txn_id, **config) as producer:
        producer.init_transactions(30)
        with producer.transaction(30):
            producer.send(topic, b"committed-before")
        producer.begin_transaction()
        producer.send(topic, b"warm-up-in-txn").result(30)
        cluster.pause(1)
        try:
            futures = [(producer.send(topic, f"frozen-{i}".encode() * 20), time.monotonic()) for i in range(30)]
            errors = _resolved_by_deadline(futures)
        finally:
            cluster.resume(1)
        # The first batches time out with their outcome unknown; that makes the transaction
        # abortable, and what was queued behind them fails with the abort's error.
        assert isinstance(errors[0], DeliveryTimeoutError) and errors[0].outcome_unknown, errors[0]
        assert all(isinstance(e, (DeliveryTimeoutError, KafkaError)) for e in errors), errors
        with pytest.raises(TransactionAbortRequiredError):
            producer.commit_transaction(30)
        producer.abort_transaction(30)
        with producer.transaction(30):
            producer.send(topic, b"committed-after")
    committed = [m.value() for m in cluster.consume_all(topic, 2, isolation_level="read_committed")]
    assert committed == [b"committed-before", b"committed-after"]
