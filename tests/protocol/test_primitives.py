"""Varint encodings (producer-internals §7.2) and their limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from josef._core.protocol.primitives import (
    read_uvarint,
    read_uvarlong,
    read_varint,
    read_varlong,
    uvarint_size,
    write_uvarint,
    write_uvarlong,
    write_varint,
    write_varlong,
)
from josef.errors import ProtocolError


def _enc(writer: object, value: int) -> bytes:
    out = bytearray()
    writer(out, value)  # type: ignore[operator]
    return bytes(out)


UVARINTS = [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**32 - 1, "ffffffff0f")]
ZIGZAGS = [(0, "00"), (-1, "01"), (1, "02"), (300, "d804"), (-300, "d704")]


@pytest.mark.parametrize(("value", "encoded"), UVARINTS)
def test_uvarint_vectors(value: int, encoded: str) -> None:
    assert _enc(write_uvarint, value).hex() == encoded
    assert read_uvarint(bytes.fromhex(encoded), 0) == (value, len(encoded) // 2)
    assert uvarint_size(value) == len(encoded) // 2


@pytest.mark.parametrize(("value", "encoded"), ZIGZAGS)
def test_zigzag_vectors(value: int, encoded: str) -> None:
    assert _enc(write_varint, value).hex() == encoded
    assert _enc(write_varlong, value).hex() == encoded
    assert read_varint(bytes.fromhex(encoded), 0) == (value, len(encoded) // 2)
    assert read_varlong(bytes.fromhex(encoded), 0) == (value, len(encoded) // 2)


@given(st.integers(-(2**31), 2**31 - 1))
def test_varint_round_trip(value: int) -> None:
    raw = _enc(write_varint, value)
    assert len(raw) <= 5
    assert read_varint(raw + b"\xff", 0) == (value, len(raw))


@given(st.integers(-(2**63), 2**63 - 1))
def test_varlong_round_trip(value: int) -> None:
    raw = _enc(write_varlong, value)
    assert len(raw) <= 10
    assert read_varlong(raw, 0) == (value, len(raw))


@given(st.integers(0, 2**64 - 1))
def test_uvarlong_round_trip(value: int) -> None:
    assert read_uvarlong(_enc(write_uvarlong, value), 0)[0] == value


def test_overlong_and_truncated_varints_raise_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_uvarint(b"\x80\x80\x80\x80\x80\x01", 0)  # 6 bytes
    with pytest.raises(ProtocolError):
        read_uvarint(b"\xff\xff\xff\xff\x1f", 0)  # 5 bytes but > 32 bits
    with pytest.raises(ProtocolError):
        read_varlong(b"\x80" * 10 + b"\x01", 0)  # 11 bytes
    with pytest.raises(ProtocolError):
        read_uvarint(b"\x80\x80", 0)
    with pytest.raises(ProtocolError):
        read_uvarint(b"", 0)


def test_writers_reject_out_of_range() -> None:
    for writer, value in [
        (write_uvarint, -1),
        (write_uvarint, 2**32),
        (write_varint, 2**31),
        (write_varlong, -(2**63) - 1),
        (write_uvarlong, 2**64),
    ]:
        with pytest.raises(ValueError):
            _enc(writer, value)
