from __future__ import annotations

import pytest

from josef import int32_serializer, int_serializer, json_serializer, string_serializer
from josef.errors import SerializationError
from josef.serialization import normalize_headers, to_bytes


def test_default_serializer() -> None:
    assert to_bytes(b"x") == b"x"
    assert to_bytes("é") == "é".encode()
    assert to_bytes(bytearray(b"ab")) == b"ab"
    assert to_bytes(None) is None
    with pytest.raises(SerializationError, match="cannot send a dict without a serializer"):
        to_bytes({"a": 1})


def test_builtin_serializers() -> None:
    assert json_serializer({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert json_serializer(None) is None
    assert int_serializer(-2) == b"\xff" * 7 + b"\xfe"
    assert int32_serializer(258) == b"\x00\x00\x01\x02"
    assert string_serializer("x") == b"x"
    with pytest.raises(SerializationError):
        int32_serializer(2**31)
    with pytest.raises(SerializationError):
        json_serializer({1, 2})
    with pytest.raises(SerializationError):
        string_serializer(b"x")


def test_headers_as_pairs_or_mapping() -> None:
    assert normalize_headers([("a", b"1"), ("a", None), ("b", "2")]) == [(b"a", b"1"), (b"a", None), (b"b", b"2")]
    assert normalize_headers({"k": b"v"}) == [(b"k", b"v")]
    with pytest.raises(SerializationError, match="header key must be a str"):
        normalize_headers([(b"k", b"v")])
    with pytest.raises(SerializationError, match="value must be bytes"):
        normalize_headers([("k", 5)])


def test_serializer_classes_match_java_layouts() -> None:
    from josef import BytesSerializer, IntegerSerializer, JsonSerializer, LongSerializer, Serializer, StringSerializer

    assert IntegerSerializer().serialize("t", [], -1) == b"\xff\xff\xff\xff"
    assert LongSerializer()(1) == b"\x00" * 7 + b"\x01"
    assert StringSerializer("utf-16-be").serialize("t", [], "é") == "é".encode("utf-16-be")
    assert JsonSerializer()({"a": None}) == b'{"a":null}'
    assert BytesSerializer()(bytearray(b"x")) == b"x"
    assert isinstance(LongSerializer(), Serializer)
    with pytest.raises(SerializationError, match="StringSerializer expects a str"):
        StringSerializer()(5)
    with pytest.raises(SerializationError, match="cannot encode"):
        StringSerializer("ascii")("é")
    with pytest.raises(LookupError):
        StringSerializer("no-such-codec")


def test_serializer_config_values() -> None:
    from josef.serialization import LongSerializer, StringSerializer, resolve_serializer, split_serializer

    assert isinstance(resolve_serializer("k", "org.apache.kafka.common.serialization.LongSerializer"), LongSerializer)
    assert isinstance(resolve_serializer("k", "josef.serialization.StringSerializer"), StringSerializer)
    assert resolve_serializer("k", "josef.json_serializer") is json_serializer
    with pytest.raises(ValueError, match="value.serializer: cannot load 'josef.nope'"):
        resolve_serializer("value.serializer", "josef.nope")
    with pytest.raises(ValueError, match="expected a callable"):
        resolve_serializer("value.serializer", 5)

    class Contextual:
        def serialize(self, topic: str, headers: list[tuple[str, bytes | None]], data: object) -> bytes:
            headers.append(("topic", topic.encode()))
            return repr(data).encode()

    plain, in_context = split_serializer(Contextual())
    assert plain is None and in_context is not None
    headers: list[tuple[str, bytes | None]] = []
    assert in_context("orders", headers, 7) == b"7" and headers == [("topic", b"orders")]
    assert split_serializer(LongSerializer())[1] is None  # built-ins stay on the fast path


def test_contextual_serializer_sees_topic_and_adds_headers() -> None:
    from josef import Producer
    from josef.testing import MockCluster

    class Tagging:
        def serialize(self, topic: str, headers: list[tuple[str, bytes | None]], data: object) -> bytes:
            headers.append(("schema", b"v1"))
            return f"{topic}:{data}".encode()

    with MockCluster(topics={"t": 1}) as cluster:
        with Producer(bootstrap_servers=cluster.bootstrap_servers, value_serializer=Tagging()) as producer:
            producer.send("t", 5, headers={"a": b"1"}).result(10)
            for raw in (b"r1", b"r2", b"r3"):  # bytes into an open batch: never the C shortcut that skips serializers
                producer.send("t", raw)
            assert producer.flush(10) == 0
        first, *rest = cluster.records("t", 0)
    assert first.value == b"t:5"
    assert first.headers == [("a", b"1"), ("schema", b"v1")]
    assert [(r.value, r.headers) for r in rest] == [(f"t:{raw!r}".encode(), [("schema", b"v1")])
                                                    for raw in (b"r1", b"r2", b"r3")]
