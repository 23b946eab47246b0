"""Process events a producer must not miss: ``os.fork()`` and interpreter exit.

A forked child inherits a copy of every producer but not its sender thread or sockets, so a
record sent there would wait forever: the child's copies are marked unusable and raise
:class:`~josef.errors.ProducerForkedError` on first use. At interpreter exit, producers the
program never closed get a bounded flush (``josef.exit.flush.timeout.ms``), and records still
undelivered after it are counted on stderr instead of vanishing.
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from typing import Protocol


class Tracked(Protocol):
    def on_fork_in_child(self, parent_pid: int) -> None: ...

    def flush_at_exit(self) -> str | None: ...

    def __repr__(self) -> str: ...


_live: weakref.WeakSet[Tracked] = weakref.WeakSet()
_pid = os.getpid()


def track(producer: Tracked) -> None:
    """Watch ``producer`` until it is garbage collected."""
    _live.add(producer)


def forget(producer: Tracked) -> None:
    _live.discard(producer)


def _after_fork_in_child() -> None:
    global _pid
    parent, _pid = _pid, os.getpid()
    for producer in list(_live):
        producer.on_fork_in_child(parent)
    _live.clear()


def _at_exit() -> None:
    if os.getpid() != _pid:  # a forked child exiting normally: its copies were never live
        return
    for producer in list(_live):
        try:
            message = producer.flush_at_exit()
        except Exception as exc:  # at exit nothing can be raised to anyone: say it
            message = f"flushing {producer!r} at interpreter exit failed: {exc!r}"
        if message is not None:
            print(f"josef: {message}", file=sys.stderr)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
