"""Compression (issue 3): framing per codec, levels, and a real broker plus consumers we did not write.

Unit part: the LZ4 frame is Java's byte for byte (header checksum recomputed here with an
independent xxh32), the other codecs' framings, levels, and compressed batches that decode.

Real-broker part (session ``kafka`` fixture): josef produces mixed records (0 B to 100 KiB,
null keys and values, headers, binary and text) with every codec at several levels; they are
read back and compared record by record with
  * confluent-kafka's consumer (librdkafka): key, value, headers, timestamp, at the offset
    josef's future reported, for every record;
  * Java's KafkaConsumer from the broker's own jars (a small program run by ``java``): key,
    SHA-256 and length of the value, headers and timestamp, for every record;
  * Java's ConsoleConsumer (default levels): partition, offset, key and headers of every record
    (values are binary, which its text output cannot show unambiguously: the KafkaConsumer
    program above checks them);
and a raw Fetch shows the codec of the batches the broker stored. Also: broker recompression
(topic ``compression.type`` different from the producer's), split-and-retry of a batch the
broker refuses as too large after compression, and a broker too old for zstd.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import pytest

from josef import Producer
from josef._core import compression
from josef._core.protocol import ApiKey, FrameReader, decode_response, encode_request
from josef._core.records import decode_batches, encode_batch, header_bytes
from josef.config import ProducerConfig
from josef.errors import UnsupportedVersionError
from tests.harness.kafka import KafkaEndpoint, run_tool

CODEC = compression.CODEC_IDS

# ---------------------------------------------------------------------------------------------
# Unit: framing and levels


def _xxh32(data: bytes, seed: int = 0) -> int:
    """XXH32, written from the xxHash specification (only to check the LZ4 header checksum)."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    n, pos = len(data), 0
    if n >= 16:
        acc = [(seed + p1 + p2) & mask, (seed + p2) & mask, seed & mask, (seed - p1) & mask]
        while pos + 16 <= n:
            for i in range(4):
                (lane,) = struct.unpack_from("<I", data, pos + 4 * i)
                acc[i] = (rotl((acc[i] + lane * p2) & mask, 13) * p1) & mask
            pos += 16
        h = (rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18)) & mask
    else:
        h = (seed + p5) & mask
    h = (h + n) & mask
    while pos + 4 <= n:
        (word,) = struct.unpack_from("<I", data, pos)
        h = (rotl((h + word * p3) & mask, 17) * p4) & mask
        pos += 4
    while pos < n:
        h = (rotl((h + data[pos] * p5) & mask, 11) * p1) & mask
        pos += 1
    h ^= h >> 15
    h = (h * p2) & mask
    h ^= h >> 13
    h = (h * p3) & mask
    h ^= h >> 16
    return h


def test_xxh32_reference_vectors() -> None:
    assert _xxh32(b"") == 0x02CC5D05
    assert _xxh32(b"a") == 0x550D7456
    assert _xxh32(b"abc") == 0x32D153FF
    assert _xxh32(b"Nobody inspects the spammish repetition") == 0xE2293B2F


def test_lz4_header_is_javas_with_a_correct_checksum() -> None:
    frame = compression.compressor(CODEC["lz4"])(b"hello kafka " * 100)
    magic, flg, bd, hc = frame[:4], frame[4], frame[5], frame[6]
    assert magic == b"\x04\x22\x4d\x18"
    assert flg == 0x60  # version 01, independent blocks, no block/content checksum, no content size
    assert bd == 0x40  # 64 KiB blocks
    assert hc == (_xxh32(bytes([flg, bd])) >> 8) & 0xFF == 0x82
    # Kafka < 0.10 hashed the magic too (KAFKA-3160); that broken byte is what we must NOT write.
    assert (_xxh32(frame[:6]) >> 8) & 0xFF == 0x1A != hc


def _lz4_blocks(frame: bytes) -> list[tuple[bool, bytes]]:
    """(stored raw?, block bytes) of a Java-style LZ4 frame; asserts the framing on the way."""
    assert frame[:7] == bytes.fromhex("04224d18604082")
    pos, blocks = 7, []
    while True:
        (word,) = struct.unpack_from("<I", frame, pos)
        pos += 4
        if word == 0:
            break
        size = word & 0x7FFFFFFF
        blocks.append((bool(word & 0x80000000), frame[pos : pos + size]))
        pos += size
    assert pos == len(frame), "bytes after the end mark"
    return blocks


@pytest.mark.parametrize("level", [1, 9, 12, 17])
def test_lz4_frame_blocks(level: int) -> None:
    rnd = random.Random(level)
    text = b"".join(b"record %d says hello; " % i for i in range(8000))  # ~190 KiB, compressible
    noise = rnd.randbytes(150_000)  # incompressible: stored raw
    data = text + noise
    frame = compression.compressor(CODEC["lz4"], level)(data)
    blocks = _lz4_blocks(frame)
    assert len(blocks) == -(-len(data) // 65536)
    out = b""
    for raw, block in blocks:
        chunk = block if raw else bytes(cramjam.lz4.decompress_block(block, output_len=65536))
        assert len(chunk) <= 65536
        out += chunk
    assert out == data
    assert not blocks[0][0] and blocks[-1][0], "compressible block compressed, random one stored raw"
    assert compression.decompress(CODEC["lz4"], frame) == data


def test_lz4_levels_follow_java() -> None:
    """Java: level 9 (default) is LZ4's fast compressor, every other level LZ4 HC."""
    rnd = random.Random(3)
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf"]
    data = b" ".join(rnd.choice(words) + b"%d" % rnd.randrange(1000) for _ in range(40_000))
    fast = compression.compressor(CODEC["lz4"])(data)
    assert fast == compression.compressor(CODEC["lz4"], 9)(data)
    hc = {level: compression.compressor(CODEC["lz4"], level)(data) for level in (1, 4, 12, 17)}
    for level, frame in hc.items():
        assert len(frame) < len(fast), level
        assert compression.decompress(CODEC["lz4"], frame) == data
    assert len(hc[12]) <= len(hc[4])


def test_other_framings() -> None:
    data = b"the same words again and again " * 500
    gz = compression.compressor(CODEC["gzip"])(data)
    assert gz[:3] == b"\x1f\x8b\x08" and zlib.decompress(gz, 31) == data  # one gzip member
    zs = compression.compressor(CODEC["zstd"])(data)
    assert zs[:4] == b"\x28\xb5\x2f\xfd" and bytes(cramjam.zstd.decompress(zs)) == data
    sn = compression.compressor(CODEC["snappy"])(data)
    assert not sn.startswith(b"\x82SNAPPY\x00")  # raw snappy, as librdkafka sends
    assert bytes(cramjam.snappy.decompress_raw(sn)) == data
    # the decoder also reads the xerial framing Java's producer writes
    half = len(data) // 2
    blocks = [bytes(cramjam.snappy.compress_raw(part)) for part in (data[:half], data[half:])]
    xerial = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + b"".join(struct.pack(">i", len(b)) + b for b in blocks)
    assert compression.decompress(CODEC["snappy"], xerial) == data


@pytest.mark.parametrize(("codec", "low", "high"), [("gzip", 1, 9), ("zstd", -5, 19)])
def test_levels_trade_size(codec: str, low: int, high: int) -> None:
    rnd = random.Random(5)
    data = b",".join(b'{"user":%d,"event":"%s"}' % (rnd.randrange(10**6), rnd.choice([b"a", b"bb", b"ccc"]))
                     for _ in range(20_000))
    small = compression.compressor(CODEC[codec], high)(data)
    big = compression.compressor(CODEC[codec], low)(data)
    assert len(small) < len(big)
    for blob in (small, big):
        assert compression.decompress(CODEC[codec], blob) == data


def test_compressors_take_any_buffer() -> None:
    data = b"abc" * 10_000
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        for level in ([None, 1] if codec != "snappy" else [None]):
            compress = compression.compressor(CODEC[codec], level)
            outs = {bytes(compress(data)), bytes(compress(bytearray(data))), bytes(compress(memoryview(data)))}
            assert len(outs) == 1 and compression.decompress(CODEC[codec], outs.pop()) == data


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("compression.gzip.level", 10), ("compression.gzip.level", -2),
        ("compression.lz4.level", 0), ("compression.lz4.level", 18),
        ("compression.zstd.level", 23), ("compression.zstd.level", -131073),
    ],
)
def test_invalid_levels_name_the_key(key: str, value: int) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        ProducerConfig.from_user({"bootstrap.servers": "127.0.0.1:9092", key: value})


def test_java_default_levels() -> None:
    cfg = ProducerConfig.from_user({"bootstrap.servers": "127.0.0.1:9092"})
    assert cfg["compression.type"] == "none"
    assert (cfg["compression.gzip.level"], cfg["compression.lz4.level"], cfg["compression.zstd.level"]) == (-1, 9, 3)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batch_is_smaller_and_decodes(codec: str) -> None:
    """The batch header stays uncompressed, the codec bits are set, the CRC covers the compressed
    form, and ``encode_batch`` reports the uncompressed size (the sender keeps it as
    ``batch.raw_size`` for compression-rate-avg)."""
    ts = 1_700_000_000_000
    records = [
        (ts + i, b"key-%d" % i if i % 3 else None, b'{"n":%d,"text":"%s"}' % (i, b"lorem ipsum " * (i % 20)),
         header_bytes([(b"h", b"%d" % i)]) if i % 2 else None)
        for i in range(300)
    ]
    encoded, raw_size = encode_batch(records, base_timestamp=ts, max_timestamp=ts + 299, producer_id=7,
                                     producer_epoch=0, base_sequence=0, codec=CODEC[codec],
                                     compress=compression.compressor(CODEC[codec]))
    plain, plain_raw = encode_batch(records, base_timestamp=ts, max_timestamp=ts + 299, producer_id=7,
                                    producer_epoch=0, base_sequence=0)
    assert raw_size == plain_raw == len(plain) - 61
    assert len(encoded) - 61 < raw_size / 3
    (batch,) = decode_batches(encoded, verify_crc=True)
    assert batch.codec == CODEC[codec]
    assert struct.unpack_from(">i", encoded, 57)[0] == 300  # record count stays in the header
    (plain_batch,) = decode_batches(plain)
    assert batch.records == plain_batch.records


# ---------------------------------------------------------------------------------------------
# Real broker helpers

JAVA_DIGEST = r"""
import java.security.MessageDigest;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** Reads a whole topic with Java's KafkaConsumer; one line per record:
 *  partition offset timestamp key(hex|-) value(len:sha256|-) h<headerkey=value(hex|-),...> */
public class JosefDigest {
    static final char[] HEX = "0123456789abcdef".toCharArray();
    static String hex(byte[] b) {
        if (b == null) return "-";
        char[] c = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) { c[2 * i] = HEX[(b[i] >> 4) & 15]; c[2 * i + 1] = HEX[b[i] & 15]; }
        return "x" + new String(c);
    }
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        String topic = args[1];
        long expected = Long.parseLong(args[2]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[3]);
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        StringBuilder out = new StringBuilder(1 << 20);
        long count = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            consumer.partitionsFor(topic).forEach(i -> parts.add(new TopicPartition(topic, i.partition())));
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            while (count < expected && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    out.append(r.partition()).append(' ').append(r.offset()).append(' ').append(r.timestamp());
                    out.append(' ').append(hex(r.key())).append(' ');
                    byte[] v = r.value();
                    out.append(v == null ? "-" : v.length + ":" + hex(sha.digest(v))).append(" h");
                    for (Header h : r.headers()) {
                        out.append(hex(h.key().getBytes("UTF-8"))).append('=').append(hex(h.value())).append(',');
                    }
                    out.append('\n');
                    count++;
                }
                System.out.print(out);
                out.setLength(0);
            }
        }
        System.out.flush();
    }
}
"""


@dataclass(frozen=True)
class Rec:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int


def make_records(count: int, seed: int) -> list[Rec]:
    """Mixed records: sizes 0 B to 100 KiB (mostly small), null and empty keys and values,
    headers (also null and empty values), text, random printable and random binary values,
    timestamps out of order. Keys and headers are printable (so ConsoleConsumer prints them
    unambiguously); values are any bytes."""
    rnd = random.Random(seed)
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel", b"{", b"}", b'"']
    text = b" ".join(rnd.choice(words) + str(rnd.randrange(500)).encode() for _ in range(60_000))
    printable = bytes(rnd.randrange(33, 127) for _ in range(300_000))
    binary = rnd.randbytes(300_000)
    now = int(time.time() * 1000)
    out = []
    for i in range(count):
        r = rnd.random()
        if r < 0.03:
            value = None
        elif r < 0.06:
            value = b""
        else:
            if r < 0.70:
                size = rnd.randrange(1, 200)
            elif r < 0.97:
                size = rnd.randrange(200, 2000)
            elif r < 0.998:
                size = rnd.randrange(2000, 20_000)
            else:
                size = rnd.randrange(20_000, 102_400)
            if i == 7:
                size = 102_400  # exactly 100 KiB at least once
            kind = rnd.random()
            pool = text if kind < 0.6 else printable if kind < 0.8 else binary
            start = rnd.randrange(0, len(pool) - size)
            value = pool[start : start + size]
        k = rnd.random()
        key = None if k < 0.4 else b"" if k < 0.45 else b"key-%d" % rnd.randrange(5000)
        h = rnd.random()
        headers: tuple[tuple[str, bytes | None], ...] = ()
        if h < 0.2:
            headers = (("trace", b"t%d" % i),)
        elif h < 0.3:
            headers = (("a", b"1"), ("nul", None), ("empty", b""), ("a", b"2"))
        out.append(Rec(key, value, headers, now - rnd.randrange(0, 60_000)))
    return out


@dataclass
class Produced:
    where: dict[tuple[int, int], Rec]  # (partition, offset) -> record
    batches: list[tuple[int, int, int, int]]  # (codec attribute, records, raw size, encoded size)
    split_batches: int


def produce(kafka: KafkaEndpoint, topic: str, records: list[Rec], config: dict[str, Any]) -> Produced:
    batches: list[tuple[int, int, int, int]] = []
    with Producer({"bootstrap.servers": kafka.bootstrap_servers, **config}) as producer:
        sender = producer._sender

        def on_request(_node: int, sent: list[Any]) -> None:
            for b in sent:
                assert b.encoded is not None
                attributes = struct.unpack_from(">h", b.encoded, 21)[0]
                batches.append((attributes & 7, b.count, b.raw_size, len(b.encoded)))

        sender.on_request = on_request
        futures = [
            producer.send(topic, r.value, r.key, headers=list(r.headers), timestamp_ms=r.timestamp) for r in records
        ]
        assert producer.flush(120) == 0
        metas = [f.result(0) for f in futures]
        split = sender.split_batches
    where = {}
    for meta, rec in zip(metas, records, strict=True):
        assert (meta.partition, meta.offset) not in where, "two records at one offset"
        where[(meta.partition, meta.offset)] = rec
    return Produced(where, batches, split)


def check_confluent(kafka: KafkaEndpoint, topic: str, produced: Produced) -> None:
    messages = kafka.consume_all(topic, len(produced.where), timeout=120, config={"fetch.max.bytes": 8 << 20})
    assert len(messages) == len(produced.where)
    for m in messages:
        rec = produced.where[(m.partition(), m.offset())]
        assert m.key() == rec.key and m.value() == rec.value, (m.partition(), m.offset())
        assert tuple(m.headers() or ()) == rec.headers, (m.partition(), m.offset())
        assert m.timestamp() == (1, rec.timestamp)  # CreateTime


def _hex(b: bytes | None) -> str:
    return "-" if b is None else "x" + b.hex()


def digest_line(partition: int, offset: int, rec: Rec) -> str:
    value = "-" if rec.value is None else f"{len(rec.value)}:x{hashlib.sha256(rec.value).hexdigest()}"
    headers = "".join(f"{_hex(k.encode())}={_hex(v)}," for k, v in rec.headers)
    return f"{partition} {offset} {rec.timestamp} {_hex(rec.key)} {value} h{headers}"


@pytest.fixture(scope="session")
def java_digest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("java") / "JosefDigest.java"
    path.write_text(JAVA_DIGEST)
    return path


def check_java(kafka: KafkaEndpoint, java_digest: Path, topic: str, produced: Produced) -> None:
    """Every record through Java's KafkaConsumer (run as a single-file program)."""
    out = run_tool(str(java_digest), kafka.bootstrap_servers, topic, str(len(produced.where)), "120000",
                   timeout=240, version=kafka.version)
    lines = out.stdout.splitlines()
    assert len(lines) == len(produced.where), out.stderr[-2000:]
    expected = {digest_line(p, o, rec) for (p, o), rec in produced.where.items()}
    assert len(expected) == len(lines)
    missing = expected.difference(lines)
    assert not missing, f"{len(missing)} records differ in Java, e.g. {sorted(missing)[:3]}"


def _console_header(headers: tuple[tuple[str, bytes | None], ...]) -> str:
    if not headers:
        return "NO_HEADERS"
    return ",".join(f"{k}:{'null' if v is None else v.decode()}" for k, v in headers)


def check_console_consumer(kafka: KafkaEndpoint, topic: str, produced: Produced) -> None:
    """Java's ConsoleConsumer: partition, offset, key and headers of every record (values are
    binary: its text output cannot show them unambiguously; ``check_java`` hashes them)."""
    props = {"print.partition": True, "print.offset": True, "print.key": True, "print.headers": True,
             "print.value": False}
    lines = kafka.console_consume(topic, len(produced.where), timeout_ms=30_000, properties=props)
    expected = {
        f"Partition:{p}\tOffset:{o}\t{_console_header(rec.headers)}\t"
        + ("null" if rec.key is None else rec.key.decode())
        for (p, o), rec in produced.where.items()
    }
    got = [line for line in lines if line.startswith("Partition:")]
    assert len(got) == len(produced.where)
    assert set(got) == expected


class RawConnection:
    """A blocking socket for one raw Fetch: to see the batches the broker stored."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.reader = FrameReader()

    def call(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(encode_request(api_key, version, 1, "josef-compression-test", body))
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(1 << 20)
            assert data, "broker closed the connection"
            self.reader.feed(data)
        return decode_response(api_key, version, frame)[1]

    def close(self) -> None:
        self.sock.close()


def stored_codecs(kafka: KafkaEndpoint, topic: str, partitions: int) -> set[int]:
    """Codec ids of the first batches the broker stored in each partition (Fetch v12, whole
    batches only, CRC checked, decompressed by josef's decoder)."""
    conn = RawConnection(kafka.bootstrap_servers)
    try:
        parts = [{"partition": p, "fetch_offset": 0, "partition_max_bytes": 1 << 20} for p in range(partitions)]
        body = conn.call(ApiKey.FETCH, 12, {"max_wait_ms": 100, "min_bytes": 1, "isolation_level": 0,
                                             "topics": [{"topic": topic, "partitions": parts}]})
    finally:
        conn.close()
    codecs = set()
    for part in body["responses"][0]["partitions"]:
        assert part["error_code"] == 0
        data = bytes(part["records"] or b"")
        pos = 0
        while pos + 61 <= len(data):
            end = pos + 12 + struct.unpack_from(">i", data, pos + 8)[0]
            if end > len(data):
                break  # the fetch cut the last batch
            (batch,) = decode_batches(data[pos:end], verify_crc=True)
            codecs.add(batch.codec)
            pos = end
    return codecs


@pytest.fixture
def topic(kafka: KafkaEndpoint, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"compression-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        kafka.delete_topic(name)  # the broker's log lives in memory: give it back
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------
# Real broker: every codec and level, read back by three consumers

ROUND_TRIPS = [
    # (codec, level or None for Java's default, records, ConsoleConsumer too)
    ("gzip", None, 50_000, True),
    ("snappy", None, 50_000, True),
    ("lz4", None, 50_000, True),
    ("zstd", None, 50_000, True),
    ("gzip", 1, 10_000, False),
    ("gzip", 9, 10_000, False),
    ("lz4", 1, 10_000, False),
    ("lz4", 12, 10_000, False),
    ("zstd", -5, 10_000, False),
    ("zstd", 19, 10_000, False),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("codec", "level", "count", "console"), ROUND_TRIPS,
                         ids=[f"{c}-{lv if lv is not None else 'default'}-{n}" for c, lv, n, _ in ROUND_TRIPS])
def test_round_trip(kafka: KafkaEndpoint, java_digest: Path, topic: str, codec: str, level: int | None,
                    count: int, console: bool) -> None:
    kafka.create_topic(topic, 3, config={"compression.type": "producer"})
    records = make_records(count, seed=zlib.crc32(f"{codec}{level}".encode()))
    config: dict[str, Any] = {"compression.type": codec, "linger.ms": 20}
    if level is not None:
        config[f"compression.{codec}.level"] = level
    produced = produce(kafka, topic, records, config)

    assert {b[0] for b in produced.batches} == {CODEC[codec]}
    assert sum(b[1] for b in produced.batches) == count
    # compressed smaller than raw overall (the data is 60% text); per-batch ratio for the metrics
    assert sum(b[3] - 61 for b in produced.batches) < 0.8 * sum(b[2] for b in produced.batches)
    assert stored_codecs(kafka, topic, 3) == {CODEC[codec]}

    check_confluent(kafka, topic, produced)
    check_java(kafka, java_digest, topic, produced)
    if console:
        check_console_consumer(kafka, topic, produced)


RECOMPRESSION = [("lz4", "zstd"), ("gzip", "snappy"), ("zstd", "gzip"), ("snappy", "lz4"), ("zstd", "uncompressed")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("producer_codec", "topic_codec"), RECOMPRESSION,
                         ids=[f"{a}-to-{b}" for a, b in RECOMPRESSION])
def test_broker_recompression(kafka: KafkaEndpoint, java_digest: Path, topic: str, producer_codec: str,
                              topic_codec: str) -> None:
    kafka.create_topic(topic, 2, config={"compression.type": topic_codec})
    records = make_records(5_000, seed=len(producer_codec) * 31 + len(topic_codec))
    produced = produce(kafka, topic, records, {"compression.type": producer_codec})
    assert {b[0] for b in produced.batches} == {CODEC[producer_codec]}
    assert stored_codecs(kafka, topic, 2) == {CODEC.get(topic_codec, compression.NONE)}
    check_confluent(kafka, topic, produced)
    check_java(kafka, java_digest, topic, produced)


# ---------------------------------------------------------------------------------------------
# Split and retry (KIP-126)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_batch_too_large_after_compression_is_split(kafka: KafkaEndpoint, topic: str, codec: str) -> None:
    """Incompressible values fill a 256 KiB batch that stays ~256 KiB compressed; the topic takes
    at most 20,000 bytes per batch. The batch is refused (MESSAGE_TOO_LARGE), split and sent in
    pieces: every record exactly once, in send order, at the offsets the futures report."""
    kafka.create_topic(topic, 1, config={"max.message.bytes": 20_000, "compression.type": "producer"})
    rnd = random.Random(11)
    now = int(time.time() * 1000)
    records = [Rec(b"k%d" % i, rnd.randbytes(rnd.randrange(500, 1500)), (("i", b"%d" % i),), now + i)
               for i in range(1_500)]
    produced = produce(kafka, topic, records, {
        "compression.type": codec, "batch.size": 262_144, "linger.ms": 200, "max.request.size": 4 << 20,
    })
    assert produced.split_batches >= 1
    assert any(b[3] > 20_000 for b in produced.batches), "no batch was too large: the test proves nothing"
    offsets = sorted(produced.where)
    assert [o for _, o in offsets] == list(range(len(records)))
    assert [produced.where[o] for o in offsets] == records  # in send order, each exactly once
    check_confluent(kafka, topic, produced)


# ---------------------------------------------------------------------------------------------
# A broker too old for zstd


@pytest.mark.timeout(120)
def test_zstd_needs_produce_v7(kafka: KafkaEndpoint, topic: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ApiVersions says Produce goes up to v6 (as a Kafka < 2.1 broker would): a zstd producer fails
    its records with a clear UnsupportedVersionError and writes nothing; lz4 still works."""
    import josef._core.connection

    negotiate = josef._core.connection.negotiate_version

    def old_broker(api_key: int, lo: int, hi: int) -> int | None:
        return negotiate(api_key, lo, min(hi, 6) if api_key == ApiKey.PRODUCE else hi)

    monkeypatch.setattr(josef._core.connection, "negotiate_version", old_broker)
    kafka.create_topic(topic, 1)
    with Producer({"bootstrap.servers": kafka.bootstrap_servers, "compression.type": "zstd"}) as producer:
        future = producer.send(topic, b"x" * 100)
        with pytest.raises(UnsupportedVersionError) as info:
            future.result(30)
    message = str(info.value)
    assert "zstd" in message and "Produce v7" in message and "v6" in message, message

    with Producer({"bootstrap.servers": kafka.bootstrap_servers, "compression.type": "lz4"}) as producer:
        assert producer.send(topic, b"y" * 100).result(30).offset == 0  # nothing was written before
    (only,) = kafka.consume_all(topic, 1, timeout=30)
    assert only.value() == b"y" * 100


def test_make_records_covers_the_edges() -> None:
    records = make_records(50_000, seed=1)
    sizes = [len(r.value) for r in records if r.value is not None]
    assert min(sizes) == 0 and max(sizes) == 102_400
    assert any(r.value is None for r in records) and any(r.key is None for r in records)
    assert any(r.key == b"" for r in records)
    assert any(("nul", None) in r.headers for r in records)
    assert sum(sizes) < 60 * 1024 * 1024
