"""RecordBatch v2 encoding, checked against hand-derived bytes and the decoder."""

from __future__ import annotations

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from josef._core import compression
from josef._core.records import decode_batches, encode_batch, header_bytes, varint
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
@given(records_strategy, st.integers(min_value=-(2**40), max_value=2**40))
def test_c_and_python_record_encoders_agree(records: list, base_delta: int) -> None:
    from josef._core import records as module

    encoded = [
        (TS + delta, key, value, header_bytes(normalize_headers(headers)) if headers else None)
        for delta, key, value, headers in records
    ]
    assert bytes(module.encode_records(encoded, TS + base_delta)) == bytes(
        module.encode_records_py(encoded, TS + base_delta)
    )


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.binary(max_size=20)), st.integers(0, 70_000)), max_size=20))
def test_large_batches_encoded_without_the_gil_agree(shapes: list[tuple[bytes | None, int]]) -> None:
    """Record sections of 256 KiB and more are copied with the GIL released: same bytes."""
    from josef._core import records as module

    filler = [(TS + i, b"k%d" % i, bytes([i % 256]) * 4096, None) for i in range(64)]  # 256 KiB and more
    encoded = filler + [(TS + 7, key, b"v" * size, b"\x00") for key, size in shapes]
    assert len(module.encode_records_py(encoded, TS)) >= 256 * 1024
    assert bytes(module.encode_records(encoded, TS)) == bytes(module.encode_records_py(encoded, TS))
