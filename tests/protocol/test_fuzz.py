"""Hostile input: truncated, bit-flipped and random frames raise ProtocolError, quickly, and nothing else."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from josef._core.protocol import decode_request, decode_response, encode_request, encode_response
from josef._core.protocol.apis import APIS
from josef.errors import ProtocolError

from .strategies import all_versions, message_strategy

VERSIONS = all_versions()
IDS = [f"{APIS[key].name}-v{v}" for key, v in VERSIONS]
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(data: st.DataObject, frame: bytes) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if how == "truncate":
        return frame[: data.draw(st.integers(0, max(len(frame) - 1, 0)))]
    if how == "flip":
        raw = bytearray(frame)
        for _ in range(data.draw(st.integers(1, 4))):
            if raw:
                index = data.draw(st.integers(0, len(raw) - 1))
                raw[index] ^= 1 << data.draw(st.integers(0, 7))
        return bytes(raw)
    if how == "splice":
        at = data.draw(st.integers(0, len(frame)))
        return frame[:at] + data.draw(st.binary(min_size=1, max_size=8)) + frame[at:]
    return data.draw(st.binary(max_size=64))


def _only_protocol_errors(decode: Callable[[], Any]) -> None:
    start = time.perf_counter()
    with contextlib.suppress(ProtocolError):
        decode()
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(("api_key", "version"), VERSIONS, ids=IDS)
@_SETTINGS
@given(data=st.data())
def test_response_decoders_survive_garbage(api_key: int, version: int, data: st.DataObject) -> None:
    body = data.draw(message_strategy(api_key, version, request=False))
    frame = _mutate(data, encode_response(api_key, version, 1, body)[4:])
    _only_protocol_errors(lambda: decode_response(api_key, version, frame))


@pytest.mark.parametrize(("api_key", "version"), VERSIONS, ids=IDS)
@_SETTINGS
@given(data=st.data())
def test_decode_request_survives_garbage(api_key: int, version: int, data: st.DataObject) -> None:
    body = data.draw(message_strategy(api_key, version, request=True))
    frame = _mutate(data, encode_request(api_key, version, 1, "client", body)[4:])
    _only_protocol_errors(lambda: decode_request(frame))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_request_random_bytes(frame: bytes) -> None:
    _only_protocol_errors(lambda: decode_request(frame))


@pytest.mark.parametrize(
    "frame",
    [
        # Metadata v1 response: brokers count 2**31 - 1 with 10 bytes left.
        bytes.fromhex("000000017fffffff") + bytes(10),
        # Metadata v9 (flexible): compact brokers count 2**32 - 2 as a uvarint.
        bytes.fromhex("000000010000000000ffffffff0f") + bytes(10),
        # A classic string length of 32767 with 2 bytes left.
        bytes.fromhex("0000000100000001000000017fff") + bytes(2),
    ],
    ids=["classic-count", "compact-count", "string-length"],
)
def test_huge_counts_fail_immediately(frame: bytes) -> None:
    version = 9 if frame[4] == 0 and frame[5:9] == bytes(4) else 1
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match="truncated"):
        decode_response(3, version, frame)
    assert time.perf_counter() - start < 0.01


def test_huge_tag_count_fails_immediately() -> None:
    # EndTxn v3 response whose tag section claims 2**32 - 1 fields.
    frame = bytes.fromhex("00000001" "00" "00000000" "0000" "ffffffff0f")  # fmt: skip
    with pytest.raises(ProtocolError):
        decode_response(26, 3, frame)


def test_trailing_bytes_are_rejected() -> None:
    frame = encode_response(25, 0, 1, {})[4:]
    with pytest.raises(ProtocolError, match="left over"):
        decode_response(25, 0, frame + b"\x00")
