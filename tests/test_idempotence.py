"""The idempotent producer's error paths, scripted on the mock cluster (#4).

Each test injects broker answers and checks the sequences and epochs josef sent (from the
batches the mock stored) and what the application saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from josef import Producer
from josef._core.batch import ProducerBatch
from josef._core.idempotence import INT32_MAX, IdempotenceState, add_sequence
from josef._core.protocol import ApiKey
from josef.errors import DeliveryTimeoutError
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
    "max.block.ms": 5000,
}


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}, min_insync_replicas=2) as c:
        yield c
        assert c.internal_errors == []


def producer(cluster: MockCluster, **overrides: Any) -> Producer:
    return Producer({"bootstrap.servers": cluster.bootstrap_servers, **FAST, **overrides})


def stamps(cluster: MockCluster, partition: int = 0) -> list[tuple[int, int, int, int]]:
    """(producer id, epoch, base sequence, record count) of every stored batch."""
    return [
        (b.producer_id, b.producer_epoch, b.base_sequence, len(b.records))
        for b in cluster.batches("t", partition)
    ]


def values(cluster: MockCluster, partition: int = 0) -> list[bytes]:
    return [r.value or b"" for r in cluster.records("t", partition)]


def test_sequences_are_consecutive_per_partition_and_start_at_zero(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        for round_ in range(3):
            futures = [p.send("t", f"{round_}-{i}".encode(), partition=i % 2) for i in range(10)]
            p.flush(10)
            assert all(f.exception(0) is None for f in futures)
    for partition in (0, 1):
        batches = stamps(cluster, partition)
        assert len({(pid, epoch) for pid, epoch, _, _ in batches}) == 1
        expected = 0
        for _, _, base, count in batches:
            assert base == expected
            expected += count
        assert expected == 15


def test_unknown_producer_id_bumps_the_epoch_and_restarts_sequences(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        p.send("t", b"a", partition=0).result(10)
        cluster.push_errors(ApiKey.PRODUCE, "UNKNOWN_PRODUCER_ID")
        b = p.send("t", b"b", partition=0)
        assert b.exception(10) is None
        p.send("t", b"c", partition=0).result(10)
    assert values(cluster) == [b"a", b"b", b"c"]
    (pid0, epoch0, seq0, _), (pid1, epoch1, seq1, _), (pid2, epoch2, seq2, _) = stamps(cluster)
    assert pid0 == pid1 == pid2
    assert (epoch0, seq0) == (0, 0)
    assert (epoch1, seq1) == (epoch0 + 1, 0)  # bumped locally (KIP-360), sequences from 0
    assert (epoch2, seq2) == (epoch1, 1)


def test_invalid_producer_epoch_gets_a_new_producer_id(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        p.send("t", b"a", partition=0).result(10)
        cluster.push_errors(ApiKey.PRODUCE, "INVALID_PRODUCER_EPOCH")
        assert p.send("t", b"b", partition=0).exception(10) is None
    assert values(cluster) == [b"a", b"b"]
    (pid0, _, _, _), (pid1, _, seq1, _) = stamps(cluster)
    assert pid1 != pid0 and seq1 == 0
    assert len(cluster.requests(ApiKey.INIT_PRODUCER_ID)) == 2


def test_out_of_order_behind_a_failed_batch_is_resent_in_order_without_a_bump(cluster: MockCluster) -> None:
    with producer(cluster, **{"linger.ms": 20}) as p:
        p.send("t", b"warm", partition=0).result(10)  # first success: pipelining allowed from now on
        # The next request fails; the ones pipelined behind it are then out of order for the broker.
        cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER")
        futures = [p.send("t", f"{i}".encode() * 300, partition=0) for i in range(200)]
        p.flush(20)
        assert all(f.exception(0) is None for f in futures)
    assert values(cluster) == [b"warm"] + [f"{i}".encode() * 300 for i in range(200)]
    assert {epoch for _, epoch, _, _ in stamps(cluster)} == {0}


def test_duplicate_of_a_lost_response_is_acknowledged_with_the_original_offset(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        p.send("t", b"warm", partition=0).result(10)
        cluster.drop_connection(ApiKey.PRODUCE, when="after")  # appended, response lost
        meta = p.send("t", b"once", partition=0).result(10)
    assert values(cluster) == [b"warm", b"once"]
    assert meta.offset == 1


def test_one_request_in_flight_per_partition_until_the_first_success(cluster: MockCluster) -> None:
    in_flight_seen: list[int] = []
    with producer(cluster, **{"linger.ms": 0, "batch.size": 200}) as p:
        p._sender.on_request = lambda node, batches: in_flight_seen.append(
            max(len(v) for v in p._sender.in_flight.values())
        )
        cluster.delay(ApiKey.PRODUCE, 0.3)  # the first answer takes a while
        futures = [p.send("t", bytes(150), partition=0) for _ in range(20)]
        p.flush(20)
        assert all(f.exception(0) is None for f in futures)
    # in_flight_seen[i] counts batches in flight just after request i was built.
    assert in_flight_seen[:2] == [1, 1]  # the second waited for the first answer
    assert max(in_flight_seen) <= 5  # pipelining after that, never past five


def test_expired_batch_that_was_never_sent_fails_and_later_records_still_go(cluster: MockCluster) -> None:
    with producer(cluster, **{"delivery.timeout.ms": 3500, "request.timeout.ms": 3000}) as p:
        p.send("t", b"warm", partition=0).result(10)
        cluster.push_errors(ApiKey.PRODUCE, *["NOT_ENOUGH_REPLICAS"] * 1000)  # refused, not written
        doomed = p.send("t", b"doomed", partition=0)
        assert isinstance(doomed.exception(10), DeliveryTimeoutError)
        cluster.clear_faults()
        assert p.send("t", b"after", partition=0).exception(10) is None
    assert values(cluster) == [b"warm", b"after"]


def test_sequence_numbers_wrap_at_int32_max() -> None:
    assert add_sequence(INT32_MAX, 1) == 0
    assert add_sequence(INT32_MAX - 2, 5) == 2
    assert add_sequence(5, 3) == 8
    state = IdempotenceState()
    state.set_producer_id(7, 0)
    state._entry(("t", 0)).next_sequence = INT32_MAX - 1
    batch = ProducerBatch(("t", 0), 0.0)
    batch.count = 4
    state.assign(batch)
    assert batch.base_sequence == INT32_MAX - 1
    assert state._entry(("t", 0)).next_sequence == 2
    state.acknowledged(batch)
    follower = ProducerBatch(("t", 0), 0.0)
    follower.count = 1
    state.assign(follower)
    assert follower.base_sequence == 2
    assert state._entry(("t", 0)).last_acked == 1
    assert not state.is_consequence(follower)  # next in line across the wrap
