"""The network layer: every broker connection of one producer, and the selector that drives them.

Only the sender thread calls it. It owns

* the **address book**: bootstrap servers (node ids -1, -2, ...), the brokers of the latest
  metadata (:meth:`NetworkClient.set_brokers`) and nodes learned otherwise, e.g. coordinators
  from FindCoordinator (:meth:`NetworkClient.add_node`);
* the **connections** (:class:`~josef._core.connection.BrokerConnection`), opened on demand by
  :meth:`ready` and :meth:`least_loaded`, each through its setup stages (TCP, optional TLS,
  ApiVersions, optional authentication) before it carries requests;
* **reconnect backoff** per node (``reconnect.backoff.ms`` doubling up to
  ``reconnect.backoff.max.ms``, ±20 % jitter, reset once a connection is ready, as the Java
  client does), the **setup, request and idle timeouts**, and in-flight bookkeeping;
* the **selector** and the **wake-up** socket pair that user threads poke through :meth:`wake`.

Its public surface is deliberately small: :meth:`ready`, :meth:`least_loaded`, :meth:`send`,
:meth:`poll`, :meth:`reconnect_delay`, :meth:`connection_failed`, :meth:`wake`, :meth:`close`.
TLS (an ``ssl.SSLContext``) and SASL (an authenticator factory) plug in through the
constructor; see :mod:`josef._core.connection` for the authenticator contract.
"""

from __future__ import annotations

import logging
import random
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from josef._core.connection import CLOSED, AuthenticatorFactory, BrokerConnection, ResponseCallback
from josef._core.protocol import ApiKey
from josef.errors import KafkaConnectionError, KafkaError, ProducerClosedError, UnsupportedVersionError

if TYPE_CHECKING:
    from josef._core.metrics import NodeStats, ProducerMetrics
    from josef.config import ProducerConfig

_WARN_INTERVAL = 60.0  # seconds between two WARNINGs about the same unreachable address

log = logging.getLogger("josef.network")

_FOREVER = 3600.0


class Backoff:
    """Exponential backoff with ±20 % jitter, as the Java client computes it."""

    def __init__(self, initial_ms: int, max_ms: int) -> None:
        self.initial = initial_ms / 1000
        self.max = max(max_ms, initial_ms) / 1000

    def __call__(self, attempts: int) -> float:
        if self.initial <= 0:
            return 0.0
        base: float = min(self.max, self.initial * (2 ** min(max(attempts - 1, 0), 30)))
        return min(self.max, base * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class NodeApis:
    """What a ready node speaks: the negotiated version per api, and the cluster's finalized
    features (e.g. ``transaction.version``) as its ApiVersions response gave them."""

    node: int
    versions: Mapping[int, int]
    features: Mapping[str, int]

    def version(self, api: ApiKey, highest: int | None = None) -> int:
        """The version to use for ``api`` (at most ``highest``); 0 if the broker did not list it."""
        version = self.versions.get(api, 0)
        return version if highest is None else min(version, highest)


@dataclass(frozen=True)
class NetworkSettings:
    """The configuration the network layer needs (from the producer's config)."""

    client_id: str
    max_in_flight: int
    send_buffer: int
    receive_buffer: int
    request_timeout: float
    setup_timeout: float
    idle_timeout: float
    reconnect_backoff: Backoff
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    authenticator_factory: AuthenticatorFactory | None = None
    dns_lookup: str = "use_all_dns_ips"  # client.dns.lookup
    rebootstrap: bool = True  # metadata.recovery.strategy=rebootstrap

    @classmethod
    def from_config(cls, config: ProducerConfig) -> NetworkSettings:
        return cls(
            client_id=config["client.id"],
            max_in_flight=config["max.in.flight.requests.per.connection"],
            send_buffer=config["send.buffer.bytes"],
            receive_buffer=config["receive.buffer.bytes"],
            request_timeout=config["request.timeout.ms"] / 1000,
            setup_timeout=config["socket.connection.setup.timeout.ms"] / 1000,
            idle_timeout=config["connections.max.idle.ms"] / 1000,
            reconnect_backoff=Backoff(config["reconnect.backoff.ms"], config["reconnect.backoff.max.ms"]),
            dns_lookup=config["client.dns.lookup"],
            rebootstrap=config["metadata.recovery.strategy"] == "rebootstrap",
            ssl_context=config.security.ssl_context,
            authenticator_factory=config.security.authenticator_factory(),
        )


def canonical_bootstrap(servers: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """client.dns.lookup=resolve_canonical_bootstrap_servers_only: each bootstrap host becomes the
    canonical names of its addresses (as Java does, for Kerberos); a host that does not resolve stays."""
    out: list[tuple[str, int]] = []
    for host, port in servers:
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError:
            infos = []
        names = [socket.getfqdn(str(info[4][0])) for info in infos] or [host]
        for name in names:
            if (name, port) not in out:
                out.append((name, port))
    return out


class NetworkClient:
    """All connections of one producer; see the module docstring."""

    def __init__(
        self,
        settings: NetworkSettings,
        bootstrap: Iterable[tuple[str, int]],
        *,
        on_ready: Callable[[NodeApis], None] | None = None,
        on_disconnect: Callable[[int, KafkaError], None] | None = None,
        node_stats: Callable[[int], NodeStats] | None = None,
    ) -> None:
        self.settings = settings
        if settings.dns_lookup == "resolve_canonical_bootstrap_servers_only":
            bootstrap = canonical_bootstrap(bootstrap)
        self._bootstrap = {-i - 1: address for i, address in enumerate(bootstrap)}
        self._brokers: dict[int, tuple[str, int]] = {}
        self._learned: dict[int, tuple[str, int]] = {}  # coordinators not (yet) in metadata
        self._on_ready = on_ready
        self._on_disconnect = on_disconnect
        self._node_stats = node_stats
        self.conns: dict[int, BrokerConnection] = {}
        self._masks: dict[int, int] = {}
        self._reconnect_at: dict[int, float] = {}
        self._reconnect_attempts: dict[int, int] = {}
        # Connections least_loaded() opened since the cluster last answered: after enough of
        # them, bootstrap servers are tried too (rebootstrap).
        self._unanswered_connects = 0
        self._completed_on_write = False
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._wake_pending = False
        self.closing = False
        # Connection attempts that failed before the connection was ready, by address: the
        # last error, and when a WARNING last said so (at most one per address a minute).
        self._setup_failures: dict[tuple[str, int], str] = {}
        self._warned_at: dict[tuple[str, int], float] = {}

    # -- the address book ----------------------------------------------------------------------

    def set_brokers(self, brokers: Mapping[int, tuple[str, int]]) -> None:
        """The brokers of the latest metadata (replacing the previous list)."""
        self._brokers = dict(brokers)
        for node in brokers:
            self._learned.pop(node, None)

    def add_node(self, node: int, host: str, port: int) -> None:
        """A node learned outside metadata (a coordinator); metadata's address wins."""
        if node not in self._brokers:
            self._learned[node] = (host, port)

    def cluster_answered(self) -> None:
        """A broker of the cluster answered a metadata request: stop counting towards rebootstrap."""
        self._unanswered_connects = 0

    def _address(self, node: int) -> tuple[str, int] | None:
        if node < 0:
            return self._bootstrap.get(node)
        return self._brokers.get(node) or self._learned.get(node)

    # -- connections ---------------------------------------------------------------------------

    def ready(self, node: int, now: float) -> bool:
        """Whether a request can go to ``node`` now; starts connecting if it is not connected
        (and not backing off)."""
        conn = self.conns.get(node)
        if conn is not None and conn.state != CLOSED:
            return conn.can_send()
        self._connect(node, now)
        return False

    def api_versions(self, node: int) -> NodeApis:
        """What the ready ``node`` speaks."""
        conn = self.conns[node]
        return NodeApis(node, conn.versions, conn.finalized_features)

    def connection_failed(self, node: int) -> bool:
        """The last connection attempt to ``node`` failed (and none has succeeded since), or
        its address is unknown."""
        return node in self._reconnect_attempts or self._address(node) is None

    def reconnect_delay(self, node: int, now: float) -> float:
        """Seconds until ``node`` may be connected again (0 if it may now)."""
        return max(self._reconnect_at.get(node, now) - now, 0.0)

    def next_reconnect_delay(self, now: float) -> float | None:
        """Seconds until the soonest node that is backing off may be tried again, if any."""
        waits = [at - now for at in self._reconnect_at.values() if at > now]
        return min(waits) if waits else None

    def least_loaded(self, now: float) -> int | None:
        """A ready node with the fewest requests in flight; None (after starting a connection
        to a random known broker, or to a bootstrap server when brokers fail) if none is ready."""
        best: BrokerConnection | None = None
        for conn in self.conns.values():
            if conn.can_send() and (best is None or len(conn.in_flight) < len(best.in_flight)):
                best = conn
        if best is not None:
            return best.node_id
        if any(conn.state != CLOSED for conn in self.conns.values()):
            return None  # one is on its way
        candidates = list(self._brokers)
        if not candidates or (
            self.settings.rebootstrap and self._unanswered_connects >= 2 * max(len(candidates), 1)
        ):
            candidates += list(self._bootstrap)
        random.shuffle(candidates)
        for node in candidates:
            if now >= self._reconnect_at.get(node, 0.0):
                self._connect(node, now)
                self._unanswered_connects += 1
                return None
        return None

    def _connect(self, node: int, now: float) -> None:
        if now < self._reconnect_at.get(node, 0.0):
            return
        address = self._address(node)
        if address is None:
            return
        s = self.settings
        conn = BrokerConnection(
            node, address[0], address[1],
            client_id=s.client_id, max_in_flight=s.max_in_flight,
            send_buffer=s.send_buffer, receive_buffer=s.receive_buffer,
            ssl_context=s.ssl_context, server_hostname=s.server_hostname,
            authenticator_factory=s.authenticator_factory,
            # every address of the host in turn, one per failed attempt (client.dns.lookup=use_all_dns_ips)
            address_index=self._reconnect_attempts.get(node, 0),
        )
        conn.on_ready = self._connection_ready
        conn.on_close = self._connection_closed
        if self._node_stats is not None:
            conn.stats = self._node_stats(node)
        self.conns[node] = conn
        try:
            conn.connect(now)
        except KafkaConnectionError as exc:
            if conn.state == CLOSED and conn.sock is None:  # failed before a socket (DNS): no on_close
                self._setup_failed(conn, exc)
            return
        assert conn.sock is not None
        self._selector.register(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        self._masks[node] = selectors.EVENT_READ | selectors.EVENT_WRITE

    def _connection_ready(self, conn: BrokerConnection) -> None:
        self._reconnect_attempts.pop(conn.node_id, None)
        address = (conn.host, conn.port)
        if self._setup_failures.pop(address, None) is not None and address in self._warned_at:
            log.info("connected to %s:%s after failed attempts", conn.host, conn.port)
        self._warned_at.pop(address, None)
        if self._on_ready is not None:
            self._on_ready(self.api_versions(conn.node_id))

    def _connection_closed(self, conn: BrokerConnection, error: KafkaError) -> None:
        if conn.sock is not None:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        self._masks.pop(conn.node_id, None)
        if not conn.versions:  # closed before it was ready: the connection could not be set up
            self._setup_failed(conn, error)
            return
        self._back_off(conn.node_id)
        if not self.closing:
            log.info("connection to node %s closed: %s", conn.node_id, error)
        if self._on_disconnect is not None:
            self._on_disconnect(conn.node_id, error)

    def _back_off(self, node: int) -> None:
        attempts = self._reconnect_attempts.get(node, 0) + 1
        self._reconnect_attempts[node] = attempts
        self._reconnect_at[node] = time.monotonic() + self.settings.reconnect_backoff(attempts)

    def _setup_failed(self, conn: BrokerConnection, error: KafkaError) -> None:
        """A connection attempt failed (refused, DNS, timeout, TLS...): back off, remember the
        cause for the max.block.ms error, and say it at WARNING (rate-limited per address)."""
        self._back_off(conn.node_id)
        if self.closing:
            if self._on_disconnect is not None:
                self._on_disconnect(conn.node_id, error)
            return
        address = (conn.host, conn.port)
        self._setup_failures[address] = str(error)
        now = time.monotonic()
        if now - self._warned_at.get(address, -_WARN_INTERVAL) >= _WARN_INTERVAL:
            self._warned_at[address] = now
            what = "bootstrap server" if conn.node_id < 0 else f"broker {conn.node_id}"
            log.warning("cannot connect to %s %s:%s: %s (retrying with backoff; said again at most once a "
                        "minute)", what, conn.host, conn.port, error)
        else:
            log.info("cannot connect to node %s (%s:%s): %s", conn.node_id, conn.host, conn.port, error)
        if self._on_disconnect is not None:
            self._on_disconnect(conn.node_id, error)

    def unreachable(self) -> str | None:
        """When no connection is ready and attempts failed: the addresses tried and the last
        error of each, for an error message; None otherwise."""
        if any(conn.ready for conn in self.conns.values()) or not self._setup_failures:
            return None
        tried = "; ".join(f"{host}:{port}: {error}" for (host, port), error in self._setup_failures.items())
        return f"no broker could be reached (tried {tried})"

    # -- requests ------------------------------------------------------------------------------

    def send(
        self,
        node: int,
        api: ApiKey,
        version: int,
        body: Mapping[str, Any],
        on_response: ResponseCallback,
        now: float,
        *,
        expect_response: bool = True,
    ) -> None:
        """Queue a request to the ready ``node``; ``on_response(body, None)`` or
        ``on_response(None, error)`` runs on this thread once it is answered or failed.
        Raises KafkaConnectionError if the node is not ready (check :meth:`ready` first)."""
        conn = self.conns.get(node)
        if conn is None:
            raise KafkaConnectionError(f"no connection to node {node}")
        if api not in conn.versions and conn.ready:
            raise UnsupportedVersionError(f"broker {node} does not support {api.name}")
        conn.send(api, body, on_response, now, version=version, expect_response=expect_response)

    def register_metrics(self, metrics: ProducerMetrics) -> None:
        """Expose the connection gauges (read on other threads: they iterate a snapshot)."""
        metrics.register_gauge("requests-in-flight", lambda now: self.in_flight_count())
        metrics.register_gauge("connection-count", lambda now: self.connection_count())

    def in_flight_count(self) -> int:
        """Requests sent and not answered yet, over all connections."""
        return sum(len(conn.in_flight) for conn in list(self.conns.values()))

    def connection_count(self) -> int:
        """Open connections (in any setup stage, or ready)."""
        return sum(1 for conn in list(self.conns.values()) if conn.state != CLOSED)

    # -- the loop ------------------------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        """Write what is queued, wait up to ``timeout`` seconds for sockets (or a wake-up), and
        handle what they have: responses run their callbacks here. Also closes connections
        whose setup, oldest request or idleness timed out (and shortens the wait for that)."""
        now = time.monotonic()
        timeout = min(timeout, self._check_timeouts(now))
        self._completed_on_write = False
        for node, conn in list(self.conns.items()):
            if conn.wants_write:
                conn.flush(now)  # one write per connection per turn, whatever this turn queued
            if conn.state == CLOSED or conn.sock is None:
                continue
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.wants_write else 0)
            if self._masks.get(node) != mask:
                self._selector.modify(conn.sock, mask, conn)
                self._masks[node] = mask
        if self._completed_on_write:
            timeout = 0.0  # acks=0 requests completed: their partitions may send again
        events = self._selector.select(max(timeout, 0.0))
        now = time.monotonic()
        for key, mask in events:
            conn = key.data
            if conn is None:
                self._drain_wakeups()
                continue
            if mask & selectors.EVENT_WRITE and conn.state != CLOSED:
                conn.on_writable(now)
            if mask & selectors.EVENT_READ and conn.state != CLOSED:
                conn.on_readable(now)

    def completed_on_write(self) -> None:
        """A request without a response (acks=0) completed while being written: the caller
        has more to do, so this turn's wait is skipped."""
        self._completed_on_write = True

    def _check_timeouts(self, now: float) -> float:
        """Close connections that timed out or idled; returns how soon the next may time out
        (0 if one was closed: its requests' callbacks ran, so the caller has work)."""
        s = self.settings
        soonest = _FOREVER
        closed = False
        for conn in list(self.conns.values()):
            if conn.state == CLOSED:
                continue
            deadline = conn.deadline(s.request_timeout, s.setup_timeout, s.idle_timeout)
            if deadline is not None:
                soonest = min(soonest, max(deadline - now, 0.0) + 0.001)
            if conn.timed_out(now, s.request_timeout, s.setup_timeout):
                conn.close(KafkaConnectionError(
                    f"node {conn.node_id} did not answer within request.timeout.ms "
                    f"({s.request_timeout * 1000:.0f} ms) or socket.connection.setup.timeout.ms"
                ))
                closed = True
            elif s.idle_timeout > 0 and not conn.in_flight and now - conn.last_activity > s.idle_timeout:
                conn.close(KafkaConnectionError(f"idle connection to node {conn.node_id} closed"))
            elif conn.node_id < 0 and self._brokers and conn.ready and not conn.in_flight:
                conn.close(KafkaConnectionError("bootstrap connection no longer needed"))
        return 0.0 if closed else soonest

    # -- wake-up -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Interrupt a :meth:`poll` in progress (or the next one); any thread may call it."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._wake_w.send(b"\x00")
        except OSError:
            pass

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        # Only after draining: a wake() that raced with the drain still finds the caller's
        # next turn ahead of it, so no request to wake is lost.
        self._wake_pending = False

    def close(self, reason: KafkaError | None = None) -> None:
        """Close every connection (failing what they carry with ``reason``) and release the selector."""
        self.closing = True
        for conn in list(self.conns.values()):
            conn.close(reason or ProducerClosedError("producer closed"))
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
