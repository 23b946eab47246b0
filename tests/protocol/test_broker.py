"""The codec against a real Kafka broker: every API josef implements, at every version both sides support.

The point is the wire format, not broker semantics: each request must be accepted and each response must
decode completely (no bytes left over) at every version.  Uses the session ``kafka`` fixture.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from josef._core.protocol import (
    CLIENT_VERSIONS,
    ApiKey,
    FrameReader,
    decode_response,
    encode_request,
    negotiate_version,
)
from josef._core.records import encode_batch
from josef.errors import ErrorCode, UnknownBrokerError, error_for_code
from tests.harness.kafka import KafkaEndpoint

pytestmark = pytest.mark.timeout(300)


class Connection:
    """A blocking socket speaking frames; just enough to drive the codec."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.reader = FrameReader()
        self.correlation_id = 0

    def exchange(self, frame: bytes) -> bytes:
        self.sock.sendall(frame)
        while (response := self.reader.next_frame()) is None:
            data = self.sock.recv(65536)
            assert data, "broker closed the connection"
            self.reader.feed(data)
        return response

    def call(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.correlation_id += 1
        frame = encode_request(api_key, version, self.correlation_id, "josef-protocol-test", body)
        correlation_id, decoded = decode_response(api_key, version, self.exchange(frame))
        assert correlation_id == self.correlation_id
        return decoded

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def conn(kafka: KafkaEndpoint) -> Iterator[Connection]:
    connection = Connection(kafka.bootstrap_servers)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def broker_versions(conn: Connection) -> dict[int, tuple[int, int]]:
    body = conn.call(
        ApiKey.API_VERSIONS, 3, {"client_software_name": "josef", "client_software_version": "0"}
    )
    assert body["error_code"] == 0
    return {e["api_key"]: (e["min_version"], e["max_version"]) for e in body["api_keys"]}


def _versions(broker_versions: dict[int, tuple[int, int]], api_key: ApiKey) -> range:
    lo, hi = CLIENT_VERSIONS[api_key]
    broker_lo, broker_hi = broker_versions[api_key]
    assert negotiate_version(api_key, broker_lo, broker_hi) == min(hi, broker_hi)
    return range(max(lo, broker_lo), min(hi, broker_hi) + 1)


def _known(code: int) -> None:
    if code:
        assert not isinstance(error_for_code(code), UnknownBrokerError), code


@pytest.fixture(scope="module")
def topic(kafka: KafkaEndpoint) -> str:
    name = f"proto-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(name, 2)
    return name


@pytest.fixture(scope="module")
def topic_id(conn: Connection, topic: str) -> uuid.UUID:
    body = conn.call(ApiKey.METADATA, 12, {"topics": [{"name": topic}]})
    value: uuid.UUID = body["topics"][0]["topic_id"]
    assert value.int != 0
    return value


def test_api_versions_every_version(conn: Connection, broker_versions: dict[int, tuple[int, int]]) -> None:
    for version in _versions(broker_versions, ApiKey.API_VERSIONS):
        body = conn.call(
            ApiKey.API_VERSIONS, version, {"client_software_name": "josef", "client_software_version": "0"}
        )
        assert body["error_code"] == 0 and len(body["api_keys"]) > 10
        if version >= 3:
            assert any(f["name"] == "metadata.version" for f in body["finalized_features"])
    for key in CLIENT_VERSIONS:
        assert key in broker_versions


def test_api_versions_too_new_gets_v0_fallback(conn: Connection) -> None:
    conn.correlation_id += 1
    header = (18).to_bytes(2, "big") + (999).to_bytes(2, "big") + conn.correlation_id.to_bytes(4, "big")
    payload = header + b"\x00\x05josef" + b"\x00" + b"\x06josef\x020\x00"  # client_id, tags, body
    frame = len(payload).to_bytes(4, "big") + payload
    correlation_id, body = decode_response(ApiKey.API_VERSIONS, 4, conn.exchange(frame))
    assert correlation_id == conn.correlation_id
    assert body["error_code"] == 35
    assert [e["api_key"] for e in body["api_keys"]] == [18]


def test_metadata_every_version(
    conn: Connection, broker_versions: dict[int, tuple[int, int]], topic: str, topic_id: uuid.UUID
) -> None:
    for version in _versions(broker_versions, ApiKey.METADATA):
        request: dict[str, Any] = {"topics": [{"name": topic}]}
        if version >= 12:
            request = {"topics": [{"topic_id": topic_id, "name": None}]}
        body = conn.call(ApiKey.METADATA, version, request)
        assert len(body["brokers"]) == 1
        (found,) = body["topics"]
        assert found["error_code"] == 0 and found["name"] == topic
        assert sorted(p["partition_index"] for p in found["partitions"]) == [0, 1]
        if version >= 10:
            assert found["topic_id"] == topic_id
        if version >= 13:
            assert body["error_code"] == 0


def test_create_topics_every_version(conn: Connection, broker_versions: dict[int, tuple[int, int]]) -> None:
    for version in _versions(broker_versions, ApiKey.CREATE_TOPICS):
        name = f"proto-ct-{version}-{uuid.uuid4().hex[:6]}"
        configs = [{"name": "retention.ms", "value": "60000"}]
        topics = [{"name": name, "num_partitions": 1, "replication_factor": -1, "configs": configs}]
        body = conn.call(ApiKey.CREATE_TOPICS, version, {"topics": topics, "timeout_ms": 30000})
        (result,) = body["topics"]
        assert (result["name"], result["error_code"]) == (name, 0)
        if version >= 5:
            assert result["num_partitions"] == 1 and result["configs"]
        if version >= 7:
            assert result["topic_id"].int != 0


def test_admin_apis_every_version(conn: Connection, broker_versions: dict[int, tuple[int, int]]) -> None:
    """CreatePartitions, IncrementalAlterConfigs, DescribeConfigs and DeleteTopics, each at every version."""
    for version in _versions(broker_versions, ApiKey.CREATE_PARTITIONS):
        name = f"proto-cp-{version}-{uuid.uuid4().hex[:6]}"
        conn.call(ApiKey.CREATE_TOPICS, 7, {"topics": [{"name": name, "num_partitions": 1, "replication_factor": -1}]})
        body = conn.call(ApiKey.CREATE_PARTITIONS, version, {
            "topics": [{"name": name, "count": 3, "assignments": None}], "timeout_ms": 30000, "validate_only": False,
        })
        assert [(r["name"], r["error_code"]) for r in body["results"]] == [(name, 0)]
        for alter_version in _versions(broker_versions, ApiKey.INCREMENTAL_ALTER_CONFIGS):
            value = str(60000 + alter_version)
            resource = {"resource_type": 2, "resource_name": name,
                        "configs": [{"name": "retention.ms", "config_operation": 0, "value": value}]}
            body = conn.call(ApiKey.INCREMENTAL_ALTER_CONFIGS, alter_version, {"resources": [resource]})
            assert [(r["resource_name"], r["error_code"]) for r in body["responses"]] == [(name, 0)]
            request = {"resources": [{"resource_type": 2, "resource_name": name,
                                      "configuration_keys": ["retention.ms"]}],
                       "include_synonyms": True, "include_documentation": True}
            deadline = time.monotonic() + 30  # the change reaches the broker through the metadata log
            while conn.call(ApiKey.DESCRIBE_CONFIGS, 4, request)["results"][0]["configs"][0]["value"] != value:
                assert time.monotonic() < deadline, f"retention.ms={value} never showed"
                time.sleep(0.05)
            for describe_version in _versions(broker_versions, ApiKey.DESCRIBE_CONFIGS):
                body = conn.call(ApiKey.DESCRIBE_CONFIGS, describe_version, request)
                (result,) = body["results"]
                assert result["error_code"] == 0
                assert [(c["name"], c["value"], c["config_source"]) for c in result["configs"]] == [
                    ("retention.ms", value, 1)  # 1: a dynamic topic config
                ]
        for delete_version in _versions(broker_versions, ApiKey.DELETE_TOPICS):
            missing = f"proto-missing-{uuid.uuid4().hex[:6]}"
            request = {"topics": [{"name": missing}]} if delete_version >= 6 else {"topic_names": [missing]}
            body = conn.call(ApiKey.DELETE_TOPICS, delete_version, {**request, "timeout_ms": 30000})
            unknown = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert [(r["name"], r["error_code"]) for r in body["responses"]] == [(missing, unknown)]
        body = conn.call(ApiKey.DELETE_TOPICS, 6, {"topics": [{"name": name}], "timeout_ms": 30000})
        assert [(r["name"], r["error_code"]) for r in body["responses"]] == [(name, 0)]


def test_produce_list_offsets_fetch_every_version(
    conn: Connection, broker_versions: dict[int, tuple[int, int]], topic: str, topic_id: uuid.UUID
) -> None:
    produced = 0
    for version in _versions(broker_versions, ApiKey.PRODUCE):
        now = int(time.time() * 1000)
        batch, _ = encode_batch(
            [(now, b"k", f"v{version}".encode(), None)], base_timestamp=now, max_timestamp=now
        )
        ident: dict[str, Any] = {"topic_id": topic_id} if version >= 13 else {"name": topic}
        partition_data = [{"index": 0, "records": bytes(batch)}]
        request = {
            "acks": -1,
            "timeout_ms": 30000,
            "topic_data": [{**ident, "partition_data": partition_data}],
        }
        body = conn.call(ApiKey.PRODUCE, version, request)
        (partition,) = body["responses"][0]["partition_responses"]
        assert partition["error_code"] == 0, partition
        assert partition["base_offset"] == produced
        produced += 1

    for version in _versions(broker_versions, ApiKey.LIST_OFFSETS):
        request = {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "timestamp": -1}]}]}
        body = conn.call(ApiKey.LIST_OFFSETS, version, request)
        (partition,) = body["topics"][0]["partitions"]
        assert (partition["error_code"], partition["offset"]) == (0, produced)

    for version in _versions(broker_versions, ApiKey.FETCH):
        ident = {"topic_id": topic_id} if version >= 13 else {"topic": topic}
        partitions = [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]
        request = {"max_wait_ms": 100, "min_bytes": 1, "topics": [{**ident, "partitions": partitions}]}
        body = conn.call(ApiKey.FETCH, version, request)
        (partition,) = body["responses"][0]["partitions"]
        assert partition["error_code"] == 0 and partition["high_watermark"] == produced
        assert partition["records"]


def test_find_coordinator_and_init_producer_id_every_version(
    conn: Connection, broker_versions: dict[int, tuple[int, int]]
) -> None:
    for version in _versions(broker_versions, ApiKey.FIND_COORDINATOR):
        key = f"txn-{uuid.uuid4().hex[:6]}"
        request = {"key": key, "key_type": 1, "coordinator_keys": [key]}
        body = None
        for _ in range(60):  # the transaction state topic is created on first use
            body = conn.call(ApiKey.FIND_COORDINATOR, version, request)
            code = body["error_code"] if version < 4 else body["coordinators"][0]["error_code"]
            if code == 0:
                break
            assert code == 15, body
            time.sleep(0.5)
        assert body is not None and code == 0
    for version in _versions(broker_versions, ApiKey.INIT_PRODUCER_ID):
        body = _init_producer_id(conn, version, None)
        assert body["error_code"] == 0 and body["producer_id"] >= 0


def _init_producer_id(conn: Connection, version: int, transactional_id: str | None) -> dict[str, Any]:
    """InitProducerId, retried while the broker is still loading (14, 15, 16) or busy (51)."""
    request = {"transactional_id": transactional_id, "transaction_timeout_ms": 60000}
    for _ in range(60):
        body = conn.call(ApiKey.INIT_PRODUCER_ID, version, request)
        if body["error_code"] not in (14, 15, 16, 51):
            break
        time.sleep(0.5)
    return body


def test_transaction_apis_every_version(
    conn: Connection, broker_versions: dict[int, tuple[int, int]], topic: str
) -> None:
    """One transaction per EndTxn version; the other transactional APIs cycle through their versions."""
    add_partitions = list(_versions(broker_versions, ApiKey.ADD_PARTITIONS_TO_TXN))
    add_offsets = list(_versions(broker_versions, ApiKey.ADD_OFFSETS_TO_TXN))
    offset_commit = list(_versions(broker_versions, ApiKey.TXN_OFFSET_COMMIT))
    end_versions = list(_versions(broker_versions, ApiKey.END_TXN))
    rounds = max(len(add_partitions), len(add_offsets), len(offset_commit), len(end_versions))
    for i in range(rounds):
        txn = f"txn-{uuid.uuid4().hex[:8]}"
        body = _init_producer_id(conn, 4, txn)
        assert body["error_code"] == 0, body
        pid, epoch = body["producer_id"], body["producer_epoch"]
        ids = {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch}

        version = add_partitions[i % len(add_partitions)]
        topics = [{"name": topic, "partitions": [0]}]
        if version >= 4:  # broker-to-broker form: a client gets a top-level error but a decodable answer
            request: dict[str, Any] = {"transactions": [{**ids, "topics": topics}]}
        else:
            request = {f"v3_and_below_{k}": v for k, v in {**ids, "topics": topics}.items()}
        body = conn.call(ApiKey.ADD_PARTITIONS_TO_TXN, version, request)
        _known(body.get("error_code", 0))

        group = f"g-{txn}"
        body = conn.call(
            ApiKey.ADD_OFFSETS_TO_TXN, add_offsets[i % len(add_offsets)], {**ids, "group_id": group}
        )
        _known(body["error_code"])

        version = offset_commit[i % len(offset_commit)]
        offsets = [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 0}]}]
        commit = {**ids, "group_id": group, "topics": offsets}
        body = conn.call(ApiKey.TXN_OFFSET_COMMIT, version, commit)
        for partition in body["topics"][0]["partitions"]:
            _known(partition["error_code"])

        version = end_versions[i % len(end_versions)]
        body = conn.call(ApiKey.END_TXN, version, {**ids, "committed": False})
        _known(body["error_code"])


def test_sasl_apis_decode_on_a_plaintext_listener(kafka: KafkaEndpoint) -> None:
    connection = Connection(kafka.bootstrap_servers)
    try:
        body = connection.call(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
        _known(body["error_code"])
    finally:
        connection.close()
