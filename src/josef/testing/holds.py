"""Holding requests until the test releases them: :meth:`MockCluster.hold` (franz-go kfake's ``SleepControl``).

A held request is parked before it is handled, so nothing it would do has happened yet; its connection
waits too (Kafka answers a connection's requests in order).  :meth:`Hold.release` lets parked requests
through, oldest first, to be handled as usual.  Timed delays (``delay``) are for "slow"; a hold is for
"exactly now", e.g. to produce while a JoinGroup is parked, or to check what a client does while its
EndTxn is unanswered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from josef.testing.request import Request

__all__ = ["Hold"]


class Hold:
    """Requests of one API (and broker, and predicate) parked until released.

    Use from the test thread: :meth:`wait` for requests to be parked, :meth:`release` some or all of
    them, :meth:`stop` (or leave the ``with`` block) to release everything and hold nothing more.
    """

    def __init__(self, api_key: int | None, broker: int | None, when: Callable[[Request], bool] | None,
                 times: int | None, release: Callable[[Hold, int | None], None]) -> None:
        self.api_key = api_key
        self.broker = broker
        self.when = when
        self.times = times  # how many more requests to hold; None: until stopped
        self.active = True
        self.parked: list[Any] = []  # server-side entries, owned by the server thread
        self._cond = threading.Condition()
        self._held_total = 0
        self._released_total = 0
        self._release = release

    def __repr__(self) -> str:
        return f"<Hold api={self.api_key} held={self.held} total={self.total}>"

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server thread -----------------------------------------------------------------------------

    def matches(self, req: Request) -> bool:
        if not self.active or (self.times is not None and self.times <= 0):
            return False
        if self.api_key is not None and req.api_key != self.api_key:
            return False
        if self.broker is not None and req.broker != self.broker:
            return False
        return self.when is None or bool(self.when(req))

    def park(self, entry: Any) -> None:
        self.parked.append(entry)
        if self.times is not None:
            self.times -= 1
        with self._cond:
            self._held_total += 1
            self._cond.notify_all()

    def unparked(self, count: int) -> None:
        with self._cond:
            self._released_total += count
            self._cond.notify_all()

    # -- test thread -------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """How many requests this hold has parked so far (released or not)."""
        with self._cond:
            return self._held_total

    @property
    def held(self) -> int:
        """How many requests are parked now."""
        with self._cond:
            return self._held_total - self._released_total

    def wait(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``count`` requests are parked at once; raises ``TimeoutError`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._held_total - self._released_total >= count, timeout):
                raise TimeoutError(f"{self._held_total - self._released_total} of {count} requests held "
                                   f"after {timeout}s")

    def release(self, count: int | None = None) -> None:
        """Let the oldest ``count`` parked requests (None: all) through; the hold stays active."""
        self._release(self, count)

    def stop(self) -> None:
        """Release everything parked and hold no more requests."""
        self.active = False
        self._release(self, None)
