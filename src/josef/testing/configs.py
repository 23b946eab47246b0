"""The mock cluster's settings (:class:`ClusterConfig`), and the topic and broker configs it knows:
names, types, defaults and validation.

Honoured: ``retention.bytes`` (the per-partition memory bound), ``retention.ms`` (batches older than
it are dropped on the next append), ``min.insync.replicas`` (acks=all) and ``max.message.bytes``
(Produce).  The others are kept and described but change nothing (there is no compaction, no
segments, no compression on the broker side).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["BROKER_CONFIGS", "TOPIC_CONFIGS", "ClusterConfig", "ConfigDef", "ConfigError", "broker_value",
           "check_topic_config", "topic_value"]

# ConfigType of DescribeConfigs v3+.
BOOLEAN, STRING, INT, LONG, LIST = 1, 2, 3, 5, 7
# ConfigSource of DescribeConfigs.
DYNAMIC_TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 2, 5
_MAX_LONG = str(2**63 - 1)


@dataclass
class ClusterConfig:
    """Cluster-wide settings (see :class:`~josef.testing.MockCluster` for their meaning)."""

    default_partitions: int = 1
    default_replication_factor: int = 3
    min_insync_replicas: int = 1
    auto_create_topics: bool = True
    retention_bytes: int = 64 * 1024 * 1024
    replication_delay: float = 0.0
    max_message_bytes: int = 1024 * 1024 + 12
    max_partitions_per_topic: int = 10000
    group_min_session_timeout_ms: int = 1000
    group_max_session_timeout_ms: int = 1_800_000
    cluster_id: str = "josef-mock-cluster"
    # The finalized ``transaction.version`` feature: 2 turns on KIP-890's transactions v2.
    transaction_version: int = 1


class ConfigError(ValueError):
    """A config name or value the mock refuses (answered with INVALID_CONFIG)."""


@dataclass(frozen=True)
class ConfigDef:
    type: int
    default: Callable[[ClusterConfig], str]
    check: Callable[[str], bool] = lambda value: True


def _integer(minimum: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return int(value) >= minimum
        except ValueError:
            return False

    return check


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value in choices


def _policy(value: str) -> bool:
    parts = [p.strip() for p in value.split(",")]
    return bool(parts) and all(p in ("delete", "compact") for p in parts)


def _const(value: str) -> Callable[[ClusterConfig], str]:
    return lambda config: value


TOPIC_CONFIGS: dict[str, ConfigDef] = {
    "cleanup.policy": ConfigDef(LIST, _const("delete"), _policy),
    "compression.type": ConfigDef(STRING, _const("producer"),
                                  _one_of("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")),
    "delete.retention.ms": ConfigDef(LONG, _const("86400000"), _integer(0)),
    "max.compaction.lag.ms": ConfigDef(LONG, _const(_MAX_LONG), _integer(1)),
    "max.message.bytes": ConfigDef(INT, lambda c: str(c.max_message_bytes), _integer(0)),
    "message.timestamp.type": ConfigDef(STRING, _const("CreateTime"), _one_of("CreateTime", "LogAppendTime")),
    "min.compaction.lag.ms": ConfigDef(LONG, _const("0"), _integer(0)),
    "min.insync.replicas": ConfigDef(INT, lambda c: str(c.min_insync_replicas), _integer(1)),
    "retention.bytes": ConfigDef(LONG, lambda c: str(c.retention_bytes), _integer(-1)),
    "retention.ms": ConfigDef(LONG, _const("-1"), _integer(-1)),  # the mock keeps by size unless set
    "segment.bytes": ConfigDef(INT, _const("1073741824"), _integer(14)),
    "segment.ms": ConfigDef(LONG, _const("604800000"), _integer(1)),
    "unclean.leader.election.enable": ConfigDef(BOOLEAN, _const("false"), _one_of("true", "false")),
}

#: Broker configs DescribeConfigs lists (read-only, from the cluster's settings).
BROKER_CONFIGS: dict[str, ConfigDef] = {
    "auto.create.topics.enable": ConfigDef(BOOLEAN, lambda c: str(c.auto_create_topics).lower()),
    "default.replication.factor": ConfigDef(INT, lambda c: str(c.default_replication_factor)),
    "log.retention.bytes": ConfigDef(LONG, lambda c: str(c.retention_bytes)),
    "log.retention.ms": ConfigDef(LONG, _const("-1")),
    "message.max.bytes": ConfigDef(INT, lambda c: str(c.max_message_bytes)),
    "min.insync.replicas": ConfigDef(INT, lambda c: str(c.min_insync_replicas)),
    "num.partitions": ConfigDef(INT, lambda c: str(c.default_partitions)),
    "group.min.session.timeout.ms": ConfigDef(INT, lambda c: str(c.group_min_session_timeout_ms)),
    "group.max.session.timeout.ms": ConfigDef(INT, lambda c: str(c.group_max_session_timeout_ms)),
}


def check_topic_config(name: str, value: str | None) -> None:
    """Raise :class:`ConfigError` for an unknown topic config or a bad value (None: back to the default)."""
    definition = TOPIC_CONFIGS.get(name)
    if definition is None:
        raise ConfigError(f"unknown topic config {name!r}")
    if value is not None and not definition.check(value):
        raise ConfigError(f"invalid value {value!r} for topic config {name!r}")


def topic_value(configs: Mapping[str, str | None], name: str, config: ClusterConfig) -> tuple[str, int]:
    """A topic config's effective value and its source (set on the topic, or the default)."""
    value = configs.get(name)
    if value is not None:
        return value, DYNAMIC_TOPIC_CONFIG
    return TOPIC_CONFIGS[name].default(config), DEFAULT_CONFIG


def broker_value(name: str, config: ClusterConfig) -> str:
    return BROKER_CONFIGS[name].default(config)


