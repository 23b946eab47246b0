"""RecordBatch v2 (magic 2): encoding for the producer, decoding for tests and the mock cluster.

Layout (all big-endian): baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8,
crc u32 (CRC-32C over everything after it), attributes i16, lastOffsetDelta i32,
baseTimestamp i64, maxTimestamp i64, producerId i64, producerEpoch i16, baseSequence i32,
recordCount i32, then the records (compressed as one blob when a codec is set).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crc32c import crc32c

from josef._core import compression
from josef.errors import ProtocolError

HEADER_SIZE = 61
# The two facts about a record's framing beyond its key, value and headers (both used nowhere else):
# RECORD_OVERHEAD bounds it from above: length (5), attributes (1), timestamp delta (10), offset delta (5),
# key length (5), value length (5), header count (5).  send() refuses records that could not fit even so,
# and the record-size metrics report sizes with it, as Java's upper-bound estimate does.
RECORD_OVERHEAD = 36
# FRAMING_ESTIMATE is its typical value for small records (the exact framing is 7 to 36 bytes): what
# send() counts, and batch splitting re-counts (estimated_size), when filling batches up to batch.size.
FRAMING_ESTIMATE = 10
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20
CODEC_MASK = 0x07

_HEADER = struct.Struct(">qiibIhiqqqhii")
_U32 = struct.Struct(">I")
_LOG_OVERHEAD = 12  # base offset and batch length: the bytes before what batchLength counts
_CRC_START = 21


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Most lengths, offsets and timestamp deltas are small: look their encodings up.
_TABLE_MIN = -1
_TABLE = [_zigzag_varint(n) for n in range(_TABLE_MIN, 1 << 15)]
_TABLE_LIMIT = (1 << 15) - 1


def varint(n: int) -> bytes:
    """Zig-zag varint/varlong, as records use them."""
    if -1 <= n <= _TABLE_LIMIT:
        return _TABLE[n + 1]
    return _zigzag_varint(n)


def header_bytes(headers: Sequence[tuple[bytes, bytes | None]]) -> bytes:
    """The headers section of one record: count, then each key and value with its length."""
    parts = [varint(len(headers))]
    for key, value in headers:
        parts.append(varint(len(key)))
        parts.append(key)
        if value is None:
            parts.append(b"\x01")
        else:
            parts.append(varint(len(value)))
            parts.append(value)
    return b"".join(parts)


# A queued record: (timestamp_ms, key, value, encoded headers section or None for no headers).
Record = tuple[int, "bytes | None", "bytes | None", "bytes | None"]


def estimated_size(record: Record) -> int:
    """A queued record's estimated size in a batch, as send() counted it."""
    _, key, value, headers = record
    return (len(key) if key else 0) + (len(value) if value else 0) + (len(headers) if headers else 0) + FRAMING_ESTIMATE


def encode_records(records: Sequence[Record], base_timestamp: int, first_offset: int = 0) -> bytearray:
    """The record section of a batch, uncompressed (or the part of it from ``first_offset``: the
    offset delta of the first of ``records``)."""
    if first_offset < 0:
        raise ValueError("first_offset must not be negative")
    out = bytearray()
    table = _TABLE
    limit = _TABLE_LIMIT
    for offset_delta, (timestamp, key, value, headers) in enumerate(records, first_offset):
        ts_delta = timestamp - base_timestamp
        tsv = table[ts_delta + 1] if 0 <= ts_delta <= limit else varint(ts_delta)
        odv = table[offset_delta + 1] if offset_delta <= limit else varint(offset_delta)
        if key is None:
            kv = b"\x01"
            klen = 0
        else:
            klen = len(key)
            kv = table[klen + 1] if klen <= limit else varint(klen)
        if value is None:
            vv = b"\x01"
            vlen = 0
        else:
            vlen = len(value)
            vv = table[vlen + 1] if vlen <= limit else varint(vlen)
        if headers is None:
            headers = b"\x00"
        body = 1 + len(tsv) + len(odv) + len(kv) + klen + len(vv) + vlen + len(headers)
        out += table[body + 1] if body <= limit else varint(body)
        out += b"\x00"
        out += tsv
        out += odv
        out += kv
        if key:
            out += key
        out += vv
        if value:
            out += value
        out += headers
    return out


def append_records(buf: bytearray, records: Sequence[Record], base_timestamp: int, first_offset: int,
                   limit: int) -> None:
    """Write ``records`` onto the end of a batch's buffer, the first at offset delta ``first_offset``.
    ``limit`` (the batch's uncompressed limit) lets the C version size the buffer once."""
    buf += encode_records_py(records, base_timestamp, first_offset)


encode_records_py = encode_records
append_records_py = append_records

if not os.environ.get("JOSEF_NO_SPEEDUPS"):
    try:
        from josef._core._speedups import append_records, encode_records
    except ImportError:  # no compiler at install time: the Python versions serve
        pass



def encode_batch(records: Sequence[Record], *, base_timestamp: int, **header: Any) -> tuple[bytearray, int]:
    """A whole RecordBatch v2 of ``records`` (base offset 0: the broker assigns it), with the header
    fields :func:`seal_batch` takes; returns it with the size of its uncompressed record section."""
    buf = bytearray(HEADER_SIZE)
    buf += encode_records(records, base_timestamp)
    return seal_batch(buf, len(records), base_timestamp=base_timestamp, **header)


def seal_batch(
    buf: bytearray,
    count: int,
    *,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    codec: int = compression.NONE,
    compress: compression.Compressor | None = None,
) -> tuple[bytearray, int]:
    """The RecordBatch for ``buf`` (``HEADER_SIZE`` bytes of room, then ``count`` records in wire format);
    returns it with the size of the uncompressed record section.  Uncompressed, that is ``buf`` itself
    with its header written in place (again, for a batch stamped anew): a batch is not copied to be sent.
    ``control``: a transaction-marker batch (brokers write those)."""
    raw_size = len(buf) - HEADER_SIZE
    if codec == compression.NONE:
        out = buf
    else:
        assert compress is not None
        with memoryview(buf) as view:
            body = compress(view[HEADER_SIZE:])
        out = bytearray(HEADER_SIZE)
        out += body
    attributes = codec | (TRANSACTIONAL_FLAG if transactional else 0) | (CONTROL_FLAG if control else 0)
    _HEADER.pack_into(
        out,
        0,
        0,
        len(out) - _LOG_OVERHEAD,
        -1,
        2,
        0,
        attributes,
        count - 1,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    with memoryview(out) as view:
        _U32.pack_into(out, 17, crc32c(view[_CRC_START:]))
    return out, raw_size


def decode_section(section: bytes | bytearray | memoryview, base_timestamp: int) -> list[Record]:
    """An uncompressed records section as josef writes it, back as queued records (headers kept as
    their encoded section): what splitting a batch the broker refused as too large sends again."""
    data = bytes(section)
    records: list[Record] = []
    pos, end = 0, len(data)
    while pos < end:
        size, pos = read_varint(data, pos, end)
        stop = pos + size
        if size < 1 or stop > end:
            raise ProtocolError("record length runs past the end of the section")
        timestamp_delta, pos = read_varint(data, pos + 1, stop)  # after the attributes
        _, pos = read_varint(data, pos, stop)  # the offset delta: the record's place says it
        key, pos = _read_bytes(data, pos, stop)
        value, pos = _read_bytes(data, pos, stop)
        headers = data[pos:stop]
        records.append((base_timestamp + timestamp_delta, key, value, None if headers == b"\x00" else headers))
        pos = stop
    return records


# ---------------------------------------------------------------------------------------------
# Decoding: strict and bounds-checked, for tests, the CLI and the mock cluster.


class _AttributeFlags:
    """What a batch's ``attributes`` field says, for the header and the decoded batch alike."""

    attributes: int

    @property
    def codec(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)


@dataclass(frozen=True)
class BatchHeader(_AttributeFlags):
    """The fixed 61-byte header of a RecordBatch v2, unpacked but not yet checked."""

    base_offset: int
    length: int  # batchLength: the bytes after this field
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """The whole batch's size, header included, as its length field says."""
        return self.length + _LOG_OVERHEAD


def read_batch_header(data: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """The header of the batch at ``pos``; raises :class:`ProtocolError` if fewer than 61 bytes are left.

    This is the only batch-header parser: :func:`decode_batches` and the mock cluster's log use it, each
    then checking what it needs (magic, length, CRC) with :func:`crc_matches` and the fields.
    """
    if len(data) - pos < HEADER_SIZE:
        raise ProtocolError(f"record batch of {len(data) - pos} bytes is shorter than its {HEADER_SIZE}-byte header")
    return BatchHeader(*_HEADER.unpack_from(data, pos))


def crc_matches(data: bytes | bytearray | memoryview, header: BatchHeader, pos: int = 0) -> bool:
    """Whether the CRC-32C in ``header`` covers the batch at ``pos`` (which must hold ``header.size`` bytes)."""
    with memoryview(data) as view:
        return crc32c(view[pos + _CRC_START : pos + header.size]) == header.crc


def set_base_offset(batch: bytearray, base_offset: int, leader_epoch: int) -> None:
    """Rewrite the two header fields the CRC does not cover, as a broker does on append."""
    struct.pack_into(">q", batch, 0, base_offset)
    struct.pack_into(">i", batch, 12, leader_epoch)


@dataclass(frozen=True)
class DecodedRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class DecodedBatch(_AttributeFlags):
    base_offset: int
    partition_leader_epoch: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: list[DecodedRecord]
    size: int


def read_varint(data: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """A zig-zag varint at ``pos``, not reading at or past ``end``; returns it and the position after it."""
    shift = 0
    z = 0
    while True:
        if pos >= end:
            raise ProtocolError("truncated varint in record batch")
        byte = data[pos]
        pos += 1
        z |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ProtocolError("varint longer than 10 bytes in record batch")
    return (z >> 1) ^ -(z & 1), pos


def _read_bytes(data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(data, pos, end)
    if length < 0:
        return None, pos
    if pos + length > end:
        raise ProtocolError("record field runs past the end of the batch")
    return data[pos : pos + length], pos + length


def decode_batches(data: bytes | memoryview, *, verify_crc: bool = True) -> list[DecodedBatch]:
    """Every batch in a records blob (as a Produce request or a Fetch response carries it)."""
    data = bytes(data)
    batches = []
    pos = 0
    while pos < len(data):
        header = read_batch_header(data, pos)
        length, count = header.length, header.record_count
        if header.magic != 2:
            raise ProtocolError(f"unsupported record batch magic {header.magic}")
        end = pos + header.size
        if length < HEADER_SIZE - _LOG_OVERHEAD or end > len(data):
            raise ProtocolError(f"record batch length {length} does not fit the data")
        if verify_crc and not crc_matches(data, header, pos):
            raise ProtocolError("record batch CRC mismatch")
        if count < 0 or count > length:
            raise ProtocolError(f"impossible record count {count}")
        body = data[pos + HEADER_SIZE : end]
        base_offset, base_ts, codec = header.base_offset, header.base_timestamp, header.codec
        if codec:
            try:
                body = compression.decompress(codec, body)
            except Exception as exc:
                raise ProtocolError(f"cannot decompress record batch: {exc}") from exc
        records = []
        rpos, rend = 0, len(body)
        for _ in range(count):
            size, rpos = read_varint(body, rpos, rend)
            stop = rpos + size
            if size < 0 or stop > rend:
                raise ProtocolError("record length runs past the end of the batch")
            rpos += 1  # attributes
            ts_delta, rpos = read_varint(body, rpos, stop)
            off_delta, rpos = read_varint(body, rpos, stop)
            key, rpos = _read_bytes(body, rpos, stop)
            value, rpos = _read_bytes(body, rpos, stop)
            nheaders, rpos = read_varint(body, rpos, stop)
            if nheaders < 0 or nheaders > size:
                raise ProtocolError(f"impossible header count {nheaders}")
            headers = []
            for _ in range(nheaders):
                hkey, rpos = _read_bytes(body, rpos, stop)
                hval, rpos = _read_bytes(body, rpos, stop)
                if hkey is None:
                    raise ProtocolError("null header key")
                headers.append((hkey.decode("utf-8", "replace"), hval))
            if rpos != stop:
                raise ProtocolError("record length disagrees with its fields")
            records.append(DecodedRecord(base_offset + off_delta, base_ts + ts_delta, key, value, headers))
        batches.append(
            DecodedBatch(base_offset, header.partition_leader_epoch, header.attributes, header.last_offset_delta,
                         base_ts, header.max_timestamp, header.producer_id, header.producer_epoch,
                         header.base_sequence, records, end - pos)
        )
        pos = end
    return batches
