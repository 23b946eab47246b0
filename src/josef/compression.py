"""Per-batch compression codecs, framed exactly as the Java client writes them.

The codec id is what RecordBatch v2 stores in the low three attribute bits. Compression runs
on the sender side, once per batch, never in ``send()``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import cramjam

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_IDS = {"none": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}

# Produce v7 is the first version whose brokers accept zstd.
MIN_PRODUCE_VERSION = {NONE: 3, GZIP: 3, SNAPPY: 3, LZ4: 3, ZSTD: 7}

Compressor = Callable[[bytes], bytes]

# LZ4 frame header as Java writes it: magic, FLG=0x60 (v1, independent blocks, no
# checksums, no content size), BD=0x40 (64 KiB blocks), HC = (xxh32(FLG, BD) >> 8) & 0xff.
_LZ4_HEADER = bytes.fromhex("04224d18604082")
_LZ4_BLOCK = 64 * 1024
_LZ4_END = b"\x00\x00\x00\x00"


def _lz4_frame(level: int) -> Compressor:
    mode = "high_compression" if level > 9 else "default"

    def compress(data: bytes) -> bytes:
        out = bytearray(_LZ4_HEADER)
        view = memoryview(data)
        for start in range(0, len(data), _LZ4_BLOCK):
            chunk = view[start : start + _LZ4_BLOCK]
            if mode == "default":
                packed = bytes(cramjam.lz4.compress_block(chunk, store_size=False))
            else:
                packed = bytes(cramjam.lz4.compress_block(chunk, mode=mode, compression=level, store_size=False))
            if len(packed) < len(chunk):
                out += struct.pack("<I", len(packed))
                out += packed
            else:  # incompressible: store the block raw, flagged by the high bit
                out += struct.pack("<I", len(chunk) | 0x80000000)
                out += chunk
        out += _LZ4_END
        return bytes(out)

    return compress


def _lz4_unframe(data: bytes) -> bytes:
    """Decode an LZ4 frame (independent blocks); used by tests and the mock cluster."""
    return bytes(cramjam.lz4.decompress(data))


def compressor(codec: int, level: int | None = None) -> Compressor:
    """A function that compresses a batch's record section with ``codec`` at ``level``."""
    if codec == GZIP:
        gzip_level = 6 if level is None or level == -1 else level

        def gzip(data: bytes) -> bytes:
            z = zlib.compressobj(gzip_level, zlib.DEFLATED, 31)
            return z.compress(data) + z.flush()

        return gzip
    if codec == SNAPPY:
        # Raw snappy, as librdkafka and franz-go send; brokers accept it beside Java's xerial frames.
        return lambda data: bytes(cramjam.snappy.compress_raw(data))
    if codec == LZ4:
        return _lz4_frame(9 if level is None else level)
    if codec == ZSTD:
        zstd_level = 3 if level is None else level
        return lambda data: bytes(cramjam.zstd.compress(data, level=zstd_level))
    raise ValueError(f"unknown compression codec id {codec}")


_XERIAL_MAGIC = b"\x82SNAPPY\x00"


def decompress(codec: int, data: bytes) -> bytes:
    """Inverse of :func:`compressor`, accepting every framing brokers accept."""
    if codec == GZIP:
        return zlib.decompress(data, 47)
    if codec == SNAPPY:
        if data.startswith(_XERIAL_MAGIC):
            out = bytearray()
            pos = 16
            while pos < len(data):
                (size,) = struct.unpack_from(">i", data, pos)
                out += cramjam.snappy.decompress_raw(data[pos + 4 : pos + 4 + size])
                pos += 4 + size
            return bytes(out)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == LZ4:
        return _lz4_unframe(data)
    if codec == ZSTD:
        return bytes(cramjam.zstd.decompress(data))
    raise ValueError(f"unknown compression codec id {codec}")
