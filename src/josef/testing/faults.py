"""Scripted faults: what the mock cluster does differently for the next matching requests.

A :class:`Fault` matches requests by API key (or any API), broker, and optionally one topic partition
(only requests that name that partition match).  Each match uses up one of its ``times`` (``None``: every
match, until :meth:`MockCluster.clear_faults`).  Faults are checked oldest first; every matching fault
applies, so a delay and an error can be scripted for the same request.

What a fault can do to a request:

* ``error``: answer with this error code and do nothing else (no append, no state change).  With a
  partition filter only that partition's entry in the response gets the error; the rest of the request is
  handled normally.  Error faults queue: one per request and scope, oldest first.  Code 0 takes a turn
  in the queue and lets the request through.
* ``drop="before"``: close the connection without handling the request.
* ``drop="after"``: handle the request (records are appended, the transaction ends...) and close the
  connection instead of answering: the "response lost" case that idempotence exists for.
* ``delay``: hold the response back for this many seconds (requests behind it on the same connection
  wait too, as Kafka answers in order).
* ``throttle_ms``: put ``throttle_time_ms`` in the response and stop reading from the connection for that
  long, as a broker enforcing a quota does (KIP-219).
* ``respond``: a function given the :class:`~josef.testing.handlers.Request` that returns a response
  body to send instead of the normal one, or None to fall through to the normal handling (the
  ``ControlKey`` of franz-go's kfake).  Only calls that return a body use up ``times``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from josef.errors import BrokerError, UnknownBrokerError, error_for_code

if TYPE_CHECKING:
    from josef.testing.request import Request

__all__ = ["ErrorSpec", "Fault", "FaultList", "error_code"]

ErrorSpec = int | str | type[BrokerError]


def error_code(error: ErrorSpec) -> int:
    """An error code from a number, a name such as ``"NOT_LEADER_OR_FOLLOWER"`` or an error class."""
    if isinstance(error, bool):
        raise TypeError("an error code cannot be a bool")
    if isinstance(error, int):
        return error
    if isinstance(error, str):
        code = _codes_by_name().get(error.upper())
        if code is None:
            raise ValueError(f"unknown Kafka error name {error!r}")
        return code
    if isinstance(error, type) and issubclass(error, BrokerError) and "code" in vars(error):
        return error.code
    raise TypeError(f"not an error code, name or error class: {error!r}")


@functools.cache
def _codes_by_name() -> dict[str, int]:
    names = {}
    for code in range(-1, 512):
        err = error_for_code(code)
        if not isinstance(err, UnknownBrokerError):
            names[err.name] = code
    return names


@dataclass
class Fault:
    api_key: int | None
    times: int | None = 1
    broker: int | None = None
    topic: str | None = None
    partition: int | None = None
    error: int | None = None
    drop: Literal["before", "after"] | None = None
    delay: float = 0.0
    throttle_ms: int = 0
    respond: Callable[[Request], dict[str, Any] | None] | None = None
    hits: int = 0

    def matches(self, api_key: int, broker: int, partitions: Iterable[tuple[str, int]]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.api_key is not None and self.api_key != api_key:
            return False
        if self.broker is not None and self.broker != broker:
            return False
        if self.topic is None:
            return True
        return any(t == self.topic and (self.partition is None or p == self.partition) for t, p in partitions)

    def use(self) -> None:
        self.hits += 1
        if self.times is not None:
            self.times -= 1

    @property
    def partition_scoped(self) -> bool:
        return self.topic is not None


class FaultList:
    """The scripted faults of one cluster, oldest first (used by the server thread only)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def match(self, api_key: int, broker: int, partitions: list[tuple[str, int]]) -> list[Fault]:
        """Faults matching a request; non-``respond`` ones are used up here, ``respond`` ones by the caller.

        Errors queue up: per request, only the oldest matching fault that sets an error for a scope (the
        whole request, or one topic partition) applies, so ``push_errors(key, a, b)`` gives ``a`` to one
        request and ``b`` to the next.  Drops, delays and throttles of every matching fault apply.
        """
        if not self.faults:
            return []
        found = []
        error_scopes: set[tuple[str | None, int | None]] = set()
        for fault in self.faults:
            if not fault.matches(api_key, broker, partitions):
                continue
            if fault.error is not None:
                scope = (fault.topic, fault.partition)
                if scope in error_scopes:
                    continue
                error_scopes.add(scope)
            if fault.respond is None:
                fault.use()
            found.append(fault)
        self.faults = [f for f in self.faults if f.times is None or f.times > 0]
        return found
