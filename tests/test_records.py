"""RecordBatch v2 encoding, checked against hand-derived bytes and the decoder."""

from __future__ import annotations

import itertools

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from josef._core import compression
from josef._core.records import (
    HEADER_SIZE,
    decode_batches,
    decode_section,
    encode_batch,
    encode_records,
    header_bytes,
    seal_batch,
    varint,
)
from josef.errors import ProtocolError
from josef.serialization import normalize_headers

TS = 1700000000000


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize(
    ("n", "encoded"), [(0, "00"), (-1, "01"), (1, "02"), (300, "d804"), (-300, "d704"), (2**40, "808080808040")]
)
def test_zigzag_varints(n: int, encoded: str) -> None:
    assert varint(n).hex() == encoded


def test_single_record_batch_bytes() -> None:
    batch, raw = encode_batch([(TS, b"k", b"v", None)], base_timestamp=TS, max_timestamp=TS)
    assert batch.hex() == (
        "0000000000000000" "0000003a" "ffffffff" "02" "e99b8dd8" "0000" "00000000" "0000018bcfe56800"
        "0000018bcfe56800" "ffffffffffffffff" "ffff" "ffffffff" "00000001" "10000000026b027600"
    )
    assert raw == 9


def test_idempotent_two_record_batch_bytes() -> None:
    headers = header_bytes(normalize_headers([("h", b"x")]))
    batch, _ = encode_batch(
        [(TS, b"key1", b"value1", headers), (TS + 5, None, b"v2", None)],
        base_timestamp=TS,
        max_timestamp=TS + 5,
        producer_id=1000,
        producer_epoch=0,
        base_sequence=0,
    )
    assert len(batch) == 91
    assert batch[17:21].hex() == "2b54b85b"
    assert batch[61:].hex() == "2800000008" "6b657931" "0c" "76616c756531" "02026802" "78" "10000a0201047632" "00"


records_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10_000),
        st.one_of(st.none(), st.binary(max_size=300)),
        st.one_of(st.none(), st.binary(max_size=70_000)),
        st.lists(st.tuples(st.text(max_size=10), st.one_of(st.none(), st.binary(max_size=20))), max_size=3),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(records_strategy, st.sampled_from(sorted(compression.CODEC_IDS.values())))
def test_round_trip(records: list, codec: int) -> None:
    encoded = [
        (TS + delta, key, value, header_bytes(normalize_headers(headers)) if headers else None)
        for delta, key, value, headers in records
    ]
    compress = compression.compressor(codec) if codec else None
    batch, _ = encode_batch(
        encoded,
        base_timestamp=TS,
        max_timestamp=max(r[0] for r in encoded),
        codec=codec,
        compress=compress,
    )
    (decoded,) = decode_batches(bytes(batch))
    assert decoded.codec == codec
    assert decoded.last_offset_delta == len(records) - 1
    for i, (record, (delta, key, value, headers)) in enumerate(zip(decoded.records, records, strict=True)):
        assert record.offset == i
        assert record.timestamp == TS + delta
        assert record.key == key
        assert record.value == value
        assert record.headers == [(k, v) for k, v in headers]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=90))
def test_decoder_rejects_garbage_cleanly(noise: bytes, cut: int) -> None:
    batch, _ = encode_batch([(TS, b"k", b"value", None)], base_timestamp=TS, max_timestamp=TS)
    for data in (noise, bytes(batch[:cut]), bytes(batch[:cut]) + noise):
        try:
            decode_batches(data)
        except ProtocolError:
            pass


def test_c_speedups_are_built() -> None:
    """CI installs with a compiler: the C path must be the one in use (and is checked below)."""
    from josef._core import records

    assert records.encode_records is not records.encode_records_py


@settings(max_examples=150, deadline=None)
@given(records_strategy, st.integers(min_value=-(2**40), max_value=2**40), st.sampled_from([0, 1, 127, 128, 70_000]))
def test_c_and_python_record_encoders_agree(records: list, base_delta: int, first_offset: int) -> None:
    from josef._core import records as module

    encoded = [
        (TS + delta, key, value, header_bytes(normalize_headers(headers)) if headers else None)
        for delta, key, value, headers in records
    ]
    assert bytes(module.encode_records(encoded, TS + base_delta, first_offset)) == bytes(
        module.encode_records_py(encoded, TS + base_delta, first_offset)
    )


def test_a_records_section_written_in_parts_is_the_section_written_at_once() -> None:
    """What appends do (ProducerBatch.buf): each part encoded from its first offset, joined."""
    from josef._core import records as module

    section = [(TS + i % 7 - 3, b"k%d" % i if i % 3 else None, b"v" * (i * 37 % 300), None) for i in range(300)]
    for encode in (module.encode_records, module.encode_records_py):
        parts = bytearray()
        for start in range(0, 300, 23):
            parts += encode(section[start : start + 23], TS, start)
        assert bytes(parts) == bytes(encode(section, TS))
        with pytest.raises(ValueError, match="first_offset"):
            encode(section, TS, -1)


@settings(max_examples=100, deadline=None)
@given(records_strategy, st.lists(st.integers(1, 5), min_size=1, max_size=10), st.integers(0, 300))
def test_c_and_python_appends_to_a_batch_buffer_agree(records: list, runs: list[int], limit: int) -> None:
    """Runs of records written onto a batch's buffer (the C version sizes it once, to the batch's limit)
    give the same bytes as the Python version, and as the section encoded at once."""
    from josef._core import records as module

    queued = [
        (TS + delta, key, value, header_bytes(normalize_headers(headers)) if headers else None)
        for delta, key, value, headers in records
    ]
    buffers = [bytearray(HEADER_SIZE), bytearray(HEADER_SIZE)]
    start = 0
    for n in itertools.cycle(runs):
        if start >= len(queued):
            break
        for buf, append in zip(buffers, (module.append_records, module.append_records_py), strict=True):
            append(buf, queued[start : start + n], TS, start, limit)
        start += n
    assert bytes(buffers[0]) == bytes(buffers[1]) == bytes(HEADER_SIZE) + bytes(encode_records(queued, TS))


@settings(max_examples=100, deadline=None)
@given(records_strategy, st.integers(min_value=-(2**40), max_value=2**40))
def test_a_records_section_decodes_back_to_its_records(records: list, base_delta: int) -> None:
    """What a split (MESSAGE_TOO_LARGE) sends again is what was appended: timestamps before the
    base one, null and empty keys and values, headers kept as their encoded section."""
    queued = [
        (TS + delta, key, value, header_bytes(normalize_headers(headers)) if headers else None)
        for delta, key, value, headers in records
    ]
    section = encode_records(queued, TS + base_delta)
    assert decode_section(section, TS + base_delta) == queued
    if section:
        with pytest.raises(ProtocolError):
            decode_section(section[:-1], TS + base_delta)


@pytest.mark.parametrize("codec", [compression.NONE, compression.LZ4, compression.ZSTD])
def test_a_sealed_buffer_is_the_batch_encode_batch_gives_and_can_be_sealed_again(codec: int) -> None:
    """A producer batch's buffer becomes the RecordBatch in place (uncompressed, no copy); stamped
    anew (an epoch bump), it is sealed again with the new producer id, epoch and sequence."""
    queued = [(TS + i, b"k%d" % i, b"v" * i, None if i % 2 else header_bytes([(b"h", b"x")])) for i in range(40)]
    compress = compression.compressor(codec) if codec else None
    buf = bytearray(HEADER_SIZE) + encode_records(queued, TS)
    for pid, epoch, seq in [(7, 0, 0), (7, 1, 40)]:
        sealed, raw = seal_batch(buf, 40, base_timestamp=TS, max_timestamp=TS + 39, producer_id=pid,
                                 producer_epoch=epoch, base_sequence=seq, codec=codec, compress=compress)
        expected, expected_raw = encode_batch(queued, base_timestamp=TS, max_timestamp=TS + 39, producer_id=pid,
                                              producer_epoch=epoch, base_sequence=seq, codec=codec, compress=compress)
        assert (bytes(sealed), raw) == (bytes(expected), expected_raw)
        assert (sealed is buf) == (codec == compression.NONE)
        (batch,) = decode_batches(bytes(sealed))
        assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (pid, epoch, seq)
        assert [(r.timestamp, r.key, r.value) for r in batch.records] == [(t, k, v) for t, k, v, _ in queued]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.binary(max_size=20)), st.integers(0, 70_000)), max_size=20))
def test_large_batches_encoded_without_the_gil_agree(shapes: list[tuple[bytes | None, int]]) -> None:
    """Record sections of 256 KiB and more are copied with the GIL released: same bytes."""
    from josef._core import records as module

    filler = [(TS + i, b"k%d" % i, bytes([i % 256]) * 4096, None) for i in range(64)]  # 256 KiB and more
    encoded = filler + [(TS + 7, key, b"v" * size, b"\x00") for key, size in shapes]
    assert len(module.encode_records_py(encoded, TS)) >= 256 * 1024
    assert bytes(module.encode_records(encoded, TS)) == bytes(module.encode_records_py(encoded, TS))
