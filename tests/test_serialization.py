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
