"""A request as the mock cluster's handlers and fault functions see it, and a handler's reply.

A leaf of :mod:`josef.testing`: faults, handlers and the server all use these, so they live apart from
all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "Request"]


@dataclass
class Request:
    """One decoded request, as handlers and ``respond`` fault functions see it."""

    broker: int
    api_key: int
    version: int
    correlation_id: int
    client_id: str | None
    body: dict[str, Any]  # as decoded; handlers cast it to the request's TypedDict (josef._core.protocol.types)
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

    body: Mapping[str, Any] | None  # a response TypedDict of josef._core.protocol.types, or a plain dict
    delay: float = 0.0
    wait: Callable[[bool], Mapping[str, Any] | None] | None = None
    wait_until: float = 0.0
    close: bool = False
