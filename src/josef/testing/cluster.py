"""``MockCluster``: an embedded mock Kafka cluster, with fault injection, for tests.

It is a test double, not a broker: everything lives in memory (bounded by ``retention_bytes`` per
partition), replication is simulated, and nothing is persisted.  See ``docs/mock-cluster.md``.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

from josef._core.protocol import DEFAULT_MAX_FRAME_SIZE, ApiKey
from josef._core.records import DecodedBatch, DecodedRecord, decode_batches
from josef.testing.faults import ErrorSpec, Fault, error_code
from josef.testing.handlers import SUPPORTED, Request
from josef.testing.handlers.transactions import abort_expired
from josef.testing.holds import Hold
from josef.testing.security import MockSecurity
from josef.testing.server import Server
from josef.testing.state import BrokerInfo, ClusterConfig, ClusterState, TopicError

__all__ = ["MockCluster", "PartitionInfo", "RequestRecord"]

T = TypeVar("T")
TopicSpec = int | Mapping[str, Any]


@dataclass(frozen=True)
class PartitionInfo:
    """A snapshot of one partition, from :meth:`MockCluster.partition`."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    log_start_offset: int
    high_watermark: int
    last_stable_offset: int
    log_end_offset: int


@dataclass(frozen=True)
class RequestRecord:
    """One request the cluster received, from :meth:`MockCluster.requests`.

    ``connection`` numbers the client connections (1, 2, ... in accept order); ``body`` is the decoded
    request (the codec's snake_case dict) for the newest 1000 requests, None for older ones.
    """

    broker: int
    api_key: ApiKey
    version: int
    client_id: str | None
    connection: int = 0
    body: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def _api_key(key: int) -> ApiKey:
    """The ApiKey member, or the bare number (an IntEnum look-alike) for an API josef has no name for."""
    try:
        return ApiKey(key)
    except ValueError:
        return key  # type: ignore[return-value]


class MockCluster:
    """A mock Kafka cluster on 127.0.0.1, served by one background thread.  A test double, not a broker.

    ::

        with MockCluster(brokers=3, topics={"orders": 6}) as cluster:
            producer = Producer(bootstrap_servers=cluster.bootstrap_servers)
            cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER")   # the next Produce fails once
            ...

    Arguments:

    * ``brokers``: how many brokers (node ids 1..n), each on its own ephemeral port.
    * ``topics``: topics to create, ``{"name": partitions}`` or ``{"name": {"partitions": 6,
      "replication_factor": 2, "configs": {"min.insync.replicas": "2"}}}``.
    * ``replication_factor``: the default for new topics (default ``min(3, brokers)``).
    * ``min_insync_replicas``: the cluster default (a topic config ``min.insync.replicas`` overrides it).
    * ``default_partitions``: for auto-created topics and CreateTopics with -1.
    * ``auto_create_topics``: whether Metadata creates unknown topics when the client allows it.
    * ``retention_bytes``: the most a partition keeps; older batches are dropped first.
    * ``replication_delay``: seconds the simulated followers take to copy a batch: acks=all responses
      wait this long and the high watermark moves then.
    * ``max_message_bytes``: the largest record batch a Produce may carry.
    * ``api_versions``: narrow what ApiVersions advertises, ``{ApiKey.PRODUCE: (3, 7)}``, to play an older
      broker (an entry of None removes the API).
    * ``transaction_version``: 1, or 2 for transactions v2 (KIP-890): ApiVersions finalizes the
      ``transaction.version`` feature at 2, EndTxn v5 bumps the epoch after every transaction, and Produce
      v12+ and TxnOffsetCommit v5 add partitions and groups to the transaction themselves.  Clients that
      do not speak v2 keep working with version 1 semantics, as on Kafka.
    * ``host``, ``port``: where the brokers listen; broker n on ``port + n - 1`` (0: ephemeral ports).
    * ``start``: start serving at once (default); else call :meth:`start`.

    Every method may be called from any thread; changes happen on the cluster's thread, between requests.
    """

    def __init__(
        self,
        brokers: int = 3,
        topics: Mapping[str, TopicSpec] | None = None,
        *,
        replication_factor: int | None = None,
        min_insync_replicas: int = 1,
        default_partitions: int = 1,
        auto_create_topics: bool = True,
        retention_bytes: int = 64 * 1024 * 1024,
        replication_delay: float = 0.0,
        max_message_bytes: int = 1024 * 1024 + 12,
        api_versions: Mapping[int, tuple[int, int] | None] | None = None,
        transaction_version: Literal[1, 2] = 1,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        host: str = "127.0.0.1",
        port: int = 0,
        start: bool = True,
        security_protocol: str = "PLAINTEXT",
        sasl_users: Mapping[str, str] | None = None,
        sasl_mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        ssl_context: ssl.SSLContext | None = None,
        session_lifetime_ms: int = 0,
    ) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        config = ClusterConfig(
            default_partitions=default_partitions,
            default_replication_factor=replication_factor if replication_factor is not None else min(3, brokers),
            min_insync_replicas=min_insync_replicas,
            auto_create_topics=auto_create_topics,
            retention_bytes=retention_bytes,
            replication_delay=replication_delay,
            max_message_bytes=max_message_bytes,
            cluster_id=f"josef-mock-{uuid.uuid4().hex[:12]}",
            transaction_version=transaction_version,
        )
        if transaction_version not in (1, 2):
            raise ValueError("transaction_version must be 1 or 2")
        self._state = ClusterState(config)
        versions = dict(SUPPORTED)
        if transaction_version == 2:
            versions[ApiKey.END_TXN] = (versions[ApiKey.END_TXN][0], 5)
        for key, span in (api_versions or {}).items():
            if span is None:
                versions.pop(key, None)
            else:
                versions[key] = span
        self._state.api_versions = versions
        self._server = Server(self._state, max_frame_size)
        self.security = MockSecurity.create(
            security_protocol, host, ssl_context=ssl_context, mechanisms=sasl_mechanisms, users=sasl_users,
            session_lifetime_ms=session_lifetime_ms,
        )  # fmt: skip
        if self.security.protocol != "PLAINTEXT":
            self._server.security = self.security
        if self.security.sasl:
            versions[ApiKey.SASL_HANDSHAKE] = (0, 1)
            versions[ApiKey.SASL_AUTHENTICATE] = (0, 2)
        self._host = host
        try:
            for node_id in range(1, brokers + 1):
                bound = self._server.listen(node_id, host, port + node_id - 1 if port else 0)
                self._state.brokers[node_id] = BrokerInfo(node_id, host, bound)
        except OSError:
            self._server.stop()
            raise
        for name, spec in (topics or {}).items():
            self._create_topic(name, spec)
        self._started = False
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._server.start()

    def stop(self) -> None:
        """Stop serving and close every socket.  Idempotent."""
        self._server.stop()

    def __enter__(self) -> MockCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<MockCluster brokers={sorted(self._state.brokers)} {self.bootstrap_servers}>"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of every broker, comma-separated (the ones that are down too)."""
        return ",".join(f"{b.host}:{b.port}" for b in self._state.brokers.values())

    @property
    def brokers(self) -> dict[int, tuple[str, int]]:
        """Node id -> (host, port)."""
        return {b.node_id: (b.host, b.port) for b in self._state.brokers.values()}

    @property
    def transaction_version(self) -> int:
        """The finalized ``transaction.version`` (1, or 2 for KIP-890's transactions v2)."""
        return self._state.config.transaction_version

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of mock bugs (a handler that failed instead of answering); empty in a healthy run."""
        return list(self._server.internal_errors)

    @property
    def connections_closed_for_bad_input(self) -> int:
        """How many connections the cluster closed because a client sent bytes it cannot parse."""
        return self._server.connections_closed_for_bad_input

    def _call(self, fn: Callable[[], T]) -> T:
        return self._server.call(fn)

    # -- topics ----------------------------------------------------------------------------------

    def _create_topic(self, name: str, spec: TopicSpec) -> None:
        if isinstance(spec, int):
            self._state.create_topic(name, spec)
        else:
            configs = {k: (None if v is None else str(v)) for k, v in (spec.get("configs") or {}).items()}
            self._state.create_topic(name, spec.get("partitions"), spec.get("replication_factor"),
                                     spec.get("assignments"), configs)

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int | None = None,
                     configs: Mapping[str, Any] | None = None) -> uuid.UUID:
        """Create a topic; returns its topic id.  Raises ``ValueError`` if it exists or cannot be made."""
        spec = {"partitions": partitions, "replication_factor": replication_factor, "configs": configs}

        def create() -> uuid.UUID:
            try:
                self._create_topic(name, spec)
            except TopicError as exc:
                raise ValueError(str(exc)) from None
            return self._state.topics[name].topic_id

        return self._call(create)

    def topics(self) -> dict[str, int]:
        """Topic name -> partition count."""
        return self._call(lambda: {n: len(t.partitions) for n, t in self._state.topics.items()})

    def _partition(self, topic: str, partition: int) -> Any:
        found = self._state.partition(topic, partition)
        if found is None:
            raise KeyError(f"no partition {topic}-{partition}")
        return found

    def partition(self, topic: str, partition: int) -> PartitionInfo:
        """Leader, replicas, ISR and offsets of one partition."""

        def snap() -> PartitionInfo:
            p = self._partition(topic, partition)
            return PartitionInfo(topic, partition, p.leader, p.leader_epoch, list(p.replicas), list(p.isr),
                                 p.log_start_offset, p.high_watermark, p.last_stable_offset, p.log_end_offset)

        return self._call(snap)

    def leader(self, topic: str, partition: int) -> int:
        return self.partition(topic, partition).leader

    # -- reading what was produced ---------------------------------------------------------------

    def batches(self, topic: str, partition: int) -> list[DecodedBatch]:
        """Every batch the partition still holds, control batches included, decoded."""
        data = self._call(lambda: [b.data for b in self._partition(topic, partition).batches])
        return [batch for blob in data for batch in decode_batches(blob)]

    def records(self, topic: str, partition: int, *,
                isolation: Literal["read_uncommitted", "read_committed"] = "read_uncommitted") -> list[DecodedRecord]:
        """The data records of a partition, as a consumer with that isolation level would read them.

        read_uncommitted: everything up to the high watermark.  read_committed: up to the last stable
        offset, without the records of aborted transactions.
        """

        def snapshot() -> tuple[list[bytes], int, list[tuple[int, int, int]]]:
            p = self._partition(topic, partition)
            upper = p.last_stable_offset if isolation == "read_committed" else p.high_watermark
            return [b.data for b in p.batches], upper, list(p.aborted)

        blobs, upper, aborted = self._call(snapshot)
        out: list[DecodedRecord] = []
        for blob in blobs:
            for batch in decode_batches(blob):
                if batch.control or batch.base_offset >= upper:
                    continue
                if isolation == "read_committed" and batch.transactional and any(
                    pid == batch.producer_id and first <= batch.base_offset <= last for pid, first, last in aborted
                ):
                    continue
                out.extend(r for r in batch.records if r.offset < upper)
        return out

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """Offsets committed for ``group`` (OffsetCommit, or TxnOffsetCommit and a committed EndTxn)."""
        return self._call(lambda: {tp: o for tp, (o, _) in self._state.group_offsets.get(group, {}).items()})

    def group(self, group_id: str) -> dict[str, Any] | None:
        """The coordinator's view of a consumer group: state, generation, protocol, leader and members
        (``{member_id: {"client_id", "group_instance_id", "assignment"}}``); None if it does not exist."""

        def snap() -> dict[str, Any] | None:
            group = self._state.groups.get(group_id)
            if group is None:
                return None
            members = {m.member_id: {"client_id": m.client_id, "group_instance_id": m.group_instance_id,
                                     "assignment": m.assignment} for m in group.members.values()}
            return {"state": group.state.value, "generation": group.generation, "protocol_type": group.protocol_type,
                    "protocol": group.protocol, "leader": group.leader, "members": members}

        return self._call(snap)

    def transaction(self, transactional_id: str) -> dict[str, Any] | None:
        """The coordinator's view of a transactional id: producer id, epoch, state, partitions."""

        def snap() -> dict[str, Any] | None:
            txn = self._state.transactions.get(transactional_id)
            if txn is None:
                return None
            return {"producer_id": txn.producer_id, "producer_epoch": txn.producer_epoch, "state": txn.state.value,
                    "partitions": sorted(txn.partitions), "groups": sorted(txn.groups)}

        return self._call(snap)

    def requests(self, api_key: int | None = None, broker: int | None = None,
                 connection: int | None = None) -> list[RequestRecord]:
        """The requests received so far (the last 100 000), oldest first, optionally filtered by API, broker
        and connection."""
        entries = self._call(lambda: [tuple(e) for e in self._state.request_log])
        return [
            RequestRecord(b, ApiKey(k), v, c, n, body) for b, k, v, c, n, body in entries
            if (api_key is None or k == api_key) and (broker is None or b == broker)
            and (connection is None or n == connection)
        ]

    def clear_requests(self) -> None:
        self._call(self._state.clear_request_log)

    @property
    def unsupported_requests(self) -> list[RequestRecord]:
        """Requests for an API or version the cluster does not advertise.  The cluster closes the
        connection, as Kafka does; a client that sends one ignored ApiVersions.  The pytest fixture fails
        a test that leaves any."""
        entries = self._call(lambda: list(self._state.unsupported_requests))
        return [RequestRecord(b, _api_key(k), v, c) for b, k, v, c in entries]

    # -- holding requests ------------------------------------------------------------------------

    def hold(self, api_key: int | None, *, when: Callable[[Request], bool] | None = None,
             broker: int | None = None, times: int | None = None) -> Hold:
        """Park requests of ``api_key`` (None: any API), on ``broker``, for which ``when(request)`` is true,
        before they are handled, until the test releases them (``times``: only the next n; None: until
        stopped).  Returns the :class:`~josef.testing.holds.Hold`; use it as a context manager::

            with cluster.hold(ApiKey.END_TXN) as held:
                ...                      # the client commits
                held.wait()              # its EndTxn is parked, nothing written yet
                assert cluster.transaction("t")["state"] == "Ongoing"
                held.release()           # now it is handled and answered
        """

        def release(hold: Hold, count: int | None) -> None:
            try:
                self._call(lambda: self._server.release(hold, count))
            except RuntimeError:  # stopped: nothing left to release
                pass

        hold = Hold(api_key, broker, when, times, release)
        self._call(lambda: self._state.holds.append(hold))
        return hold


    # -- fault injection -------------------------------------------------------------------------

    def inject(
        self,
        api_key: int | None,
        *,
        error: ErrorSpec | None = None,
        times: int | None = 1,
        broker: int | None = None,
        topic: str | None = None,
        partition: int | None = None,
        delay: float = 0.0,
        drop: Literal["before", "after"] | None = None,
        throttle_ms: int = 0,
        respond: Callable[[Request], dict[str, Any] | None] | None = None,
    ) -> Fault:
        """Script what happens to the next ``times`` requests matching ``api_key`` (None: any API),
        ``broker`` and, optionally, one ``topic`` (and ``partition``).  ``times=None``: until cleared.

        See :mod:`josef.testing.faults` for what ``error``, ``drop``, ``delay``, ``throttle_ms`` and
        ``respond`` do.  Returns the :class:`~josef.testing.faults.Fault`; its ``hits`` counts matches.
        """
        if drop not in (None, "before", "after"):
            raise ValueError("drop must be None, 'before' or 'after'")
        if partition is not None and topic is None:
            raise ValueError("a partition filter needs a topic")
        fault = Fault(
            api_key, times, broker, topic, partition,
            None if error is None else error_code(error), drop, delay, throttle_ms, respond,
        )
        return self._call(lambda: self._state.faults.add(fault))

    def push_errors(self, api_key: int, *errors: ErrorSpec, broker: int | None = None, topic: str | None = None,
                    partition: int | None = None) -> list[Fault]:
        """The next ``len(errors)`` matching requests fail with these codes, in order (0: answer normally)."""
        return [self.inject(api_key, error=e, broker=broker, topic=topic, partition=partition) for e in errors]

    def drop_connection(self, api_key: int | None, *, when: Literal["before", "after"] = "after", times: int = 1,
                        broker: int | None = None, topic: str | None = None) -> Fault:
        """Close the connection before handling the next matching request, or after (the response is lost)."""
        return self.inject(api_key, drop=when, times=times, broker=broker, topic=topic)

    def delay(self, api_key: int | None, seconds: float, *, times: int | None = 1,
              broker: int | None = None) -> Fault:
        """Hold the next matching responses back by ``seconds``."""
        return self.inject(api_key, delay=seconds, times=times, broker=broker)

    def throttle(self, api_key: int | None, throttle_ms: int, *, times: int | None = 1,
                 broker: int | None = None) -> Fault:
        """Answer with ``throttle_time_ms`` and stop reading from the connection for that long."""
        return self.inject(api_key, throttle_ms=throttle_ms, times=times, broker=broker)

    def control(self, api_key: int, respond: Callable[[Request], dict[str, Any] | None], *,
                times: int | None = None, broker: int | None = None) -> Fault:
        """Answer matching requests with ``respond(request)`` when it returns a body (None: normal handling)."""
        return self.inject(api_key, respond=respond, times=times, broker=broker)

    def clear_faults(self) -> None:
        """Forget every scripted fault not used up yet (RTTs and broker states stay)."""
        self._call(self._state.faults.clear)

    def set_rtt(self, seconds: float, broker: int | None = None) -> None:
        """Add ``seconds`` to every response of ``broker`` (or of every broker)."""

        def apply() -> None:
            for b in self._state.brokers.values():
                if broker is None or b.node_id == broker:
                    b.rtt = seconds

        self._call(apply)

    def broker_down(self, broker: int) -> None:
        """Stop a broker: its port refuses connections, its connections close, it leaves every ISR, and
        the partitions it led move to another in-sync replica (or have no leader)."""

        def down() -> None:
            self._state.broker_down(broker)
            self._server.unlisten(broker)

        self._call(down)

    def broker_up(self, broker: int) -> None:
        """Restart a broker on the same port; it rejoins the ISR of its replicas (caught up)."""

        def up() -> None:
            info = self._state.brokers[broker]
            if not info.up:
                self._server.listen(broker, info.host, info.port)
                self._state.broker_up(broker)

        self._call(up)

    def drop_connections(self, broker: int | None = None) -> int:
        """Close every client connection (to ``broker``); returns how many were closed."""
        return self._call(lambda: self._server.close_connections(broker))

    def move_leader(self, topic: str, partition: int, to: int) -> None:
        """Make broker ``to`` the partition's leader (new leader epoch); the old leader answers
        NOT_LEADER_OR_FOLLOWER from now on, with the new leader as a hint."""

        def move() -> None:
            if to not in self._state.brokers:
                raise KeyError(f"no broker {to}")
            self._state.set_leader(self._partition(topic, partition), to)

        self._call(move)

    def set_isr(self, topic: str, partition: int, isr: Iterable[int]) -> None:
        """Set the in-sync replicas (e.g. fewer than min.insync.replicas, to get NOT_ENOUGH_REPLICAS)."""
        wanted = list(isr)
        self._call(lambda: setattr(self._partition(topic, partition), "isr", wanted))

    def set_coordinator(self, key: str, broker: int | None, *,
                        kind: Literal["transaction", "group"] = "transaction") -> None:
        """Pin the coordinator of a transactional id (or group) to ``broker``; None: back to hashing."""
        key_type = 1 if kind == "transaction" else 0

        def pin() -> None:
            if broker is None:
                self._state.coordinator_overrides.pop((key_type, key), None)
            else:
                self._state.coordinator_overrides[(key_type, key)] = broker

        self._call(pin)

    def coordinator(self, key: str, *, kind: Literal["transaction", "group"] = "transaction") -> int:
        """The broker coordinating a transactional id (or group) now; -1 if none is up."""
        return self._call(lambda: self._state.coordinator_for(1 if kind == "transaction" else 0, key))

    def abort_transaction(self, transactional_id: str) -> None:
        """Abort an open transaction from the coordinator side (as its timeout would), fencing the producer."""

        def abort() -> None:
            txn = self._state.transactions[transactional_id]
            txn.started_at = -1e18  # looks expired
            abort_expired(self._state, time.monotonic(), int(time.time() * 1000))

        self._call(abort)
