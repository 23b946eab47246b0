"""Per-batch compression codecs, framed exactly as the Java client writes them.

The codec id is what RecordBatch v2 stores in the low three attribute bits. Compression runs
on the sender side, once per batch, never in ``send()``. A compressor takes the record section
of a batch (any bytes-like object: ``bytes``, ``bytearray`` or ``memoryview``) and returns the
compressed blob that follows the 61-byte batch header.

Framing per codec (what brokers and every consumer accept):

* gzip: one RFC 1952 gzip member (zlib), level ``compression.gzip.level`` (-1 = zlib's 6).
* snappy: a raw snappy block, as librdkafka and franz-go send it; brokers and the Java consumer
  (snappy-java) read it beside the xerial-framed form the Java producer writes.
* lz4: an LZ4 frame with exactly the Java client's header ``04 22 4d 18 60 40 82`` (independent
  64 KiB blocks, no checksums, no content size), blocks that do not shrink stored raw.
  Like Java, level 9 (the default) uses LZ4's fast compressor and every other level LZ4 HC.
* zstd: one zstd frame, level ``compression.zstd.level``; needs Produce v7+.
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

# Java's defaults (CompressionType / *Compression.DEFAULT_LEVEL).
DEFAULT_LEVEL = {GZIP: -1, LZ4: 9, ZSTD: 3}

Data = bytes | bytearray | memoryview
Compressor = Callable[[Data], "bytes | bytearray"]

# LZ4 frame header as Java writes it: magic, FLG=0x60 (v1, independent blocks, no
# checksums, no content size), BD=0x40 (64 KiB blocks), HC = (xxh32(FLG, BD) >> 8) & 0xff.
_LZ4_HEADER = bytes.fromhex("04224d18604082")
_LZ4_MAGIC = _LZ4_HEADER[:4]
_LZ4_BLOCK = 64 * 1024
_LZ4_BLOCK_BOUND = _LZ4_BLOCK + _LZ4_BLOCK // 255 + 16  # LZ4_COMPRESSBOUND(64 KiB)
_LZ4_RAW = 0x80000000  # block-size flag: stored uncompressed
_U32 = struct.Struct("<I")
# lz4's frame API (the only way cramjam exposes LZ4 HC) treats levels below 3 as "fast".
_LZ4_HC_MIN = 3


def _lz4_fast(data: Data) -> bytearray:
    """LZ4 frame of independent blocks made by LZ4's default (fast) block compressor: what
    Java's ``Lz4BlockOutputStream`` writes at level 9. Blocks go straight into one buffer, sized
    for the worst case of these blocks (not of full ones) and trimmed in place: a batch is
    usually one block of a few KiB, and zeroing or copying 64 KiB per batch cost more than LZ4."""
    src = memoryview(data).cast("B")
    n = len(src)
    full, rest = divmod(n, _LZ4_BLOCK)
    bound = full * (4 + _LZ4_BLOCK_BOUND) + (4 + rest + rest // 255 + 16 if rest else 0)
    out = bytearray(len(_LZ4_HEADER) + bound + 4)
    out[: len(_LZ4_HEADER)] = _LZ4_HEADER
    pos = len(_LZ4_HEADER)
    with memoryview(out) as view:
        for start in range(0, n, _LZ4_BLOCK):
            chunk = src[start : start + _LZ4_BLOCK]
            size = _lz4_block_into(chunk, view[pos + 4 :], store_size=False)
            if size < len(chunk):
                _U32.pack_into(out, pos, size)
            else:  # incompressible: store the block raw, flagged by the high bit (as Java does)
                size = len(chunk)
                _U32.pack_into(out, pos, size | _LZ4_RAW)
                view[pos + 4 : pos + 4 + size] = chunk
            pos += 4 + size
    _U32.pack_into(out, pos, 0)  # end mark
    del out[pos + 4 :]
    return out


_lz4_block_into = cramjam.lz4.compress_block_into


def _lz4_hc(level: int) -> Compressor:
    """LZ4 HC at ``level`` (Java's highCompressor), re-framed into Java's exact frame layout:
    cramjam's frame encoder adds block checksums, which Java does not write."""
    hc_level = max(level, _LZ4_HC_MIN)

    def compress(data: Data) -> bytes:
        encoder = cramjam.lz4.Compressor(level=hc_level, content_checksum=False, block_linked=False)
        encoder.compress(data if isinstance(data, bytes) else bytes(data))  # it takes only bytes
        return _lz4_reframe(memoryview(encoder.finish()))

    return compress


def _lz4_reframe(frame: memoryview) -> bytes:
    """Rewrite an LZ4 frame of independent blocks with Java's header and without checksums."""
    if bytes(frame[:4]) != _LZ4_MAGIC:
        raise ValueError("not an LZ4 frame")
    flg = frame[4]
    if not flg & 0x20:
        raise ValueError("LZ4 frame with dependent blocks: Kafka readers reject it")
    pos = 7 + (8 if flg & 0x08 else 0)  # magic, FLG, BD, [content size], HC
    block_checksum = 4 if flg & 0x10 else 0
    parts: list[bytes | memoryview] = [_LZ4_HEADER]
    while True:
        (word,) = _U32.unpack_from(frame, pos)
        if word == 0:
            break
        size = word & ~_LZ4_RAW
        parts.append(frame[pos : pos + 4 + size])
        pos += 4 + size + block_checksum
    parts.append(b"\x00\x00\x00\x00")
    return b"".join(parts)


def compressor(codec: int, level: int | None = None) -> Compressor:
    """A function that compresses a batch's record section with ``codec`` at ``level``
    (``None``: Java's default level for the codec)."""
    if codec == GZIP:
        gzip_level = 6 if level is None or level == -1 else level

        def gzip(data: Data) -> bytes:
            z = zlib.compressobj(gzip_level, zlib.DEFLATED, 31)  # wbits 16+15: a gzip member
            return z.compress(data) + z.flush()

        return gzip
    if codec == SNAPPY:
        # Raw snappy, as librdkafka and franz-go send; brokers accept it beside Java's xerial frames.
        snappy = cramjam.snappy.compress_raw
        return lambda data: bytes(snappy(data))
    if codec == LZ4:
        lz4_level = DEFAULT_LEVEL[LZ4] if level is None else level
        # Java: the default level uses the fast compressor, any other the HC one.
        return _lz4_fast if lz4_level == DEFAULT_LEVEL[LZ4] else _lz4_hc(lz4_level)
    if codec == ZSTD:
        zstd_level = DEFAULT_LEVEL[ZSTD] if level is None else level
        zstd = cramjam.zstd.compress
        return lambda data: bytes(zstd(data, level=zstd_level))
    raise ValueError(f"unknown compression codec id {codec}")


_XERIAL_MAGIC = b"\x82SNAPPY\x00"


def decompress(codec: int, data: Data) -> bytes:
    """Inverse of :func:`compressor`, accepting every framing brokers accept."""
    data = bytes(data)
    if codec == GZIP:
        return zlib.decompress(data, 47)  # 32+15: gzip or zlib header, detected
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
        return bytes(cramjam.lz4.decompress(data))
    if codec == ZSTD:
        return bytes(cramjam.zstd.decompress(data))
    raise ValueError(f"unknown compression codec id {codec}")
