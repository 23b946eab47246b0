"""Key and value serializers.

A serializer is any callable ``obj -> bytes | None``. The default accepts ``bytes``-like
objects as they are and encodes ``str`` as UTF-8; anything else is a ``SerializationError``
raised from ``send()``, so a mistake never reaches the broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from josef.errors import SerializationError

Serializer = Callable[[Any], "bytes | None"]


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
