"""What every handler shares: the request and reply types, error codes, leader hints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from josef.errors import ErrorCode
from josef.testing.log import Partition
from josef.testing.state import ClusterState

__all__ = ["Reply", "Request", "leader_error", "node_endpoint", "topic_by_name_or_id"]


@dataclass
class Request:
    """One decoded request, as handlers and ``respond`` fault functions see it."""

    broker: int
    api_key: int
    version: int
    correlation_id: int
    client_id: str | None
    body: dict[str, Any]
    now: float  # the server's monotonic clock, seconds
    now_ms: int  # wall-clock milliseconds, for timestamps
    error: int | None = None  # scripted for the whole request
    partition_errors: dict[tuple[str, int], int] = field(default_factory=dict)
    throttle_ms: int = 0

    def error_for(self, topic: str, partition: int) -> int | None:
        """The scripted error for one partition of this request, if any."""
        code = self.partition_errors.get((topic, partition))
        return code if code is not None else self.error


@dataclass
class Reply:
    """A handler's answer.

    ``body`` None means no response at all (Produce with acks=0).  ``delay`` holds the response back
    (acks=all waiting for simulated replication).  ``wait`` is a long poll (Fetch): it is called with
    ``force=False`` whenever something may have changed, and with ``force=True`` at ``wait_until``; it
    returns the body once it has one.  ``close`` closes the connection after the response (or instead of
    one, when ``body`` is None).
    """

    body: dict[str, Any] | None
    delay: float = 0.0
    wait: Callable[[bool], dict[str, Any] | None] | None = None
    wait_until: float = 0.0
    close: bool = False




def topic_by_name_or_id(state: ClusterState, entry: dict[str, Any], name_field: str, version: int) -> str:
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


def node_endpoint(state: ClusterState, node_id: int) -> dict[str, Any]:
    broker = state.brokers[node_id]
    return {"node_id": node_id, "host": broker.host, "port": broker.port, "rack": broker.rack}
