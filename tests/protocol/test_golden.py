"""Byte-exact vectors: producer-internals §7.3 and hand-assembled frames."""

from __future__ import annotations

import uuid
from typing import Any

from josef._core.protocol import FrameReader, decode_request, decode_response, encode_request, encode_response

APIVERSIONS_V3_REQUEST = bytes.fromhex(
    "0000001a" "0012" "0003" "00000001" "00027079" "00" "0870796b61666b61" "04302e31" "00"
)  # fmt: skip
APIVERSIONS_V0_FALLBACK = bytes.fromhex("00000010" "00000001" "0023" "00000001" "001200000004")  # fmt: skip


def test_api_versions_v3_request() -> None:
    body = {"client_software_name": "pykafka", "client_software_version": "0.1"}
    assert encode_request(18, 3, 1, "py", body) == APIVERSIONS_V3_REQUEST
    header, decoded = decode_request(APIVERSIONS_V3_REQUEST[4:])
    assert tuple(header) == (18, 3, 1, "py")
    assert decoded == body


def test_api_versions_unsupported_version_fallback_is_decoded_as_v0() -> None:
    reader = FrameReader()
    reader.feed(APIVERSIONS_V0_FALLBACK)
    frame = reader.next_frame()
    assert frame is not None
    for asked in (0, 3, 4):
        assert decode_response(18, asked, frame) == (
            1,
            {"error_code": 35, "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 4}]},
        )


def test_api_versions_response_uses_header_v0_even_when_flexible() -> None:
    body = {
        "error_code": 0,
        "api_keys": [{"api_key": 0, "min_version": 3, "max_version": 12}],
        "throttle_time_ms": 0,
    }
    frame = encode_response(18, 3, 9, body)
    # size, correlation id, then the body directly (no header tag byte): error_code 0, compact array of 1.
    assert frame[4:8] == b"\x00\x00\x00\x09"
    assert frame[8:11] == b"\x00\x00\x02"
    _, decoded = decode_response(18, 3, frame[4:])
    assert decoded["api_keys"] == body["api_keys"]
    assert decoded["supported_features"] == [] and decoded["finalized_features_epoch"] == -1


def test_api_versions_response_tagged_features() -> None:
    body = {
        "error_code": 0,
        "api_keys": [],
        "throttle_time_ms": 0,
        "supported_features": [{"name": "transaction.version", "min_version": 0, "max_version": 2}],
        "finalized_features_epoch": 7,
        "finalized_features": [
            {"name": "transaction.version", "max_version_level": 2, "min_version_level": 2}
        ],
    }
    frame = encode_response(18, 4, 1, body)
    _, decoded = decode_response(18, 4, frame[4:])
    assert decoded == {**body, "zk_migration_ready": False}
    # After error_code, the empty api_keys and throttle_time_ms: 3 tagged fields, tag 0 first.
    assert frame[4 + 4 + 2 + 1 + 4 : 4 + 4 + 2 + 1 + 4 + 2] == b"\x03\x00"


def test_produce_v9_request_layout() -> None:
    body = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 30000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"abc"}]}],
    }
    expected = bytes.fromhex(
        "00000022" "0000" "0009" "00000007" "0001" "63" "00"  # size, key, version, corr, client_id, tags
        "00" "ffff" "00007530"  # null compact string, acks -1, timeout 30000
        "02" "0274" "02" "00000000" "04616263" "00" "00" "00"  # 1 topic "t", 1 partition 0, records, tags x3
    )  # fmt: skip
    assert encode_request(0, 9, 7, "c", body) == expected


def test_produce_v3_request_layout_is_classic() -> None:
    body = {
        "acks": 1,
        "timeout_ms": 5,
        "topic_data": [{"name": "t", "partition_data": [{"index": 2, "records": None}]}],
    }
    expected = bytes.fromhex(
        "00000025" "0000" "0003" "00000001" "ffff"  # header v1 with null client_id
        "ffff" "0001" "00000005"  # null transactional_id, acks, timeout
        "00000001" "000174" "00000001" "00000002" "ffffffff"  # topics, name, partitions, index, null records
    )  # fmt: skip
    assert encode_request(0, 3, 1, None, body) == expected


def test_produce_v13_uses_topic_ids() -> None:
    topic_id = uuid.UUID("0123456789abcdef0123456789abcdef")
    body = {"acks": -1, "topic_data": [{"topic_id": topic_id, "partition_data": []}]}
    frame = encode_request(0, 13, 1, None, body)
    assert topic_id.bytes in frame
    _, decoded = decode_request(frame[4:])
    assert decoded["topic_data"] == [{"topic_id": topic_id, "partition_data": []}]
    assert "name" not in decoded["topic_data"][0]


def test_produce_v10_response_current_leader_tag() -> None:
    body: dict[str, Any] = {
        "responses": [
            {
                "name": "t",
                "partition_responses": [
                    {
                        "index": 0,
                        "error_code": 6,
                        "base_offset": -1,
                        "current_leader": {"leader_id": 2, "leader_epoch": 5},
                    }
                ],
            }
        ],
        "node_endpoints": [{"node_id": 2, "host": "h", "port": 9092, "rack": None}],
    }
    frame = encode_response(0, 10, 3, body)
    correlation_id, decoded = decode_response(0, 10, frame[4:])
    assert correlation_id == 3
    partition = decoded["responses"][0]["partition_responses"][0]
    assert partition["current_leader"] == {"leader_id": 2, "leader_epoch": 5}
    assert partition["log_append_time_ms"] == -1 and partition["record_errors"] == []
    assert decoded["node_endpoints"] == body["node_endpoints"]
    # Without the tag the default comes back.
    del body["responses"][0]["partition_responses"][0]["current_leader"]
    _, decoded = decode_response(0, 10, encode_response(0, 10, 3, body)[4:])
    partition = decoded["responses"][0]["partition_responses"][0]
    assert partition["current_leader"] == {"leader_id": -1, "leader_epoch": -1}


def test_unknown_tagged_fields_are_skipped() -> None:
    # EndTxn v3 response: throttle 0, error 0, then a tag section holding unknown tag 9 (3 bytes).
    frame = bytes.fromhex("00000005" "00" "00000000" "0000" "01" "09" "03" "aabbcc")  # fmt: skip
    assert decode_response(26, 3, frame) == (5, {"throttle_time_ms": 0, "error_code": 0})
