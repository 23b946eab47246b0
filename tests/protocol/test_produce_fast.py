"""The hand-written Produce v9+ codec against the generic one: same bytes out, same dicts in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josef._core.protocol import ApiKey, EncodeError, decode_response, encode_request, encode_response, produce
from josef._core.protocol.apis import APIS
from josef._core.protocol.framing import encode_request_parts
from tests.protocol.strategies import message_strategy

VERSIONS = range(produce.FIRST_FLEXIBLE, APIS[ApiKey.PRODUCE].max_version + 1)


@pytest.fixture
def generic(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run a call with the fast codec switched off."""

    def run(call: Any, *args: Any) -> Any:
        with monkeypatch.context() as m:
            m.setattr(produce, "encode_request", lambda *a: None)
            m.setattr(produce, "decode_response", lambda *a: None)
            return call(*args)

    return run


def _sender_body(version: int, transactional_id: str | None, partitions: dict[int, bytes | None]) -> dict[str, Any]:
    key: dict[str, Any] = {"topic_id": uuid.UUID(int=7)} if version >= 13 else {"name": "événements"}
    return {
        "transactional_id": transactional_id,
        "acks": -1,
        "timeout_ms": 30_000,
        "topic_data": [
            {**key, "partition_data": [{"index": i, "records": r} for i, r in partitions.items()]},
            {**({"topic_id": uuid.UUID(int=8)} if version >= 13 else {"name": "t2"}),
             "partition_data": [{"index": 0, "records": b"x"}]},
        ],
    }


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("client_id", [None, "josef-1"])
@pytest.mark.parametrize("transactional_id", [None, "tx"])
def test_request_bytes_match_the_generic_codec(generic: Any, version: int, client_id: str | None,
                                               transactional_id: str | None) -> None:
    # 20,000 bytes: a records length that needs a 3-byte varint
    body = _sender_body(version, transactional_id, {0: b"a" * 100, 5: bytes(20_000), 9: None})
    fast = encode_request(ApiKey.PRODUCE, version, 42, client_id, body)
    assert bytes(fast) == bytes(generic(encode_request, ApiKey.PRODUCE, version, 42, client_id, body))
    assert produce.encode_request(version, 42, client_id, body) is not None  # the fast path did it


@pytest.mark.parametrize("version", VERSIONS)
def test_large_batches_are_parts_of_their_own_never_copied(generic: Any, version: int) -> None:
    """What the connection writes with one sendmsg: the frame in parts, each record batch of 2 KiB or
    more the batch's own buffer; joined, the parts are the generic codec's frame."""
    big, bigger, small = bytearray(b"b" * 2048), bytearray(20_000), b"a" * 100
    body = _sender_body(version, None, {0: small, 5: big, 7: bigger, 9: None})
    parts = encode_request_parts(ApiKey.PRODUCE, version, 42, "josef-1", body)
    assert len(parts) == 5
    assert parts[1] is big and parts[3] is bigger
    assert not any(part is small for part in parts)
    assert b"".join(parts) == bytes(generic(encode_request, ApiKey.PRODUCE, version, 42, "josef-1", body))
    assert encode_request_parts(ApiKey.FIND_COORDINATOR, 3, 1, None, {"key": "g"}) == [
        encode_request(ApiKey.FIND_COORDINATOR, 3, 1, None, {"key": "g"})
    ]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_request_body_encodes_as_the_generic_codec_does(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(list(VERSIONS)))
    body = data.draw(message_strategy(ApiKey.PRODUCE, version, True))
    fast = produce.encode_request(version, 3, "c", body)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(produce, "encode_request", lambda *a: None)
        slow = encode_request(ApiKey.PRODUCE, version, 3, "c", body)
    if fast is not None:
        assert bytes(fast) == bytes(slow)


def test_a_misspelt_field_is_still_named(generic: Any) -> None:
    body = _sender_body(13, None, {0: b"a"})
    body["timeout"] = body.pop("timeout_ms")
    with pytest.raises(EncodeError, match="timeout"):
        encode_request(ApiKey.PRODUCE, 13, 1, None, body)
    body = _sender_body(13, None, {0: b"a"})
    body["topic_data"][0]["partition_data"][0]["recrods"] = b"x"
    with pytest.raises(EncodeError, match="recrods"):
        encode_request(ApiKey.PRODUCE, 13, 1, None, body)


def _ok_response(version: int) -> dict[str, Any]:
    key: dict[str, Any] = {"topic_id": uuid.UUID(int=99)} if version >= 13 else {"name": "t"}
    return {
        "responses": [{**key, "partition_responses": [
            {"index": i, "error_code": 0, "base_offset": 1 << 40 | i, "log_append_time_ms": -1, "log_start_offset": 3}
            for i in range(200)  # 200 partitions: a 2-byte array length
        ]}],
        "throttle_time_ms": 17,
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_an_ordinary_response_is_read_by_the_fast_path_as_the_generic_codec_reads_it(generic: Any,
                                                                                     version: int) -> None:
    frame = encode_response(ApiKey.PRODUCE, version, 5, _ok_response(version))[4:]
    fast = produce.decode_response(version, frame)
    assert fast is not None
    assert fast == generic(decode_response, ApiKey.PRODUCE, version, frame)
    assert decode_response(ApiKey.PRODUCE, version, frame) == fast


@pytest.mark.parametrize("version", VERSIONS)
def test_an_error_answer_goes_to_the_generic_codec(generic: Any, version: int) -> None:
    body = _ok_response(version)
    part = body["responses"][0]["partition_responses"][3]
    part.update(error_code=6, error_message="not the leader", record_errors=[
        {"batch_index": 2, "batch_index_error_message": "bad"}])
    if version >= 10:
        part["current_leader"] = {"leader_id": 2, "leader_epoch": 9}
    frame = encode_response(ApiKey.PRODUCE, version, 5, body)[4:]
    assert produce.decode_response(version, frame) is None
    decoded = decode_response(ApiKey.PRODUCE, version, frame)
    assert decoded == generic(decode_response, ApiKey.PRODUCE, version, frame)
    assert decoded[1]["responses"][0]["partition_responses"][3]["error_message"] == "not the leader"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_response_decodes_as_the_generic_codec_decodes_it(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(list(VERSIONS)))
    body = data.draw(message_strategy(ApiKey.PRODUCE, version, False))
    frame = encode_response(ApiKey.PRODUCE, version, 11, body)[4:]
    fast = produce.decode_response(version, frame)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(produce, "decode_response", lambda *a: None)
        slow = decode_response(ApiKey.PRODUCE, version, frame)
    if fast is not None:
        assert fast == slow


@pytest.mark.parametrize("cut", [1, 5, 20, 40])
def test_a_truncated_response_is_a_protocol_error(cut: int) -> None:
    from josef.errors import ProtocolError

    frame = encode_response(ApiKey.PRODUCE, 13, 5, _ok_response(13))[4:]
    with pytest.raises(ProtocolError):
        decode_response(ApiKey.PRODUCE, 13, frame[:-cut])
