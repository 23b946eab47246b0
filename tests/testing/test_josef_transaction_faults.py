"""josef's transactional producer against injected coordinator and produce faults (#5, #7).

What a read_committed reader sees is taken from the mock's log (``isolation="read_committed"``),
and what the application saw from the calls' outcomes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from josef import Producer, TransactionAbortRequiredError
from josef._core.protocol import ApiKey
from josef.errors import ProducerFencedError
from josef.testing import MockCluster

pytestmark = pytest.mark.timeout(60)

FAST = {
    "retry.backoff.ms": 10,
    "retry.backoff.max.ms": 50,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 50,
    "linger.ms": 0,
    "request.timeout.ms": 3000,
    "delivery.timeout.ms": 15000,
    "max.block.ms": 10000,
}


@pytest.fixture(params=[1, 2], ids=["tv1", "tv2"])
def cluster(request: pytest.FixtureRequest) -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}, transaction_version=request.param) as c:
        yield c
        assert c.internal_errors == []


def transactional(cluster: MockCluster, txn_id: str = "txn-1", **overrides: Any) -> Producer:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": txn_id,
                         **FAST, **overrides})
    producer.init_transactions()
    return producer


def committed(cluster: MockCluster, partition: int = 0) -> list[bytes]:
    return [r.value or b"" for r in cluster.records("t", partition, isolation="read_committed")]


def test_commit_and_abort_are_what_read_committed_sees(cluster: MockCluster) -> None:
    with transactional(cluster) as p:
        with p.transaction():
            p.send("t", b"kept-1", partition=0)
            p.send("t", b"kept-2", partition=1)
        p.begin_transaction()
        p.send("t", b"dropped", partition=0)
        p.flush(10)
        p.abort_transaction()
        with p.transaction():
            p.send("t", b"kept-3", partition=0)
    assert committed(cluster, 0) == [b"kept-1", b"kept-3"]
    assert committed(cluster, 1) == [b"kept-2"]


@pytest.mark.parametrize(
    ("api", "error"),
    [
        (ApiKey.ADD_PARTITIONS_TO_TXN, "CONCURRENT_TRANSACTIONS"),
        (ApiKey.ADD_PARTITIONS_TO_TXN, "COORDINATOR_LOAD_IN_PROGRESS"),
        (ApiKey.ADD_PARTITIONS_TO_TXN, "NOT_COORDINATOR"),
        (ApiKey.END_TXN, "CONCURRENT_TRANSACTIONS"),
        (ApiKey.END_TXN, "NOT_COORDINATOR"),
        (ApiKey.END_TXN, "COORDINATOR_NOT_AVAILABLE"),
        (ApiKey.FIND_COORDINATOR, "COORDINATOR_NOT_AVAILABLE"),
        (ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER"),
    ],
)
def test_retriable_coordinator_and_produce_errors_are_absorbed(cluster: MockCluster, api: int, error: str) -> None:
    with transactional(cluster) as p:
        if api == ApiKey.FIND_COORDINATOR:
            cluster.push_errors(ApiKey.END_TXN, "NOT_COORDINATOR")  # forces a new lookup, which then fails once
        fault = cluster.inject(api, error=error, times=2)
        with p.transaction():
            p.send("t", b"a", partition=0)
            p.send("t", b"b", partition=1)
        # Transactions v2 add partitions implicitly: AddPartitionsToTxn is never sent.
        v2_add = api == ApiKey.ADD_PARTITIONS_TO_TXN and cluster.transaction_version == 2
        assert fault.hits == 0 if v2_add else fault.hits >= 1
    assert committed(cluster, 0) == [b"a"]
    assert committed(cluster, 1) == [b"b"]


def test_lost_end_txn_response_is_retried_to_the_same_outcome(cluster: MockCluster) -> None:
    with transactional(cluster) as p:
        p.begin_transaction()
        p.send("t", b"once", partition=0)
        cluster.drop_connection(ApiKey.END_TXN, when="after")  # committed, answer lost
        p.commit_transaction()
        with p.transaction():
            p.send("t", b"next", partition=0)
    assert committed(cluster) == [b"once", b"next"]


def test_lost_produce_response_inside_a_transaction_does_not_duplicate(cluster: MockCluster) -> None:
    with transactional(cluster) as p, p.transaction():
        p.send("t", b"warm", partition=0).result(10)
        cluster.drop_connection(ApiKey.PRODUCE, when="after")
        p.send("t", b"once", partition=0).result(10)
    assert committed(cluster) == [b"warm", b"once"]


def test_abortable_produce_error_requires_an_abort_then_goes_on(cluster: MockCluster) -> None:
    with transactional(cluster) as p:
        p.begin_transaction()
        cluster.push_errors(ApiKey.PRODUCE, "TOPIC_AUTHORIZATION_FAILED")
        failed = p.send("t", b"refused", partition=0)
        assert failed.exception(10) is not None
        with pytest.raises(TransactionAbortRequiredError):
            p.commit_transaction()
        p.abort_transaction()
        with p.transaction():
            p.send("t", b"after", partition=0)
    assert committed(cluster) == [b"after"]


def test_a_new_instance_fences_the_old_one(cluster: MockCluster) -> None:
    old = transactional(cluster, "shared")
    try:
        old.begin_transaction()
        old.send("t", b"zombie", partition=0).result(10)
        with transactional(cluster, "shared") as new, new.transaction():
            new.send("t", b"fresh", partition=0)
        with pytest.raises(ProducerFencedError):
            old.commit_transaction()
        with pytest.raises(ProducerFencedError):
            old.begin_transaction()
    finally:
        old.close(2)
    assert committed(cluster) == [b"fresh"]


def test_fenced_on_init_is_fatal(cluster: MockCluster) -> None:
    cluster.push_errors(ApiKey.INIT_PRODUCER_ID, "PRODUCER_FENCED")
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": "t-x", **FAST})
    try:
        with pytest.raises(ProducerFencedError):
            producer.init_transactions()
        with pytest.raises(ProducerFencedError):
            producer.begin_transaction()
    finally:
        producer.close(2)
