"""Small value types shared across the producer: a leaf module (it imports nothing from josef)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TopicPartition"]


class TopicPartition(NamedTuple):
    """A partition of a topic.  A tuple, so ``("t", 0)`` and ``TopicPartition("t", 0)`` are equal keys."""

    topic: str
    partition: int
