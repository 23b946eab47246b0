"""Checks on ``send()``'s arguments: what the wire cannot carry is refused in the caller's thread.

``send()`` keeps its fast path to a couple of ``type(x) is int`` tests; these functions run only
when such a test fails, and either return the value normalised (an ``int`` subclass or a numpy
integer for a partition) or raise an error that names the argument. A type mistake raises
``TypeError``, a value out of range ``ValueError``, and every failure to turn a key, value or
header into bytes a :class:`~josef.errors.SerializationError` saying which one: nothing invalid
ever reaches the sender thread.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from josef.errors import SerializationError

INT64_MAX = 2**63 - 1
MAX_TOPIC_LENGTH = 249  # Kafka's limit (topic names are also file names on the broker)
_LEGAL_TOPIC = re.compile(r"[A-Za-z0-9._-]+")


def check_topic(topic: Any) -> str:
    """A topic name Kafka accepts (checked the first time a topic is seen)."""
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a str, got {type(topic).__name__} {topic!r}")
    if topic in ("", ".", ".."):
        raise ValueError(f"topic {topic!r} is not a valid topic name")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise ValueError(f"topic name is {len(topic)} characters long, longer than Kafka's {MAX_TOPIC_LENGTH}")
    if _LEGAL_TOPIC.fullmatch(topic) is None:
        raise ValueError(f"topic {topic!r} is not a valid topic name: use only ASCII letters, digits, '.', '_', '-'")
    return topic


def _as_int(name: str, value: Any, what: str) -> int:
    if isinstance(value, bool):  # an int subclass, but never meant as a number here
        raise TypeError(f"{name} must be an int ({what}), got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int ({what}), got {type(value).__name__} {value!r}") from None


def check_partition(partition: Any, topic: str, count: int) -> int:
    """An explicit partition: an int (not ``"0"``), and one the topic has."""
    number = _as_int("partition", partition, "a partition number")
    if not 0 <= number < count:
        raise ValueError(
            f"partition {number} does not exist: topic {topic!r} has {count} partitions (0..{count - 1})"
        )
    return number


def check_timestamp(timestamp_ms: Any, name: str = "timestamp_ms") -> int:
    """A record timestamp: milliseconds since the epoch, 0 <= t < 2**63 (the wire's int64; the
    Java client refuses negative timestamps too). ``name`` is the argument's, for the message."""
    number = _as_int(name, timestamp_ms, "milliseconds since the epoch")
    if not 0 <= number <= INT64_MAX:
        raise ValueError(f"{name} must be in [0, 2**63 - 1] (ms since the epoch, an int64), got {number}")
    return number


def check_callback(callback: Any) -> None:
    if not callable(callback):
        raise TypeError(
            f"callback must be callable as callback(metadata, exception), got {type(callback).__name__}"
        )


def serialization_failed(field: str, obj: Any, exc: BaseException) -> SerializationError:
    """The error for a ``field`` ("key" or "value") that could not be serialized, naming it."""
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end]
        message = (
            f"{field}: a str that cannot be encoded as UTF-8 ({exc.reason}: {bad!r} at index {exc.start}); "
            "pass bytes or a valid str"
        )
    elif isinstance(exc, SerializationError):
        message = f"{field}: {exc}"
    else:
        message = f"{field}: the {field} serializer raised {type(exc).__name__}: {exc}"
    error = SerializationError(message)
    error.field = field
    return error
