"""Partition choice, byte-for-byte compatible with the Java client.

Keyed records go to ``(murmur2(key) & 0x7fffffff) % partitions`` so josef, Java and
librdkafka's ``murmur2_random`` put a key on the same partition. Keyless records are
handled by the accumulator (uniform sticky) unless a round-robin or custom partitioner is set.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence

Partitioner = Callable[[str, "bytes | None", "bytes | None", int], int]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 (seed 0x9747b28c) as an unsigned int."""
    length = len(data)
    h = 0x9747B28C ^ length
    tail = length & ~3
    words = memoryview(data)[:tail].cast("I") if tail and _LITTLE else None
    for i in range(0, tail, 4):
        k = words[i >> 2] if words is not None else int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def _is_little() -> bool:
    import sys

    return sys.byteorder == "little"


_LITTLE = _is_little()


murmur2_py = murmur2

if not os.environ.get("JOSEF_NO_SPEEDUPS"):
    try:
        from josef._core._speedups import murmur2
    except ImportError:  # no compiler at install time: the Python version serves
        pass


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The Java client's choice for a keyed record (sign bit masked, never ``abs``)."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class RoundRobin:
    """One partition after another, per topic, over partitions that have a leader."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    def choose(self, topic: str, available: Sequence[int], num_partitions: int) -> int:
        n = self._counters.get(topic, 0)
        self._counters[topic] = n + 1
        if available:
            return available[n % len(available)]
        return n % num_partitions


def pick_partition(available: Sequence[int], num_partitions: int, previous: int = -1) -> int:
    """A partition at random among those with a leader (all if none has one), other than
    ``previous`` when there is a choice: where keyless records go next (uniform sticky)."""
    choices = available if available else range(num_partitions)
    if len(choices) == 1:
        return choices[0]
    while True:
        choice = choices[random.randrange(len(choices))]
        if choice != previous:
            return choice
