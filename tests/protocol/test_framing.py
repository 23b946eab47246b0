"""FrameReader, headers, version negotiation and the error contract of the public API."""

from __future__ import annotations

import pytest

from josef._core.protocol import (
    CLIENT_VERSIONS,
    ApiKey,
    EncodeError,
    FrameReader,
    UnsupportedRequestError,
    decode_request,
    decode_response,
    encode_request,
    encode_request_into,
    encode_response,
    negotiate_version,
)
from josef.errors import ProtocolError, UnsupportedVersionError


def test_frame_reader_reassembles_byte_by_byte() -> None:
    frames = [encode_request(18, v, v, "c", {}) for v in range(3)] + [encode_response(25, 0, 9, {})]
    stream = b"".join(frames)
    reader = FrameReader()
    out = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        while (frame := reader.next_frame()) is not None:
            out.append(frame)
    assert out == [f[4:] for f in frames]
    assert reader.buffered == 0 and reader.next_frame() is None


def test_frame_reader_handles_many_frames_in_one_chunk() -> None:
    reader = FrameReader()
    reader.feed(b"\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c\x00\x00")
    assert [reader.next_frame(), reader.next_frame(), reader.next_frame(), reader.next_frame()] == [
        b"ab",
        b"",
        b"c",
        None,
    ]
    assert reader.buffered == 2


def test_frame_reader_compacts_large_streams() -> None:
    reader = FrameReader()
    payload = bytes(1000)
    for _ in range(200):
        reader.feed(len(payload).to_bytes(4, "big") + payload)
        assert reader.next_frame() == payload
    reader.feed(b"\x00\x00")
    assert reader.buffered == 2


@pytest.mark.parametrize("header", [b"\xff\xff\xff\xff", b"\x80\x00\x00\x00", (1001).to_bytes(4, "big")])
def test_frame_reader_rejects_bad_sizes_at_once(header: bytes) -> None:
    reader = FrameReader(max_frame_size=1000)
    with pytest.raises(ProtocolError):
        reader.feed(header)
    with pytest.raises(ProtocolError):
        reader.next_frame()  # and keeps refusing: the stream cannot be resynchronised


def test_frame_reader_default_limit() -> None:
    reader = FrameReader()
    reader.feed((100 * 1024 * 1024).to_bytes(4, "big"))
    assert reader.next_frame() is None
    with pytest.raises(ProtocolError):
        FrameReader().feed((100 * 1024 * 1024 + 1).to_bytes(4, "big"))


def test_client_versions() -> None:
    assert CLIENT_VERSIONS == {
        ApiKey.PRODUCE: (3, 13),
        ApiKey.FETCH: (4, 17),
        ApiKey.LIST_OFFSETS: (1, 9),
        ApiKey.METADATA: (1, 13),
        ApiKey.FIND_COORDINATOR: (0, 6),
        ApiKey.SASL_HANDSHAKE: (0, 1),
        ApiKey.API_VERSIONS: (0, 4),
        ApiKey.CREATE_TOPICS: (2, 7),
        ApiKey.INIT_PRODUCER_ID: (0, 5),
        ApiKey.ADD_PARTITIONS_TO_TXN: (0, 5),
        ApiKey.ADD_OFFSETS_TO_TXN: (0, 4),
        ApiKey.END_TXN: (0, 5),
        ApiKey.TXN_OFFSET_COMMIT: (0, 5),
        ApiKey.SASL_AUTHENTICATE: (0, 2),
        # Spoken by the mock cluster only.
        ApiKey.OFFSET_COMMIT: (2, 10),
        ApiKey.OFFSET_FETCH: (1, 10),
        ApiKey.JOIN_GROUP: (0, 9),
        ApiKey.HEARTBEAT: (0, 4),
        ApiKey.LEAVE_GROUP: (0, 5),
        ApiKey.SYNC_GROUP: (0, 5),
        ApiKey.DESCRIBE_GROUPS: (0, 6),
        ApiKey.LIST_GROUPS: (0, 5),
        ApiKey.DELETE_TOPICS: (1, 6),
        ApiKey.DELETE_RECORDS: (0, 2),
        ApiKey.DESCRIBE_CONFIGS: (1, 4),
        ApiKey.CREATE_PARTITIONS: (0, 3),
        ApiKey.DELETE_GROUPS: (0, 3),
        ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
        ApiKey.OFFSET_DELETE: (0, 0),
        ApiKey.DESCRIBE_CLUSTER: (0, 2),
    }


def test_negotiate_version() -> None:
    assert negotiate_version(ApiKey.PRODUCE, 0, 12) == 12
    assert negotiate_version(ApiKey.PRODUCE, 0, 20) == 13
    assert negotiate_version(ApiKey.PRODUCE, 0, 2) is None
    assert negotiate_version(ApiKey.METADATA, 14, 20) is None
    assert negotiate_version(ApiKey.API_VERSIONS, 0, 4) == 4
    assert negotiate_version(57, 0, 3) is None  # an API josef does not implement


def test_request_header_v1_and_v2() -> None:
    v1 = encode_request(10, 2, 5, "ab", {"key": "g"})  # FindCoordinator v2: classic
    assert v1[4:16] == bytes.fromhex("000a" "0002" "00000005" "0002" "6162")  # fmt: skip
    v2 = encode_request(10, 3, 5, "ab", {"key": "g"})  # v3: flexible header, client_id still int16 length
    assert v2[4:17] == bytes.fromhex("000a" "0003" "00000005" "0002" "6162" "00")  # fmt: skip


def test_encode_request_into_appends() -> None:
    out = bytearray(b"xx")
    encode_request_into(out, 18, 0, 1, None, {})
    assert out[2:] == encode_request(18, 0, 1, None, {})


def test_unsupported_versions_raise() -> None:
    with pytest.raises(UnsupportedVersionError):
        encode_request(0, 2, 1, None, {})
    with pytest.raises(UnsupportedVersionError):
        decode_response(3, 14, b"\x00\x00\x00\x01")
    with pytest.raises(UnsupportedVersionError):
        encode_response(99, 0, 1, {})


def test_decode_request_reports_unsupported_version_with_header() -> None:
    frame = bytes.fromhex("001200630000002affff") + b"garbage"  # ApiVersions v99
    with pytest.raises(UnsupportedRequestError) as info:
        decode_request(frame)
    assert tuple(info.value.header) == (18, 99, 42, None)
    assert isinstance(info.value, ProtocolError)


def test_encode_errors_name_the_field() -> None:
    body = {"topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": 5}]}]}
    with pytest.raises(EncodeError, match=r"topic_data\[0\]\.partition_data\[0\]\.records"):
        encode_request(0, 9, 1, None, body)
    with pytest.raises(EncodeError, match="acks"):
        encode_request(0, 9, 1, None, {"acks": 1 << 20})
    with pytest.raises(EncodeError, match="mapping"):
        encode_request(0, 9, 1, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-nullable"):
        encode_request(0, 3, 1, None, {"topic_data": [{"name": None}]})


def test_misspelt_end_txn_body_is_refused_naming_the_field() -> None:
    # Encoded as-is, this commit would go out as epoch 0, committed=False: an abort.
    body = {"transactional_id": "tx", "producer_id": 7, "producer_epoc": 1, "commited": True}
    with pytest.raises(EncodeError, match=r"^END_TXN v3 request: unknown fields 'commited', 'producer_epoc'$"):
        encode_request(ApiKey.END_TXN, 3, 1, None, body)
    with pytest.raises(EncodeError, match=r"END_TXN v3 request: unknown field 'commited'") as info:
        encode_request(ApiKey.END_TXN, 3, 1, None, {"producer_epoch": 1, "commited": True})
    assert info.value.path == ""
    assert info.value.message == "END_TXN v3 request"


def test_unknown_keys_in_nested_structs_name_their_path() -> None:
    body = {"topic_data": [{"name": "t", "partition_data": [{"index": 0, "record": b""}]}]}
    with pytest.raises(EncodeError, match=r"topic_data\[0\]\.partition_data\[0\]: unknown field 'record'"):
        encode_request(ApiKey.PRODUCE, 9, 1, None, body)
    with pytest.raises(EncodeError, match=r"^METADATA v12 response: brokers\[1\]: unknown field 'nodeid'"):
        encode_response(ApiKey.METADATA, 12, 1, {"brokers": [{"node_id": 1}, {"nodeid": 2}]})


def test_keys_of_other_versions_are_ignored() -> None:
    # name exists up to v12 and topic_id from v13: both may be given, each version writes its own.
    body = {"topic_data": [{"name": "t", "topic_id": b"\x01" * 16, "partition_data": []}]}
    v9, v13 = encode_request(ApiKey.PRODUCE, 9, 1, None, body), encode_request(ApiKey.PRODUCE, 13, 1, None, body)
    assert b"\x01" * 16 not in v9 and b"\x01" * 16 in v13
    assert encode_request(ApiKey.END_TXN, 3, 1, None, {}) == encode_request(
        ApiKey.END_TXN, 3, 1, None, {"transactional_id": ""}
    )


def test_memoryview_frames() -> None:
    frame = encode_response(26, 5, 4, {"producer_id": 7, "producer_epoch": 2})
    assert decode_response(26, 5, memoryview(frame)[4:]) == (
        4,
        {"throttle_time_ms": 0, "error_code": 0, "producer_id": 7, "producer_epoch": 2},
    )
