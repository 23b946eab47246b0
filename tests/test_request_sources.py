"""The producer-id and metadata request sources without a network: read the request, feed the answer."""

from __future__ import annotations

import time

from josef._core.idempotence import IdempotenceState
from josef._core.metadata import ClusterMetadata, MetadataRequests
from josef._core.network import Backoff, NodeApis
from josef._core.producer_id import InitProducerId, ProducerIdSource
from josef._core.protocol import ApiKey
from josef._core.request_source import ANY_BROKER
from josef.errors import ClusterAuthorizationFailedError, ErrorCode, KafkaConnectionError, KafkaError

APIS = NodeApis(3, {ApiKey.INIT_PRODUCER_ID: 4, ApiKey.PRODUCE: 11}, {})


def test_idempotent_producer_id_goes_to_any_broker_once_and_is_applied() -> None:
    state = IdempotenceState()
    source = ProducerIdSource(state, Backoff(0, 0), lambda error: None)
    request = source.next_request(0.0)
    assert request is not None and request.target == ANY_BROKER and request.api == ApiKey.INIT_PRODUCER_ID
    version, body = request.build(APIS)
    assert version == 4
    assert body == {"transactional_id": None, "transaction_timeout_ms": 2**31 - 1, "producer_id": -1,
                    "producer_epoch": -1}
    assert source.next_request(0.0) is None  # one at a time
    request.on_response({"error_code": ErrorCode.NONE, "producer_id": 42, "producer_epoch": 3}, None)
    assert (state.producer_id, state.producer_epoch) == (42, 3)
    assert source.next_request(0.0) is None and source.poll_delay(0.0) == 3600.0


def test_errors_retry_after_a_backoff_and_fatal_ones_are_reported() -> None:
    state = IdempotenceState()
    fatal: list[KafkaError] = []
    source = ProducerIdSource(state, Backoff(1000, 1000), fatal.append)
    request = source.next_request(0.0)
    assert request is not None
    request.build(APIS)
    request.on_response(None, KafkaConnectionError("lost"))  # retriable: no report
    assert fatal == [] and state.producer_id == -1
    now = time.monotonic()
    assert source.next_request(now) is None and 0.7 < source.poll_delay(now) <= 1.2  # backing off
    request = source.next_request(now + 2)
    assert request is not None
    request.build(APIS)
    request.on_response({"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "producer_id": -1,
                         "producer_epoch": -1}, None)
    assert len(fatal) == 1 and isinstance(fatal[0], ClusterAuthorizationFailedError)


def test_epoch_bump_request_carries_the_current_id_and_epoch() -> None:
    state = IdempotenceState()
    state.set_producer_id(7, 2)
    request = InitProducerId(state, "tid", 60000, bump=True)
    assert request.build(APIS)[1] == {"transactional_id": "tid", "transaction_timeout_ms": 60000,
                                      "producer_id": 7, "producer_epoch": 2}
    assert request.apply({"error_code": ErrorCode.NONE, "producer_id": 7, "producer_epoch": 3}) == ErrorCode.NONE
    assert state.producer_epoch == 3


def test_metadata_requests_ask_when_due_and_apply_the_answer() -> None:
    metadata = ClusterMetadata([("127.0.0.1", 9092)], max_age=300.0)
    metadata.wanted["t"] = 0.0
    updates: list[int] = []
    source = MetadataRequests(metadata, Backoff(1000, 1000), lambda: updates.append(metadata.version))
    request = source.next_request(time.monotonic())
    assert request is not None and request.target == ANY_BROKER
    version, body = request.build(NodeApis(0, {ApiKey.METADATA: 12}, {}))
    assert version == 12 and body["topics"] == [{"name": "t"}]
    assert source.next_request(time.monotonic()) is None  # one at a time
    request.on_response({
        "brokers": [{"node_id": 1, "host": "h", "port": 1, "rack": None}],
        "topics": [{"name": "t", "error_code": 0, "topic_id": None, "partitions": [
            {"partition_index": 0, "leader_id": 1, "leader_epoch": 0, "error_code": 0}]}],
        "cluster_id": "c",
    }, None)
    assert updates == [1] and metadata.leader_of(("t", 0)) == 1
    now = time.monotonic()
    assert source.next_request(now) is None and 299 < source.poll_delay(now) <= 300  # due at metadata.max.age.ms
    metadata.request_update()
    failed = source.next_request(now)
    assert failed is not None
    failed.build(NodeApis(0, {ApiKey.METADATA: 12}, {}))
    failed.on_response(None, KafkaConnectionError("lost"))
    assert source.next_request(time.monotonic()) is None and source.poll_delay(time.monotonic()) > 0.5  # backoff
