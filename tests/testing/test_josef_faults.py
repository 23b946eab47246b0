"""josef's produce path against injected faults on the mock cluster (issue 7).

Each test scripts a fault, sends with josef, and checks what the application saw (futures) against what
the cluster holds: every acknowledged record present exactly once, in send order per partition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from josef import Producer
from josef._core.protocol import ApiKey
from josef.errors import (
    InvalidRecordError,
    KafkaError,
    OutOfOrderSequenceNumberError,
    TopicAuthorizationFailedError,
)
from josef.testing import MockCluster

pytestmark = pytest.mark.timeout(60)

FAST = {
    "retry.backoff.ms": 10,
    "retry.backoff.max.ms": 50,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 50,
    "linger.ms": 1,
    "request.timeout.ms": 3000,
    "delivery.timeout.ms": 15000,
    "max.block.ms": 5000,
}


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 3}, min_insync_replicas=2) as c:
        yield c
        assert c.internal_errors == []


def producer(cluster: MockCluster, **overrides: Any) -> Producer:
    config = {"bootstrap.servers": cluster.bootstrap_servers, **FAST}
    config.update({k.replace("_", "."): v for k, v in overrides.items()})
    return Producer(config)


def values(cluster: MockCluster, partition: int = 0) -> list[bytes]:
    return [r.value or b"" for r in cluster.records("t", partition)]


def send_all(p: Producer, items: list[bytes], partition: int = 0) -> list[Any]:
    futures = [p.send("t", v, partition=partition) for v in items]
    p.flush(20)
    return [f.result(0) for f in futures]


def test_josef_produces_and_confluent_kafka_reads_back(cluster: MockCluster) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    sent = [b"j%d" % i for i in range(500)]
    with producer(cluster, acks="all") as p:
        for i, v in enumerate(sent):
            p.send("t", v, key=b"%d" % (i % 11))
        assert p.flush(20) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "r",
                                         "enable.auto.commit": False, "fetch.wait.max.ms": 50})
    consumer.assign([confluent_kafka.TopicPartition("t", p, confluent_kafka.OFFSET_BEGINNING) for p in range(3)])
    got: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(got) < len(sent) and time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert sorted(got) == sorted(sent)


def test_not_leader_then_success(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        send_all(p, [b"warm"])
        cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER")
        metadata = send_all(p, [b"a", b"b", b"c"])
    assert [m.offset for m in metadata] == [1, 2, 3]
    assert values(cluster) == [b"warm", b"a", b"b", b"c"]
    assert len(cluster.requests(ApiKey.PRODUCE)) >= 3


RETRIABLE = ["NOT_LEADER_OR_FOLLOWER", "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS",
             "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "REQUEST_TIMED_OUT", "KAFKA_STORAGE_ERROR",
             "UNKNOWN_TOPIC_OR_PARTITION", "NETWORK_EXCEPTION", "CORRUPT_MESSAGE"]


@pytest.mark.parametrize("idempotence", [True, False], ids=["idempotent", "plain"])
@pytest.mark.parametrize("error", RETRIABLE)
def test_retriable_errors_are_retried(cluster: MockCluster, error: str, idempotence: bool) -> None:
    with producer(cluster, enable_idempotence=idempotence) as p:
        send_all(p, [b"warm"])
        cluster.push_errors(ApiKey.PRODUCE, error, error)
        send_all(p, [b"x", b"y"])
    assert values(cluster) == [b"warm", b"x", b"y"]


@pytest.mark.parametrize(
    ("error", "exception"),
    [("INVALID_RECORD", InvalidRecordError), ("TOPIC_AUTHORIZATION_FAILED", TopicAuthorizationFailedError)],
)
def test_non_retriable_errors_fail_the_batch_once(cluster: MockCluster, error: str, exception: type) -> None:
    with producer(cluster) as p:
        send_all(p, [b"warm"])
        cluster.clear_requests()
        cluster.push_errors(ApiKey.PRODUCE, error)
        future = p.send("t", b"doomed", partition=0)
        p.flush(10)
        with pytest.raises(exception):
            future.result(0)
        assert len(cluster.requests(ApiKey.PRODUCE)) == 1
        send_all(p, [b"after"])  # the producer carries on
    assert values(cluster) == [b"warm", b"after"]


def test_response_lost_after_append_is_not_duplicated(cluster: MockCluster) -> None:
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.drop_connection(ApiKey.PRODUCE, when="after", times=3)
        metadata = send_all(p, [b"m%d" % i for i in range(20)])
    assert values(cluster) == [b"warm", *(b"m%d" % i for i in range(20))]
    assert [m.offset for m in metadata] == list(range(1, 21))


def test_response_lost_without_idempotence_may_duplicate(cluster: MockCluster) -> None:
    """The control experiment: the same fault without idempotence writes the record twice."""
    with producer(cluster, enable_idempotence=False, acks="all") as p:
        send_all(p, [b"warm"])
        cluster.drop_connection(ApiKey.PRODUCE, when="after")
        send_all(p, [b"once"])
    assert values(cluster) == [b"warm", b"once", b"once"]


def test_lost_response_then_retry_after_window_overflow_has_no_gap(cluster: MockCluster) -> None:
    """Five batches in flight, every response lost once: retries fall inside the duplicate window."""
    with producer(cluster, enable_idempotence=True, linger_ms=0, batch_size=100) as p:
        send_all(p, [b"warm"])
        cluster.drop_connection(ApiKey.PRODUCE, when="after", times=5)
        items = [b"%03d" % i + b"x" * 80 for i in range(30)]
        send_all(p, items)
    assert values(cluster) == [b"warm", *items]


def test_leader_moves_mid_flight(cluster: MockCluster) -> None:
    old = cluster.leader("t", 0)
    new = next(b for b in cluster.brokers if b != old)
    moved: list[bool] = []

    def move_then_handle(request: Any) -> None:
        if not moved:  # the request is on the wire to the old leader when leadership moves
            moved.append(True)
            cluster.move_leader("t", 0, to=new)
        return None

    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.control(ApiKey.PRODUCE, move_then_handle, broker=old)
        metadata = send_all(p, [b"a", b"b", b"c"])
    assert moved and cluster.leader("t", 0) == new
    assert values(cluster) == [b"warm", b"a", b"b", b"c"]
    assert [m.offset for m in metadata] == [1, 2, 3]
    assert cluster.requests(ApiKey.PRODUCE, broker=new)


def test_leader_moves_while_responses_are_delayed(cluster: MockCluster) -> None:
    """Appended on the old leader, answered late; later batches must go to the new leader in order."""
    old = cluster.leader("t", 0)
    new = next(b for b in cluster.brokers if b != old)
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.delay(ApiKey.PRODUCE, 0.3, broker=old)
        first = p.send("t", b"in-flight", partition=0)
        time.sleep(0.1)
        cluster.move_leader("t", 0, to=new)
        rest = send_all(p, [b"after-%d" % i for i in range(5)])
        assert first.result(5).offset == 1
    assert values(cluster) == [b"warm", b"in-flight", *(b"after-%d" % i for i in range(5))]
    assert [m.offset for m in rest] == [2, 3, 4, 5, 6]


def test_leader_broker_down_acks_all_loses_nothing(cluster: MockCluster) -> None:
    with producer(cluster, enable_idempotence=True, acks="all") as p:
        futures = [p.send("t", b"r%d" % i, partition=i % 3) for i in range(300)]
        time.sleep(0.05)
        cluster.broker_down(cluster.leader("t", 0))
        futures += [p.send("t", b"r%d" % i, partition=i % 3) for i in range(300, 600)]
        assert p.flush(20) == 0
    acked = {i for i, f in enumerate(futures) if f.exception(0) is None}
    assert acked == set(range(600))
    stored = [v for part in range(3) for v in values(cluster, part)]
    assert sorted(stored) == sorted(b"r%d" % i for i in range(600))  # nothing lost, nothing doubled
    for part in range(3):
        numbers = [int(v[1:]) for v in values(cluster, part)]
        assert numbers == sorted(numbers)


def test_out_of_order_sequence_on_a_first_attempt_restarts_the_sequence(cluster: MockCluster) -> None:
    """The batch was certainly not written: josef may resend it under a bumped epoch (or fail it, as the
    Java client does); either way it is stored at most once and later sends go through."""
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.push_errors(ApiKey.PRODUCE, "OUT_OF_ORDER_SEQUENCE_NUMBER")
        doomed = p.send("t", b"doomed", partition=0)
        p.flush(10)
        error = doomed.exception(0)
        assert error is None or isinstance(error, OutOfOrderSequenceNumberError)
        send_all(p, [b"after"])
    batches = cluster.batches("t", 0)
    assert [r.value for b in batches for r in b.records] == [b"warm", *([b"doomed"] if error is None else []), b"after"]
    assert batches[-1].producer_epoch == batches[0].producer_epoch + 1  # KIP-360 bump, sequences from 0
    assert batches[1].base_sequence == 0


def _answer_once(code: int) -> Any:
    """A ``respond`` function: the second Produce it sees gets ``code`` for t-0, the others pass."""
    calls: list[int] = []

    def respond(request: Any) -> dict[str, Any] | None:
        calls.append(1)
        if len(calls) != 2:
            return None
        return {"throttle_time_ms": 0, "responses": [{"name": "t", "partition_responses": [
            {"index": 0, "error_code": code, "base_offset": -1}]}]}

    return respond


def test_out_of_order_after_a_lost_response_does_not_duplicate(cluster: MockCluster) -> None:
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.drop_connection(ApiKey.PRODUCE, when="after")  # appended, response lost
        cluster.control(ApiKey.PRODUCE, _answer_once(45), times=1)  # the retry is refused as out of order
        future = p.send("t", b"maybe-persisted", partition=0)
        p.flush(10)
        future.exception(0)
    assert values(cluster).count(b"maybe-persisted") == 1


def test_topic_wanted_while_metadata_in_flight_is_fetched(cluster: MockCluster) -> None:
    cluster.delay(ApiKey.METADATA, 0.5)  # the producer's first (topic-less) Metadata request is slow
    p = Producer({"bootstrap.servers": cluster.bootstrap_servers, **FAST, "metadata.max.age.ms": 300000,
                  "max.block.ms": 3000})
    try:
        time.sleep(0.1)
        p.send("t", b"x", partition=0).result(5)
    finally:
        p.close(2)


def test_duplicate_sequence_number_counts_as_success(cluster: MockCluster) -> None:
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"warm"])
        cluster.push_errors(ApiKey.PRODUCE, "DUPLICATE_SEQUENCE_NUMBER")
        future = p.send("t", b"maybe", partition=0)
        p.flush(10)
        assert future.exception(0) is None


@pytest.mark.parametrize("error", ["COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR"])
def test_init_producer_id_retriable_errors(cluster: MockCluster, error: str) -> None:
    cluster.push_errors(ApiKey.INIT_PRODUCER_ID, error, error)
    with producer(cluster, enable_idempotence=True) as p:
        send_all(p, [b"a"])
    assert values(cluster) == [b"a"]
    assert len(cluster.requests(ApiKey.INIT_PRODUCER_ID)) == 3


def test_not_enough_replicas_until_isr_recovers(cluster: MockCluster) -> None:
    leader = cluster.leader("t", 0)
    with producer(cluster, acks="all") as p:
        send_all(p, [b"warm"])
        cluster.set_isr("t", 0, [leader])
        future = p.send("t", b"waits", partition=0)
        time.sleep(0.3)
        assert not future.done()
        cluster.set_isr("t", 0, cluster.partition("t", 0).replicas)
        assert future.result(10).offset == 1


def test_throttled_responses_still_deliver(cluster: MockCluster) -> None:
    with producer(cluster) as p:
        send_all(p, [b"warm"])
        cluster.throttle(ApiKey.PRODUCE, 200, times=2)
        send_all(p, [b"a", b"b"])
    assert values(cluster) == [b"warm", b"a", b"b"]


def test_producer_is_usable_again_after_a_fatal_init_producer_id_error(cluster: MockCluster) -> None:
    """Like the Java client: the records waiting for a producer id fail, later sends ask again."""
    refusal = cluster.inject(ApiKey.INIT_PRODUCER_ID, error="CLUSTER_AUTHORIZATION_FAILED", times=None)
    with producer(cluster, enable_idempotence=True) as p:
        failed = p.send("t", b"a", partition=0)
        p.flush(10)
        with pytest.raises(KafkaError, match="CLUSTER_AUTHORIZATION_FAILED|uthoriz"):
            failed.result(0)
        cluster.clear_faults()
        assert refusal.hits >= 1
        assert p.send("t", b"b", partition=0).result(10).offset == 0
    assert values(cluster) == [b"b"]
