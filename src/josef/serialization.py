"""Key and value serializers.

A serializer is either a plain callable ``obj -> bytes | None`` (the fast path) or an object
with Java's ``serialize(topic, headers, data) -> bytes | None`` (the :class:`Serializer`
protocol), for serializers that need the topic or headers, such as Schema Registry ones
(see :mod:`josef.schema_registry`). ``headers`` is the record's mutable list of
``(str, bytes | None)`` pairs: a serializer may append to it.

The default accepts ``bytes``-like objects as they are and encodes ``str`` as UTF-8; anything
else is a ``SerializationError`` raised from ``send()``, so a mistake never reaches the broker.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from josef.errors import SerializationError

Headers = list[tuple[str, "bytes | None"]]
PlainSerializer = Callable[[Any], "bytes | None"]


@runtime_checkable
class Serializer(Protocol):
    """Java's ``Serializer<T>``: the topic and the record's headers come with the data."""

    def serialize(self, topic: str, headers: Headers, data: Any) -> bytes | None: ...


def to_bytes(obj: Any) -> bytes | None:
    """The default: bytes as they are, str as UTF-8, None as null."""
    if obj is None or type(obj) is bytes:
        return obj
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise SerializationError(
        f"cannot send a {type(obj).__name__} without a serializer: pass bytes or str, "
        "or set key.serializer / value.serializer (e.g. josef.json_serializer)"
    )


def json_serializer(obj: Any) -> bytes | None:
    """JSON text in UTF-8; ``None`` stays null (a tombstone), not ``b"null"``."""
    if obj is None:
        return None
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"cannot serialize {type(obj).__name__} as JSON: {exc}") from exc


def int_serializer(obj: Any) -> bytes | None:
    """A signed 64-bit big-endian integer, as Java's ``LongSerializer`` writes it."""
    if obj is None:
        return None
    if not isinstance(obj, int) or isinstance(obj, bool):
        raise SerializationError(f"int_serializer expects an int, got {type(obj).__name__}")
    try:
        return obj.to_bytes(8, "big", signed=True)
    except OverflowError:
        raise SerializationError(f"{obj} does not fit in a signed 64-bit integer") from None


def int32_serializer(obj: Any) -> bytes | None:
    """A signed 32-bit big-endian integer, as Java's ``IntegerSerializer`` writes it."""
    if obj is None:
        return None
    if not isinstance(obj, int) or isinstance(obj, bool):
        raise SerializationError(f"int32_serializer expects an int, got {type(obj).__name__}")
    try:
        return obj.to_bytes(4, "big", signed=True)
    except OverflowError:
        raise SerializationError(f"{obj} does not fit in a signed 32-bit integer") from None


def string_serializer(obj: Any) -> bytes | None:
    """UTF-8 text; refuses non-str values instead of guessing."""
    if obj is None:
        return None
    if not isinstance(obj, str):
        raise SerializationError(f"string_serializer expects a str, got {type(obj).__name__}")
    return obj.encode()


class _Builtin:
    """A built-in serializer: a plain callable (the fast path) that is also a :class:`Serializer`."""

    convert: PlainSerializer

    def __call__(self, data: Any) -> bytes | None:
        return self.convert(data)

    def serialize(self, topic: str, headers: Headers, data: Any) -> bytes | None:
        return self.convert(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BytesSerializer(_Builtin):
    """bytes-like objects as they are (Java's ``ByteArraySerializer``)."""

    @staticmethod
    def convert(data: Any) -> bytes | None:
        if data is None or type(data) is bytes:
            return data
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        raise SerializationError(f"BytesSerializer expects bytes, got {type(data).__name__}")


class StringSerializer(_Builtin):
    """Text in ``encoding`` (UTF-8 by default, as Java's ``StringSerializer``)."""

    def __init__(self, encoding: str = "utf-8") -> None:
        "".encode(encoding)  # an unknown encoding fails here, not on the first send
        self.encoding = encoding

    def convert(self, data: Any) -> bytes | None:
        if data is None:
            return None
        if not isinstance(data, str):
            raise SerializationError(f"StringSerializer expects a str, got {type(data).__name__}")
        try:
            return data.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise SerializationError(f"cannot encode the text as {self.encoding}: {exc}") from exc


class JsonSerializer(_Builtin):
    """JSON text in UTF-8; ``None`` stays null (a tombstone)."""

    convert = staticmethod(json_serializer)


class IntegerSerializer(_Builtin):
    """4-byte big-endian signed ints (Java's ``IntegerSerializer``)."""

    convert = staticmethod(int32_serializer)


class LongSerializer(_Builtin):
    """8-byte big-endian signed ints (Java's ``LongSerializer``)."""

    convert = staticmethod(int_serializer)


# Java class names accepted in key.serializer / value.serializer, mapped to josef's.
JAVA_SERIALIZERS: dict[str, type[_Builtin]] = {
    "org.apache.kafka.common.serialization.ByteArraySerializer": BytesSerializer,
    "org.apache.kafka.common.serialization.BytesSerializer": BytesSerializer,
    "org.apache.kafka.common.serialization.ByteBufferSerializer": BytesSerializer,
    "org.apache.kafka.common.serialization.StringSerializer": StringSerializer,
    "org.apache.kafka.common.serialization.IntegerSerializer": IntegerSerializer,
    "org.apache.kafka.common.serialization.LongSerializer": LongSerializer,
}


def load_object(path: str, what: str) -> Any:
    """``package.module.Name`` (or ``package.module:Name``) imported; a class is instantiated."""
    module_name, sep, attr = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what}: {path!r} is not a dotted path (package.module.Name)")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what}: cannot load {path!r}: {exc}") from None
    return obj() if isinstance(obj, type) else obj


def resolve_serializer(key: str, value: Any) -> Any:
    """A ``key.serializer`` / ``value.serializer`` value as an object: callables and
    :class:`Serializer` objects as they are, Java class names mapped to josef's built-ins,
    dotted paths imported (classes instantiated)."""
    if value is None:
        return None
    if isinstance(value, str):
        builtin = JAVA_SERIALIZERS.get(value.strip())
        if builtin is None and "." not in value.strip(":"):
            raise ValueError(
                f"{key}: expected a callable, got str {value!r} (strings name a dotted path, package.module.Name, "
                "or a Java serializer class)"
            )
        value = builtin() if builtin is not None else load_object(value.strip(), key)
    elif isinstance(value, type):
        value = value()
    if not callable(value) and not isinstance(value, Serializer):
        raise ValueError(
            f"{key}: expected a callable, got {type(value).__name__} {value!r} (or an object with "
            "serialize(topic, headers, data), or a dotted path)"
        )
    return value


ContextSerializer = Callable[[str, Headers, Any], "bytes | None"]


def split_serializer(serializer: Any) -> tuple[PlainSerializer | None, ContextSerializer | None]:
    """(one-argument callable, None) for the fast path, or (None, ``serialize``) for a
    serializer that needs the topic and headers."""
    if serializer is None:
        return None, None
    if isinstance(serializer, _Builtin) or not isinstance(serializer, Serializer):
        return serializer, None
    return None, serializer.serialize


Header = tuple[str, "bytes | None"]


def normalize_headers(headers: Any) -> list[tuple[bytes, bytes | None]]:
    """Headers as ``(key, value)`` pairs or a mapping; keys are text, values bytes/str/None."""
    try:
        if isinstance(headers, (str, bytes)):
            raise TypeError(f"got a {type(headers).__name__}")
        items = headers.items() if isinstance(headers, dict) else headers
        out: list[tuple[bytes, bytes | None]] = []
        for key, value in items:
            if not isinstance(key, str):
                raise _header_error(f"header key must be a str, got {type(key).__name__} {key!r}")
            if value is None or type(value) is bytes:
                out.append((key.encode(), value))
            elif isinstance(value, str):
                out.append((key.encode(), value.encode()))
            elif isinstance(value, (bytearray, memoryview)):
                out.append((key.encode(), bytes(value)))
            else:
                raise _header_error(
                    f"header {key!r}: value must be bytes, str or None, got {type(value).__name__}"
                )
    except UnicodeEncodeError as exc:
        raise _header_error(
            f"headers: a str that cannot be encoded as UTF-8 ({exc.reason}: "
            f"{exc.object[exc.start : exc.end]!r} at index {exc.start})"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise _header_error(f"headers must be (str, bytes) pairs or a mapping: {exc}") from exc
    return out


def _header_error(message: str) -> SerializationError:
    error = SerializationError(message)
    error.field = "headers"
    return error
