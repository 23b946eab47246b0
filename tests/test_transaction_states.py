"""The transaction manager without a broker: the state table, misuse, and the request flow
driven by feeding it responses and reading its next request (no sender, no network)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from josef import ConsumerGroupMetadata, OffsetAndMetadata, Producer, TopicPartition
from josef._core.idempotence import IdempotenceState
from josef._core.network import NodeApis
from josef._core.protocol import ApiKey
from josef._core.request_source import Target, TargetKind
from josef._core.transactions import (
    TransactionAbortedError,
    TransactionAbortRequiredError,
    TransactionManager,
    TxnState,
    check_transition,
    normalize_group_metadata,
    normalize_offsets,
)
from josef._core.transactions.state import TRANSITIONS
from josef.errors import IllegalStateError, ProducerFencedError

S = TxnState

EXPECTED = {
    (S.UNINITIALIZED, S.INITIALIZING),
    (S.INITIALIZING, S.READY),
    (S.READY, S.IN_TRANSACTION),
    (S.IN_TRANSACTION, S.COMMITTING),
    (S.IN_TRANSACTION, S.ABORTING),
    (S.IN_TRANSACTION, S.ABORTABLE_ERROR),
    (S.COMMITTING, S.READY),
    (S.COMMITTING, S.ABORTABLE_ERROR),
    (S.ABORTING, S.READY),
    (S.ABORTING, S.INITIALIZING),
    (S.ABORTING, S.ABORTABLE_ERROR),
    (S.ABORTABLE_ERROR, S.ABORTING),
} | {(s, S.FATAL_ERROR) for s in S if s is not S.FATAL_ERROR}


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert set(TRANSITIONS) == set(S)
    for source in S:
        for target in S:
            if (source, target) in EXPECTED:
                check_transition(source, target)
            else:
                with pytest.raises(IllegalStateError) as info:
                    check_transition(source, target)
                assert source.value in str(info.value) and target.value in str(info.value)
    assert TRANSITIONS[S.FATAL_ERROR] == frozenset()


# -- driving the manager: feed responses, read the next request ----------------------------------

ALL_VERSIONS = {
    ApiKey.PRODUCE: 12, ApiKey.FIND_COORDINATOR: 6, ApiKey.INIT_PRODUCER_ID: 5, ApiKey.ADD_PARTITIONS_TO_TXN: 5,
    ApiKey.ADD_OFFSETS_TO_TXN: 4, ApiKey.END_TXN: 5, ApiKey.TXN_OFFSET_COMMIT: 5, ApiKey.METADATA: 12,
}


Sent = tuple[int, int, dict[str, Any], int, Callable[..., None]]  # node, api, body, version, callback


class Harness:
    """Drives a TransactionManager as the sender does, with no sender and no network:
    ``step()`` asks for the next request, resolves its target (any broker is node 0, a
    coordinator the node FindCoordinator named), builds it, and returns it; ``answer(...)``
    hands it its response. ``queued`` stands for the accumulator's queued records and
    ``batches_pending`` for batches not completed yet."""

    def __init__(self, tv: int = 2) -> None:
        self.idem = IdempotenceState()
        self.txn = TransactionManager("tid", 60000, self.idem, lambda: None, retry_backoff=0.0, retry_backoff_max=0.0)
        self.features = {"transaction.version": tv} if tv else {}
        self.queued: list[Any] = []
        self.batches_pending = False
        self.completed: list[tuple[Any, BaseException | None]] = []
        self.log: list[Sent] = []
        self.last: Sent | None = None

    def resolve(self, target: Target) -> int:
        if target.kind is TargetKind.ANY_BROKER:
            return 0
        coordinator = self.txn.coordinator(target)
        assert coordinator is not None, "a request went out before its coordinator was found"
        return coordinator.node

    def step(self) -> tuple[int, ApiKey, dict[str, Any]] | None:
        """Sender turns until one sends a request (a turn may only queue a FindCoordinator)."""
        for _ in range(5):
            error = self.txn.abort_error()  # the sender fails queued records of an aborted transaction
            if error is not None:
                for batch in self.queued:
                    if batch.base_sequence >= 0:
                        self.idem.failed(batch, error)
                    self.completed.append((batch, error))
                self.queued.clear()
            request = self.txn.next_request(1e9, batches_pending=self.batches_pending)
            if request is None:
                continue
            node = self.resolve(request.target)
            built = request.build(NodeApis(node, ALL_VERSIONS, self.features))
            if built is None:
                continue
            assert self.txn.next_request(1e9) is None, "one transactional request at a time"
            version, body = built
            self.last = (node, request.api, body, version, request.on_response)
            self.log.append(self.last)
            return node, ApiKey(request.api), body
        return None

    def answer(self, body: dict[str, Any] | None, error: Exception | None = None) -> None:
        assert self.last is not None
        self.last[4](body, error)

    def find(self, node: int = 1) -> None:
        sent = self.step()
        assert sent is not None and sent[1] == ApiKey.FIND_COORDINATOR
        self.answer({"coordinators": [{"key": "tid", "node_id": node, "host": "h", "port": 1, "error_code": 0,
                                       "error_message": None}]})

    def init(self, node: int = 1) -> None:
        result = self.txn.init_transactions()
        self.find(node)
        sent = self.step()
        assert sent is not None and sent[:2] == (node, ApiKey.INIT_PRODUCER_ID)
        assert sent[2]["transactional_id"] == "tid" and sent[2]["producer_id"] == -1
        self.answer({"error_code": 0, "producer_id": 7, "producer_epoch": 0})
        assert result.done() and result.error is None
        self.txn.observed(result)
        assert self.txn.state is S.READY


@dataclass(eq=False)
class Batch:
    tp: tuple[str, int]
    base_sequence: int = -1
    producer_id: int = 7
    producer_epoch: int = 0


def test_misuse_raises_and_changes_nothing() -> None:
    h = Harness()
    txn = h.txn
    for call in (txn.begin_transaction, txn.commit_transaction, txn.abort_transaction, txn.check_send):
        with pytest.raises(IllegalStateError):
            call()
        assert txn.state is S.UNINITIALIZED
    h.init()
    with pytest.raises(IllegalStateError, match="called twice"):
        txn.init_transactions()
    for call in (txn.commit_transaction, txn.abort_transaction, txn.check_send):
        with pytest.raises(IllegalStateError):
            call()
    with pytest.raises(IllegalStateError):
        txn.send_offsets({"t": [(0, 1, None, -1)]}, ConsumerGroupMetadata("g"))
    assert txn.state is S.READY
    txn.begin_transaction()
    with pytest.raises(IllegalStateError, match="already open"):
        txn.begin_transaction()
    assert txn.state is S.IN_TRANSACTION
    txn.check_send()
    assert h.log[-1][1] == ApiKey.INIT_PRODUCER_ID  # nothing more was sent


def test_timed_out_call_stays_pending_and_only_it_may_be_repeated() -> None:
    h = Harness()
    h.init()
    h.txn.begin_transaction()
    first = h.txn.commit_transaction()  # the user's wait times out: not observed
    with pytest.raises(IllegalStateError, match="commit_transaction"):
        h.txn.abort_transaction()
    assert h.txn.commit_transaction() is first  # resumes the same commit
    assert h.step() is None  # nothing touched: no EndTxn needed
    assert first.done() and first.error is None
    with pytest.raises(IllegalStateError, match="commit_transaction"):
        h.txn.begin_transaction()  # the outcome must be collected first
    h.txn.observed(first)
    h.txn.begin_transaction()


@pytest.mark.parametrize("tv", [0, 2])
def test_commit_flow_and_priorities(tv: int) -> None:
    h = Harness(tv)
    h.init()
    assert h.txn.tv2 == (tv == 2)
    assert h.txn.max_produce_version == (12 if tv == 2 else 11)
    h.txn.begin_transaction()
    batch = Batch(("t", 0))
    if tv == 2:
        assert h.txn.may_drain(batch)  # type: ignore[arg-type]
        h.txn.batches_sent([batch])  # type: ignore[list-item]
    else:
        assert not h.txn.may_drain(batch)  # type: ignore[arg-type]
        sent = h.step()
        assert sent is not None and sent[1] == ApiKey.ADD_PARTITIONS_TO_TXN
        assert sent[2]["v3_and_below_topics"] == [{"name": "t", "partitions": [0]}]
        assert not h.txn.may_drain(batch)  # type: ignore[arg-type]
        h.answer({"results_by_topic_v3_and_below": [
            {"name": "t", "results_by_partition": [{"partition_index": 0, "partition_error_code": 51}]}]})
        sent = h.step()  # CONCURRENT_TRANSACTIONS: the same partitions again
        assert sent is not None and sent[1] == ApiKey.ADD_PARTITIONS_TO_TXN
        h.answer({"results_by_topic_v3_and_below": [
            {"name": "t", "results_by_partition": [{"partition_index": 0, "partition_error_code": 0}]}]})
        assert h.txn.may_drain(batch)  # type: ignore[arg-type]
    offsets = h.txn.send_offsets({"in": [(0, 42, "m", -1)]}, ConsumerGroupMetadata("g", 3, "member", None))
    h.batches_pending = True  # a batch still in flight: EndTxn must wait for it
    if tv == 0:
        sent = h.step()
        assert sent is not None and sent[1] == ApiKey.ADD_OFFSETS_TO_TXN and sent[2]["group_id"] == "g"
        h.answer({"error_code": 0})
    sent = h.step()  # the group coordinator is looked up first
    assert sent is not None and sent[1] == ApiKey.FIND_COORDINATOR and sent[2]["key_type"] == 0
    h.answer({"coordinators": [{"key": "g", "node_id": 2, "host": "h", "port": 1, "error_code": 0,
                                "error_message": None}]})
    sent = h.step()
    assert sent is not None and sent[:2] == (2, ApiKey.TXN_OFFSET_COMMIT)
    assert sent[2]["generation_id_or_member_epoch"] == 3 and sent[2]["member_id"] == "member"
    assert h.last is not None and h.last[3] == (5 if tv == 2 else 4)
    h.answer({"topics": [{"name": "in", "partitions": [{"partition_index": 0, "error_code": 16}]}]})
    sent = h.step()  # NOT_COORDINATOR: find the group coordinator again, then retry
    assert sent is not None and sent[1] == ApiKey.FIND_COORDINATOR
    h.answer({"coordinators": [{"key": "g", "node_id": 0, "host": "h", "port": 1, "error_code": 0,
                                "error_message": None}]})
    sent = h.step()
    assert sent is not None and sent[:2] == (0, ApiKey.TXN_OFFSET_COMMIT)
    h.answer({"topics": [{"name": "in", "partitions": [{"partition_index": 0, "error_code": 0}]}]})
    assert offsets.done() and offsets.error is None
    h.txn.observed(offsets)
    commit = h.txn.commit_transaction()
    assert h.step() is None  # the batch is not complete yet
    h.batches_pending = False
    sent = h.step()
    assert sent is not None and sent[:2] == (1, ApiKey.END_TXN) and sent[2]["committed"] is True
    h.answer(None, ConnectionError("lost"))  # unknown outcome: coordinator again, EndTxn again
    assert not commit.done()
    h.find(1)
    sent = h.step()
    assert sent is not None and sent[1] == ApiKey.END_TXN
    h.answer({"error_code": 0, "producer_id": 7 if tv == 2 else -1, "producer_epoch": 1 if tv == 2 else -1})
    assert commit.done() and commit.error is None
    assert h.txn.state is S.READY
    assert h.idem.producer_epoch == (1 if tv == 2 else 0)


def test_fenced_by_coordinator_is_fatal_for_every_later_call() -> None:
    h = Harness()
    h.init()
    h.txn.begin_transaction()
    h.txn.batches_sent([Batch(("t", 0))])  # type: ignore[list-item]
    h.queued.append(Batch(("t", 1)))
    commit = h.txn.commit_transaction()
    sent = h.step()
    assert sent is not None and sent[1] == ApiKey.END_TXN
    h.answer({"error_code": 90, "producer_id": -1, "producer_epoch": -1})
    assert isinstance(commit.error, ProducerFencedError)
    assert h.txn.state is S.FATAL_ERROR
    for call in (h.txn.begin_transaction, h.txn.check_send, h.txn.abort_transaction, h.txn.init_transactions):
        with pytest.raises(ProducerFencedError):
            call()
    h.step()
    assert [type(e) for _, e in h.completed] == [ProducerFencedError]  # queued records fail


def test_abortable_batch_error_then_abort() -> None:
    from josef.errors import error_for_code

    h = Harness(0)
    h.init()
    h.txn.begin_transaction()
    h.txn.progress.touched = True  # as if AddPartitionsToTxn had succeeded
    commit = h.txn.commit_transaction()
    h.txn.batch_failed(error_for_code(45))  # OUT_OF_ORDER_SEQUENCE_NUMBER
    assert h.txn.state is S.ABORTABLE_ERROR
    assert isinstance(commit.error, TransactionAbortRequiredError)
    h.txn.observed(commit)
    for call in (h.txn.commit_transaction, h.txn.begin_transaction, h.txn.check_send):
        with pytest.raises(TransactionAbortRequiredError):
            call()
    queued = Batch(("t", 0), base_sequence=5)  # a retry that had a sequence
    h.queued.append(queued)
    h.idem.producer_id, h.idem.producer_epoch = 7, 0
    abort = h.txn.abort_transaction()
    sent = h.step()
    assert sent is not None and sent[1] == ApiKey.END_TXN and sent[2]["committed"] is False
    assert [type(e) for _, e in h.completed] == [TransactionAbortedError]
    h.answer({"error_code": 0})
    # v1 with a failed sequenced batch: bump the epoch through the coordinator before going on
    sent = h.step()
    assert sent is not None and sent[1] == ApiKey.INIT_PRODUCER_ID
    assert (sent[2]["producer_id"], sent[2]["producer_epoch"]) == (7, 0)
    assert not abort.done()
    h.answer({"error_code": 0, "producer_id": 7, "producer_epoch": 1})
    assert abort.done() and abort.error is None and h.txn.state is S.READY


def test_abort_with_nothing_sent_needs_no_request() -> None:
    h = Harness()
    h.init()
    h.txn.begin_transaction()
    abort = h.txn.abort_transaction()
    assert h.step() is None
    assert abort.done() and abort.error is None and h.txn.state is S.READY


# -- inputs ---------------------------------------------------------------------------------------


def test_offsets_forms() -> None:
    expected = {"a": [(0, 5, None, -1)], "b": [(1, 7, "meta", 3)]}
    assert normalize_offsets({TopicPartition("a", 0): OffsetAndMetadata(5),
                              TopicPartition("b", 1): OffsetAndMetadata(7, "meta", 3)}) == expected
    assert normalize_offsets({("a", 0): 5, ("b", 1): OffsetAndMetadata(7, "meta", 3)}) == expected

    class CTp:  # like confluent_kafka.TopicPartition
        def __init__(self, topic: str, partition: int, offset: int, metadata: str | None = None,
                     leader_epoch: int | None = None) -> None:
            self.topic, self.partition, self.offset = topic, partition, offset
            self.metadata, self.leader_epoch = metadata, leader_epoch

    assert normalize_offsets([CTp("a", 0, 5), CTp("b", 1, 7, "meta", 3)]) == expected
    for bad in ({("a", -1): 1}, {("a", 0): -1001}, {("", 0): 1}, [CTp("a", 0, -1)]):
        with pytest.raises(ValueError):
            normalize_offsets(bad)
    with pytest.raises(TypeError):
        normalize_offsets(42)


def test_group_metadata_forms() -> None:
    assert normalize_group_metadata("g") == ConsumerGroupMetadata("g", -1, "", None)
    full = ConsumerGroupMetadata("g", 3, "m-1", "i-1")
    assert normalize_group_metadata(full) is full

    class Meta:
        group_id, generation_id, member_id, group_instance_id = "g", 3, "m-1", "i-1"

    assert normalize_group_metadata(Meta()) == full
    # confluent-kafka's consumer_group_metadata(): librdkafka's serialized form
    gen = struct.pack("=i", 3)
    assert normalize_group_metadata(b"CGMDv2:" + gen + b"g\x00m-1\x00\x00i-1\x00") == full
    assert normalize_group_metadata(b"CGMDv2:" + gen + b"g\x00m-1\x00\x01") == ConsumerGroupMetadata("g", 3, "m-1")
    for bad in ("", b"junk", b"CGMDv2:\x00"):
        with pytest.raises(ValueError):
            normalize_group_metadata(bad)
    with pytest.raises(TypeError):
        normalize_group_metadata(3)


# -- the Producer's methods without a broker ------------------------------------------------------


def test_producer_misuse_without_broker() -> None:
    plain = Producer({"bootstrap.servers": "127.0.0.1:1"})
    try:
        for call in (plain.init_transactions, plain.begin_transaction, plain.commit_transaction,
                     plain.abort_transaction):
            with pytest.raises(IllegalStateError, match="without transactional.id"):
                call()
    finally:
        plain.close(0)
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "transactional.id": "t", "max.block.ms": 300})
    try:
        with pytest.raises(IllegalStateError, match="before init_transactions"):
            producer.begin_transaction()
        with pytest.raises(IllegalStateError, match="outside a transaction"):
            producer.send("topic", b"v")
        with pytest.raises(IllegalStateError):
            producer.commit_transaction()
        with pytest.raises(ValueError):
            producer.send_offsets_to_transaction({("t", 0): -5}, "g")
        from josef.errors import KafkaTimeoutError

        with pytest.raises(KafkaTimeoutError, match="call init_transactions"):
            producer.init_transactions(0.2)  # nothing to talk to: stays pending
        with pytest.raises(IllegalStateError, match="init_transactions"):
            producer.begin_transaction()
    finally:
        producer.close(0)
