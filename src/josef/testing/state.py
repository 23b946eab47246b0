"""Everything the mock cluster knows, owned by its server thread: brokers, topics, producers, transactions.

Nothing here does I/O or reads the clock: times are passed in, so handlers stay plain functions.
"""

from __future__ import annotations

import enum
import re
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from josef.errors import ErrorCode
from josef.testing.configs import ClusterConfig, ConfigError, check_topic_config, topic_value
from josef.testing.faults import FaultList
from josef.testing.groups import Group
from josef.testing.holds import Hold
from josef.testing.log import Partition

__all__ = ["BrokerInfo", "ClusterConfig", "ClusterState", "Topic", "TopicError", "Transaction", "TxnState"]

REQUEST_BODIES = 1000
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}$")


class TopicError(ValueError):
    """A topic cannot be created as asked; ``code`` is the Kafka error for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None
    up: bool = True
    rtt: float = 0.0  # added to every response of this broker


@dataclass
class Topic:
    name: str
    topic_id: uuid.UUID
    partitions: list[Partition]
    configs: dict[str, str | None] = field(default_factory=dict)

    def config(self, name: str, cluster: ClusterConfig) -> tuple[str, int]:
        """A topic config's effective value and its source (set on the topic, or the default)."""
        return topic_value(self.configs, name, cluster)

    def apply_configs(self, cluster: ClusterConfig) -> None:
        """Push the configs that matter into the partitions (after creation, growth or a change)."""
        min_isr = int(self.config("min.insync.replicas", cluster)[0])
        retention = int(self.config("retention.bytes", cluster)[0])
        if retention < 0:
            retention = cluster.retention_bytes
        max_bytes = self.configs.get("max.message.bytes")
        retention_ms = int(self.config("retention.ms", cluster)[0])
        for partition in self.partitions:
            partition.min_insync_replicas = min_isr
            partition.retention_bytes = retention
            partition.max_message_bytes = int(max_bytes) if max_bytes is not None else None
            partition.retention_ms = retention_ms


class TxnState(enum.Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"


@dataclass
class Transaction:
    """The coordinator's record of one transactional id."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[tuple[str, int]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    # Offsets sent with TxnOffsetCommit, made visible to the group on commit: group -> (topic, partition) -> offset.
    pending_offsets: dict[str, dict[tuple[str, int], tuple[int, str | None]]] = field(default_factory=dict)
    started_at: float = 0.0
    coordinator_epoch: int = 0
    # Whether the last EndTxn committed, so a retried EndTxn after a lost response can be answered.
    last_result_commit: bool | None = None
    # Transactions v2: the (producer id, epoch) the last EndTxn ended, to recognise its retry.
    ended_as: tuple[int, int] | None = None


class ClusterState:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.brokers: dict[int, BrokerInfo] = {}
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[uuid.UUID, Topic] = {}
        self.transactions: dict[str, Transaction] = {}
        self.txn_by_pid: dict[int, Transaction] = {}
        self.issued_producer_ids: set[int] = set()
        self.next_producer_id = 1000
        # Committed consumer-group offsets: group -> (topic, partition) -> (offset, metadata).
        self.group_offsets: dict[str, dict[tuple[str, int], tuple[int, str | None]]] = {}
        self.coordinator_overrides: dict[tuple[int, str], int] = {}
        # Consumer groups (classic protocol) by group id.
        self.groups: dict[str, Group] = {}
        self.faults = FaultList()
        # The last requests received: [broker, api key, version, client id, connection id, body]; only the
        # newest REQUEST_BODIES keep their body (memory stays bounded however many records are produced).
        self.request_log: deque[list[Any]] = deque(maxlen=100_000)
        self._with_body: deque[list[Any]] = deque()
        # Requests for APIs or versions the cluster does not advertise: (broker, api key, version, client id).
        self.unsupported_requests: deque[tuple[int, int, int, str | None]] = deque(maxlen=1000)
        self.holds: list[Hold] = []
        # What ApiVersions advertises: api key -> (min, max); set by the cluster.
        self.api_versions: dict[int, tuple[int, int]] = {}
        self._rr = 0

    def clear_request_log(self) -> None:
        self.request_log.clear()
        self._with_body.clear()

    def log_request(self, broker: int, api_key: int, version: int, client_id: str | None, conn_id: int,
                    body: dict[str, Any]) -> None:
        entry = [broker, api_key, version, client_id, conn_id, body]
        self.request_log.append(entry)
        self._with_body.append(entry)
        if len(self._with_body) > REQUEST_BODIES:
            self._with_body.popleft()[5] = None

    # -- brokers ---------------------------------------------------------------------------------

    def up_brokers(self) -> list[BrokerInfo]:
        return [b for b in self.brokers.values() if b.up]

    def coordinator_for(self, key_type: int, key: str) -> int:
        """The broker coordinating a group (``key_type`` 0) or transactional id (1); -1 if none is up."""
        override = self.coordinator_overrides.get((key_type, key))
        if override is not None:
            return override if self.brokers[override].up else -1
        up = sorted(b.node_id for b in self.up_brokers())
        if not up:
            return -1
        return up[zlib.crc32(key.encode()) % len(up)]

    # -- topics ----------------------------------------------------------------------------------

    @staticmethod
    def valid_topic_name(name: Any) -> bool:
        return isinstance(name, str) and bool(_TOPIC_NAME.match(name)) and name not in (".", "..")

    def create_topic(
        self,
        name: str,
        partitions: int | None = None,
        replication_factor: int | None = None,
        assignments: dict[int, list[int]] | None = None,
        configs: dict[str, str | None] | None = None,
        validate_only: bool = False,
    ) -> Topic:
        """Create a topic (or with ``validate_only`` only check that it could be); raises :class:`TopicError`
        when it cannot exist as asked."""
        if not self.valid_topic_name(name):
            raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"invalid topic name {name!r}")
        if name in self.topics:
            raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
        brokers = sorted(self.brokers)
        if assignments:
            count = len(assignments)
            if sorted(assignments) != list(range(count)):
                raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "assignments must cover partitions 0..n-1")
            for replicas in assignments.values():
                if not replicas or len(set(replicas)) != len(replicas) or not set(replicas) <= set(brokers):
                    raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"invalid replica assignment {replicas}")
        else:
            count = self.config.default_partitions if partitions is None or partitions == -1 else partitions
            if not 1 <= count <= self.config.max_partitions_per_topic:
                raise TopicError(ErrorCode.INVALID_PARTITIONS, f"invalid partition count {count}")
            rf = replication_factor
            if rf is None or rf == -1:
                rf = min(self.config.default_replication_factor, len(brokers))
            if not 1 <= rf <= len(brokers):
                raise TopicError(ErrorCode.INVALID_REPLICATION_FACTOR,
                                 f"replication factor {rf} with {len(brokers)} brokers")
            start = self._rr
            self._rr += 1
            assignments = {
                p: [brokers[(start + p + r) % len(brokers)] for r in range(rf)] for p in range(count)
            }
        configs = dict(configs or {})
        for key, value in configs.items():
            try:
                check_topic_config(key, value)
            except ConfigError as exc:
                raise TopicError(ErrorCode.INVALID_CONFIG, str(exc)) from None
        topic = Topic(name, uuid.uuid4(), [], {k: v for k, v in configs.items() if v is not None})
        topic.partitions = [Partition(name, p, assignments[p], self.config.retention_bytes,
                                      self.config.min_insync_replicas) for p in range(count)]
        topic.apply_configs(self.config)
        for partition in topic.partitions:
            partition.isr = [b for b in partition.replicas if self.brokers[b].up]
            if partition.leader not in partition.isr:
                partition.leader = partition.isr[0] if partition.isr else -1
        if validate_only:
            return topic
        self.topics[name] = topic
        self.topics_by_id[topic.topic_id] = topic
        return topic

    def delete_topic(self, name: str) -> None:
        """Forget a topic, its records and the group offsets committed for it."""
        topic = self.topics.pop(name)
        self.topics_by_id.pop(topic.topic_id, None)
        for offsets in self.group_offsets.values():
            for tp in [tp for tp in offsets if tp[0] == name]:
                del offsets[tp]

    def add_partitions(self, name: str, count: int, assignments: list[list[int]] | None,
                       validate_only: bool = False) -> None:
        """Grow a topic to ``count`` partitions; raises :class:`TopicError` when it cannot."""
        topic = self.topics[name]
        current = len(topic.partitions)
        if count <= current:
            raise TopicError(ErrorCode.INVALID_PARTITIONS,
                             f"topic {name!r} has {current} partitions; the count can only grow")
        if count > self.config.max_partitions_per_topic:
            raise TopicError(ErrorCode.INVALID_PARTITIONS, f"invalid partition count {count}")
        brokers = sorted(self.brokers)
        rf = len(topic.partitions[0].replicas)
        if assignments is not None:
            if len(assignments) != count - current:
                raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"{len(assignments)} assignments for {count - current} new partitions")
            for replicas in assignments:
                if not replicas or len(set(replicas)) != len(replicas) or not set(replicas) <= set(brokers):
                    raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"invalid replica assignment {replicas}")
        else:
            assignments = [[brokers[(p + r) % len(brokers)] for r in range(rf)] for p in range(current, count)]
        if validate_only:
            return
        for index, replicas in enumerate(assignments, start=current):
            partition = Partition(name, index, replicas, self.config.retention_bytes, self.config.min_insync_replicas)
            partition.isr = [b for b in replicas if self.brokers[b].up]
            if partition.leader not in partition.isr:
                partition.leader = partition.isr[0] if partition.isr else -1
            topic.partitions.append(partition)
        topic.apply_configs(self.config)

    def partition(self, topic: str, index: int) -> Partition | None:
        t = self.topics.get(topic)
        if t is None or not 0 <= index < len(t.partitions):
            return None
        return t.partitions[index]

    def all_partitions(self) -> list[Partition]:
        return [p for t in self.topics.values() for p in t.partitions]

    # -- leadership ------------------------------------------------------------------------------

    def set_leader(self, partition: Partition, broker: int) -> None:
        """Make ``broker`` (or -1: none) the partition's leader with a new leader epoch."""
        if broker >= 0 and broker not in partition.replicas:
            partition.replicas.append(broker)
        if broker >= 0 and broker not in partition.isr and self.brokers[broker].up:
            partition.isr.append(broker)
        partition.leader = broker
        partition.leader_epoch += 1
        # A new leader has every acknowledged record (acks=all waited for the ISR).
        partition.pending_hw.clear()
        partition.high_watermark = partition.log_end_offset

    def broker_down(self, node_id: int) -> None:
        """Mark a broker down: out of every ISR; its partitions move to another in-sync replica."""
        self.brokers[node_id].up = False
        for partition in self.all_partitions():
            if node_id in partition.isr:
                partition.isr.remove(node_id)
            if partition.leader == node_id:
                self.set_leader(partition, partition.isr[0] if partition.isr else -1)

    def broker_up(self, node_id: int) -> None:
        """Bring a broker back: it rejoins the ISR of its replicas (caught up at once) and leads leaderless ones."""
        self.brokers[node_id].up = True
        for partition in self.all_partitions():
            if node_id in partition.replicas and node_id not in partition.isr:
                partition.isr.append(node_id)
            if partition.leader == -1 and node_id in partition.replicas:
                self.set_leader(partition, node_id)

    # -- producers -------------------------------------------------------------------------------

    def new_producer_id(self) -> int:
        pid = self.next_producer_id
        self.next_producer_id += 1
        self.issued_producer_ids.add(pid)
        return pid

