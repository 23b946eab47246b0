"""The producer's view of the cluster: brokers, partition counts and leaders.

The sender thread writes it from Metadata responses; user threads read partition counts and
block (up to ``max.block.ms``) for topics they have not seen yet.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from josef._core.protocol import ApiKey
from josef._core.protocol import types as wire
from josef._core.request_source import ANY_BROKER, Target
from josef.errors import BrokerError, ErrorCode, KafkaError, MetadataTimeoutError, error_for_code
from josef.types import TopicPartition

if TYPE_CHECKING:
    from josef._core.metrics import ProducerMetrics
    from josef._core.network import Backoff, NodeApis

_FOREVER = 3600.0

# Topic errors that mean "not there yet": keep asking until max.block.ms.
_TRANSIENT_TOPIC_ERRORS = frozenset({
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.REPLICA_NOT_AVAILABLE,
})


@dataclass
class TopicInfo:
    leaders: list[int]  # by partition index; -1 when the partition has no leader
    epochs: list[int]
    available: list[int]  # partitions that have a leader
    topic_id: bytes = b"\x00" * 16


@dataclass
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass
class ClusterMetadata:
    bootstrap: list[tuple[str, int]]
    max_age: float
    brokers: dict[int, Broker] = field(default_factory=dict)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    topic_errors: dict[str, KafkaError] = field(default_factory=dict)
    cluster_id: str | None = None
    # Topics the producer uses, with the last time it asked for them (metadata.max.idle.ms).
    wanted: dict[str, float] = field(default_factory=dict)
    updated_at: float = 0.0
    update_requested: bool = True
    version: int = 0
    wait_seconds: float = 0.0  # time user threads spent waiting in partitions() (metrics)
    # Why no broker can be reached, if that is so (the network layer's account, set by the
    # sender): named in the max.block.ms error, so a wrong address is not a mystery.
    connection_problem: Callable[[], str | None] | None = None
    # An authentication or TLS refusal, raised to callers waiting for metadata (cleared by the next wait).
    auth_error: KafkaError | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _leaders: dict[TopicPartition, int] = field(default_factory=dict)
    _by_node: dict[int, list[TopicPartition]] = field(default_factory=dict)

    # -- user threads --------------------------------------------------------------------------

    def partitions(self, topic: str, max_block: float, wake: Any) -> TopicInfo:
        """The topic's partitions, waiting for metadata if it is new."""
        info = self.topics.get(topic)
        if info is not None:
            return info
        started = time.monotonic()
        try:
            return self._wait_for(topic, max_block, wake, started)
        finally:
            self.wait_seconds += time.monotonic() - started

    def _wait_for(self, topic: str, max_block: float, wake: Any, started: float) -> TopicInfo:
        deadline = started + max_block
        with self._cond:
            self.wanted[topic] = time.monotonic()
            self.update_requested = True
            self.topic_errors.pop(topic, None)
            self.auth_error = None
            wake()
            while True:
                info = self.topics.get(topic)
                if info is not None:
                    return info
                if self.auth_error is not None:
                    raise self.auth_error
                error = self.topic_errors.get(topic)
                if error is not None and not error.retriable:
                    raise error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    detail = f" (last error: {error})" if error is not None else ""
                    problem = self.connection_problem() if self.connection_problem is not None else None
                    if problem is not None:
                        detail += f": {problem}"
                    raise MetadataTimeoutError(
                        f"topic {topic!r} not present in metadata after {max_block * 1000:.0f} ms "
                        f"(max.block.ms){detail}"
                    )
                self._cond.wait(remaining)

    def register_metrics(self, metrics: ProducerMetrics) -> None:
        """Expose the metadata gauges."""

        def age(now: float) -> float:
            return now - self.updated_at if self.updated_at > 0 else math.nan

        metrics.register_gauge("metadata-wait-time-ns-total", lambda now: self.wait_seconds * 1e9)
        metrics.register_gauge("metadata-age", age)

    # -- sender thread -------------------------------------------------------------------------

    def topic_id(self, topic: str) -> Any:
        """The topic's id (a ``uuid.UUID``), or None if metadata did not give one."""
        info = self.topics.get(topic)
        if info is None or not getattr(info.topic_id, "int", 0):
            return None
        return info.topic_id

    def leader_of(self, tp: TopicPartition) -> int:
        return self._leaders.get(tp, -1)

    def partitions_led_by(self, node: int) -> list[TopicPartition]:
        return self._by_node.get(node, [])

    def needs_update(self, now: float) -> bool:
        return self.update_requested or now - self.updated_at >= self.max_age

    def fail_waiters(self, error: KafkaError) -> None:
        """Wake every caller waiting for metadata with ``error`` (authentication / TLS refusals)."""
        with self._cond:
            self.auth_error = error
            self._cond.notify_all()

    def request_update(self) -> None:
        self.update_requested = True

    def topics_to_request(self) -> list[str]:
        return sorted(self.wanted)

    def update(self, response: Mapping[str, Any], now: float) -> None:
        """Apply a Metadata response."""
        brokers = {
            b["node_id"]: Broker(b["node_id"], b["host"], b["port"], b.get("rack")) for b in response["brokers"]
        }
        topics = dict(self.topics)
        errors: dict[str, KafkaError] = {}
        for topic in response["topics"]:
            name = topic["name"]
            if topic["error_code"]:
                error: BrokerError = error_for_code(topic["error_code"])
                errors[name] = error
                if topic["error_code"] not in _TRANSIENT_TOPIC_ERRORS:
                    topics.pop(name, None)
                continue
            parts = sorted(topic["partitions"], key=lambda p: p["partition_index"])
            if not parts or [p["partition_index"] for p in parts] != list(range(len(parts))):
                errors[name] = error_for_code(ErrorCode.LEADER_NOT_AVAILABLE, f"incomplete partition list for {name!r}")
                continue
            leaders = [p["leader_id"] if p["leader_id"] in brokers else -1 for p in parts]
            topics[name] = TopicInfo(
                leaders=leaders,
                epochs=[p.get("leader_epoch", -1) for p in parts],
                available=[i for i, leader in enumerate(leaders) if leader >= 0],
                topic_id=topic.get("topic_id") or b"\x00" * 16,
            )
        with self._cond:
            self.brokers = brokers
            self.topics = topics
            self.topic_errors.update(errors)
            self.cluster_id = response.get("cluster_id")
            self.updated_at = now
            self.update_requested = any(
                info.available != list(range(len(info.leaders))) for info in topics.values()
            ) or any(e.retriable for e in errors.values())
            self._rebuild_index()
            self.version += 1
            self._cond.notify_all()

    def set_leader(self, tp: TopicPartition, leader: int, epoch: int) -> None:
        """Apply a leader hint from a Produce response (KIP-951) if it is newer."""
        info = self.topics.get(tp[0])
        if info is None or not 0 <= tp[1] < len(info.leaders) or leader not in self.brokers:
            return
        if epoch <= info.epochs[tp[1]]:
            return
        info.leaders[tp[1]] = leader
        info.epochs[tp[1]] = epoch
        with self._cond:
            self._rebuild_index()

    def _rebuild_index(self) -> None:
        leaders: dict[TopicPartition, int] = {}
        by_node: dict[int, list[TopicPartition]] = {}
        for name, info in self.topics.items():
            for partition, leader in enumerate(info.leaders):
                tp = TopicPartition(name, partition)
                leaders[tp] = leader
                if leader >= 0:
                    by_node.setdefault(leader, []).append(tp)
        self._leaders = leaders
        self._by_node = by_node


class MetadataRequests:
    """When to ask for metadata, and what to do with the answer: an I/O-free request source
    (see :mod:`josef._core.request_source`). One Metadata request at a time, to any broker, when an
    update was asked for or ``metadata.max.age.ms`` passed; after a failure, not before the
    retry backoff. ``on_update`` runs after each applied response (the sender passes the
    brokers to the network layer)."""

    def __init__(self, metadata: ClusterMetadata, backoff: Backoff, on_update: Callable[[], None]) -> None:
        self.metadata = metadata
        self._backoff = backoff
        self._on_update = on_update
        self._in_flight = False
        self._retry_at = 0.0

    def next_request(self, now: float) -> _MetadataRequest | None:
        if self._in_flight or not self.metadata.needs_update(now) or now < self._retry_at:
            return None
        return _MetadataRequest(self)

    def poll_delay(self, now: float) -> float:
        if self._in_flight:
            return _FOREVER
        if not self.metadata.needs_update(now):
            return self.metadata.max_age - (now - self.metadata.updated_at)
        return max(self._retry_at - now, 0.0)

    def sent(self) -> list[str]:
        """The request goes out now: the topics it asks for."""
        self._in_flight = True
        self.metadata.update_requested = False
        return self.metadata.topics_to_request()

    def answered(self, asked: set[str], response: dict[str, Any] | None, error: KafkaError | None) -> None:
        self._in_flight = False
        done = time.monotonic()
        if error is not None or response is None or response.get("error_code"):
            self.metadata.request_update()
            self._retry_at = done + self._backoff(1)
            return
        self.metadata.update(response, done)
        self._on_update()
        if not asked.issuperset(set(self.metadata.wanted)):
            self.metadata.request_update()  # a topic became wanted while this was in flight: ask now
        elif self.metadata.update_requested:  # some partitions have no leader yet: ask again soon
            self._retry_at = done + self._backoff.initial


class _MetadataRequest:
    target: Target = ANY_BROKER
    api = ApiKey.METADATA

    def __init__(self, source: MetadataRequests) -> None:
        self.source = source
        self.asked: set[str] = set()

    def build(self, apis: NodeApis) -> tuple[int, wire.MetadataRequest]:
        topics = self.source.sent()
        self.asked = set(topics)
        body: wire.MetadataRequest = {
            "topics": [{"name": name} for name in sorted(self.asked)],
            "allow_auto_topic_creation": True,
            "include_topic_authorized_operations": False,
        }
        return apis.version(ApiKey.METADATA), body

    def on_response(self, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        self.source.answered(self.asked, body, error)
