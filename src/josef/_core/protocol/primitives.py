"""Variable-length integers: the building blocks of the flexible protocol and of record batches.

* ``uvarint``: unsigned LEB128 (7 bits a byte, high bit = more), at most 5 bytes / 32 bits.  Compact
  lengths and tagged-field headers use it.
* ``varint`` / ``varlong``: zig-zag signed values, at most 5 / 10 bytes.  Records inside a v2 batch use them.

Writers append to a caller's ``bytearray``; readers take ``(buf, pos)`` and return ``(value, new_pos)``.
Readers never read past ``len(buf)`` and reject over-long encodings, raising :class:`ProtocolError`.
"""

from __future__ import annotations

from josef.errors import ProtocolError

__all__ = [
    "read_uvarint",
    "read_uvarlong",
    "read_varint",
    "read_varlong",
    "uvarint_size",
    "write_uvarint",
    "write_uvarlong",
    "write_varint",
    "write_varlong",
]


def write_uvarint(out: bytearray, value: int) -> None:
    """Append ``value`` (0 <= value < 2**32) as an unsigned varint."""
    if value < 0x80:
        if value < 0:
            raise ValueError(f"uvarint must not be negative: {value}")
        out.append(value)
        return
    if value > 0xFFFFFFFF:
        raise ValueError(f"uvarint out of range: {value}")
    _write_unsigned(out, value)


def write_uvarlong(out: bytearray, value: int) -> None:
    """Append ``value`` (0 <= value < 2**64) as an unsigned varint of up to 10 bytes."""
    if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"uvarlong out of range: {value}")
    _write_unsigned(out, value)


def _write_unsigned(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_varint(out: bytearray, value: int) -> None:
    """Append a signed 32-bit ``value`` zig-zag encoded (-1 -> 01, 300 -> d8 04)."""
    if not -0x80000000 <= value <= 0x7FFFFFFF:
        raise ValueError(f"varint out of range: {value}")
    write_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def write_varlong(out: bytearray, value: int) -> None:
    """Append a signed 64-bit ``value`` zig-zag encoded."""
    if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        raise ValueError(f"varlong out of range: {value}")
    write_uvarlong(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def uvarint_size(value: int) -> int:
    """Bytes :func:`write_uvarint` uses for ``value``."""
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _read(buf: bytes, pos: int, max_bytes: int, limit: int, what: str) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(buf)
    for _ in range(max_bytes):
        if pos >= end:
            raise ProtocolError(f"truncated {what}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result > limit:
                raise ProtocolError(f"{what} out of range")
            return result, pos
        shift += 7
    raise ProtocolError(f"{what} longer than {max_bytes} bytes")


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 5 bytes and 32 bits."""
    if pos < len(buf) and buf[pos] < 0x80:  # the common one-byte case
        return buf[pos], pos + 1
    return _read(buf, pos, 5, 0xFFFFFFFF, "uvarint")


def read_uvarlong(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 10 bytes and 64 bits."""
    return _read(buf, pos, 10, 0xFFFFFFFFFFFFFFFF, "uvarlong")


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag signed 32-bit varint."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def read_varlong(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag signed 64-bit varint."""
    raw, pos = read_uvarlong(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos
