"""What every handler shares: the request and reply types (from :mod:`josef.testing.request`), leader hints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from josef._core.protocol.types import ProduceResponseNodeEndpoints
from josef.errors import ErrorCode
from josef.testing.log import Partition
from josef.testing.request import Reply, Request
from josef.testing.state import ClusterState

__all__ = ["Reply", "Request", "leader_error", "node_endpoint", "topic_by_name_or_id"]


def topic_by_name_or_id(state: ClusterState, entry: Mapping[str, Any], name_field: str, version: int) -> str:
    """The topic a request entry names: by ``topic_id`` from v13 (Produce, Fetch), "" for an unknown id."""
    if version >= 13:
        topic = state.topics_by_id.get(entry["topic_id"])
        return topic.name if topic is not None else ""
    name: str = entry[name_field]
    return name


def leader_error(state: ClusterState, partition: Partition, broker: int) -> int:
    """0 if ``broker`` leads ``partition``, else the error a non-leader answers with."""
    if partition.leader == broker:
        return ErrorCode.NONE
    return ErrorCode.LEADER_NOT_AVAILABLE if partition.leader < 0 else ErrorCode.NOT_LEADER_OR_FOLLOWER


def node_endpoint(state: ClusterState, node_id: int) -> ProduceResponseNodeEndpoints:
    """A broker's endpoint, as Produce and Fetch responses list it (their element types are identical)."""
    broker = state.brokers[node_id]
    return {"node_id": node_id, "host": broker.host, "port": broker.port, "rack": broker.rack}
