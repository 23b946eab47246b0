"""The transactional API's public value types and the forms of input it accepts."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class OffsetAndMetadata(NamedTuple):
    """An offset to commit: the next record to consume (the consumer's position)."""

    offset: int
    metadata: str | None = None
    leader_epoch: int | None = None


class ConsumerGroupMetadata(NamedTuple):
    """The consumer group identity the offsets commit is checked against (KIP-447): a
    commit from a consumer that lost its partitions in a rebalance is refused."""

    group_id: str
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None


class TxnResult:
    """The outcome of one transactional call, completed by the sender thread."""

    __slots__ = ("_event", "error", "op")

    def __init__(self, op: str) -> None:
        self.op = op
        self.error: BaseException | None = None
        self._event = threading.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)

    def complete(self, failure: BaseException | None = None) -> None:
        if not self._event.is_set():
            self.error = failure
            self._event.set()

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self.error else "done")
        return f"<TxnResult {self.op} {state}>"


def normalize_group_metadata(group: Any) -> ConsumerGroupMetadata:
    """A plain group id, a :class:`ConsumerGroupMetadata`, any object with ``group_id``
    (and ``generation_id``, ``member_id``, ``group_instance_id``) attributes, or the bytes
    confluent-kafka's ``Consumer.consumer_group_metadata()`` returns."""
    if isinstance(group, ConsumerGroupMetadata):
        return group
    if isinstance(group, str):
        if not group:
            raise ValueError("group_metadata: the group id must not be empty")
        return ConsumerGroupMetadata(group)
    if isinstance(group, (bytes, bytearray)):
        return _parse_librdkafka_group_metadata(bytes(group))
    group_id = getattr(group, "group_id", None)
    if not isinstance(group_id, str) or not group_id:
        raise TypeError(
            "group_metadata must be a group id str, a ConsumerGroupMetadata, or an object with a "
            f"group_id attribute; got {group!r}"
        )
    generation = getattr(group, "generation_id", getattr(group, "generation", -1))
    member = getattr(group, "member_id", "") or ""
    instance = getattr(group, "group_instance_id", None) or None
    if not isinstance(generation, int) or not isinstance(member, str):
        raise TypeError(f"group_metadata: bad generation_id/member_id in {group!r}")
    return ConsumerGroupMetadata(group_id, generation, member, instance)


_CGMD_MAGIC = b"CGMDv2:"


def _parse_librdkafka_group_metadata(data: bytes) -> ConsumerGroupMetadata:
    """librdkafka's serialized group metadata: magic, generation (int32, host byte order),
    NUL-terminated group id and member id, then a byte that is 1 when there is no group
    instance id and 0 when a NUL-terminated one follows."""
    if not data.startswith(_CGMD_MAGIC):
        raise ValueError("group_metadata: bytes that are not a serialized consumer group metadata")
    try:
        pos = len(_CGMD_MAGIC)
        (generation,) = struct.unpack_from("=i", data, pos)
        pos += 4
        end = data.index(b"\x00", pos)
        group_id = data[pos:end].decode()
        pos = end + 1
        end = data.index(b"\x00", pos)
        member_id = data[pos:end].decode()
        pos = end + 1
        instance: str | None = None
        if data[pos] == 0:
            end = data.index(b"\x00", pos + 1)
            instance = data[pos + 1:end].decode()
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"group_metadata: malformed serialized consumer group metadata: {exc}") from None
    if not group_id:
        raise ValueError("group_metadata: the group id must not be empty")
    return ConsumerGroupMetadata(group_id, generation, member_id, instance)


# topic -> [(partition, offset, metadata, leader_epoch)]
Offsets = dict[str, list[tuple[int, int, "str | None", int]]]


def normalize_offsets(offsets: Any) -> Offsets:
    """``{TopicPartition: OffsetAndMetadata}``, ``{(topic, partition): offset}`` or a list of
    objects with ``topic``, ``partition``, ``offset`` (and optionally ``metadata``,
    ``leader_epoch``) attributes, such as confluent-kafka's ``TopicPartition``."""
    entries: list[tuple[Any, Any, Any, Any, Any]] = []
    if isinstance(offsets, Mapping):
        for key, value in offsets.items():
            if hasattr(key, "topic") and hasattr(key, "partition") and not isinstance(key, tuple):
                topic, partition = key.topic, key.partition
            else:
                try:
                    topic, partition = key
                except (TypeError, ValueError):
                    raise TypeError(f"offsets: a key must be (topic, partition), got {key!r}") from None
            if isinstance(value, int):
                entries.append((topic, partition, value, None, None))
            else:
                entries.append((
                    topic, partition, getattr(value, "offset", value),
                    getattr(value, "metadata", None), getattr(value, "leader_epoch", None),
                ))
    elif isinstance(offsets, Iterable) and not isinstance(offsets, (str, bytes)):
        for item in offsets:
            try:
                entries.append((item.topic, item.partition, item.offset,
                                getattr(item, "metadata", None), getattr(item, "leader_epoch", None)))
            except AttributeError:
                raise TypeError(
                    f"offsets: items must have topic, partition and offset attributes, got {item!r}"
                ) from None
    else:
        raise TypeError(f"offsets must be a mapping or a list of topic partitions, got {type(offsets).__name__}")
    result: Offsets = {}
    for topic, partition, offset, metadata, leader_epoch in entries:
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"offsets: bad topic {topic!r}")
        if type(partition) is not int or partition < 0:
            raise ValueError(f"offsets: bad partition {partition!r} for topic {topic!r}")
        if type(offset) is not int or offset < 0:
            raise ValueError(f"offsets: bad offset {offset!r} for {topic}-{partition} (must be an int >= 0)")
        if metadata is not None and not isinstance(metadata, str):
            raise ValueError(f"offsets: metadata for {topic}-{partition} must be a str or None")
        epoch = leader_epoch if isinstance(leader_epoch, int) and leader_epoch >= 0 else -1
        result.setdefault(topic, []).append((partition, offset, metadata, epoch))
    return result
