"""What an I/O-free request source hands the sender: a request naming its target.

The transaction manager and the producer-id logic never touch the network. They expose
``next_request(now)`` (the most urgent request that may go now, or None) and
``poll_delay(now)`` (how soon they want to be asked again). The sender resolves the request's
:class:`Target` to a node, waits for the network layer to report that node ready, calls
:meth:`Request.build` with the node's negotiated versions, sends the body, and hands the
answer (or the failure) to :meth:`Request.on_response`: the shape of the Java client's
``Sender`` / ``TransactionManager.nextRequest`` split.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from josef._core.network import NodeApis
    from josef._core.protocol import ApiKey
    from josef.errors import KafkaError


class TargetKind(enum.Enum):
    ANY_BROKER = "any broker"  # the least loaded ready broker
    TXN_COORDINATOR = "transaction coordinator"
    GROUP_COORDINATOR = "group coordinator"  # of the consumer group ``key``
    NODE = "node"  # the broker ``node``


class Target(NamedTuple):
    """Where a request goes."""

    kind: TargetKind
    key: str | None = None  # GROUP_COORDINATOR: the group id
    node: int = -1  # NODE: the node id

    @staticmethod
    def group_coordinator(group: str) -> Target:
        return Target(TargetKind.GROUP_COORDINATOR, group)

    @staticmethod
    def broker(node: int) -> Target:
        return Target(TargetKind.NODE, node=node)


ANY_BROKER = Target(TargetKind.ANY_BROKER)
TXN_COORDINATOR = Target(TargetKind.TXN_COORDINATOR)


class Request(Protocol):
    """One request of a request source."""

    @property
    def api(self) -> ApiKey: ...

    @property
    def target(self) -> Target: ...

    def build(self, apis: NodeApis) -> tuple[int, Mapping[str, Any]] | None:
        """The version and body to send to the node ``apis`` describes, which is ready now:
        the request counts as sent from here on. None if it was settled without the broker
        (the sender then asks the source again)."""
        ...

    def on_response(self, body: dict[str, Any] | None, error: KafkaError | None) -> None:
        """The broker's answer (``error`` None), or why there is none (disconnect, timeout)."""
        ...
