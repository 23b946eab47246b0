"""``josef.Admin``: topic and configuration management, Java's ``Admin`` client on josef's network layer.

Every call returns at once with futures (``concurrent.futures.Future``), one per topic or resource
like the Java client's ``KafkaFuture`` maps; ``.result(timeout)`` gives the value or raises the
broker's error as a josef exception (``TopicAlreadyExistsError``, ``InvalidReplicationFactorError``,
``UnknownTopicOrPartitionError``, ...) whose message names the topic or resource::

    with Admin(bootstrap_servers="127.0.0.1:9092") as admin:
        admin.create_topics([NewTopic("orders", 6, 3, {"retention.ms": "86400000"})])["orders"].result()
        print(admin.describe_topics(["orders"])["orders"].result().partitions)

One I/O thread of its own drives josef's ``NetworkClient``. A call whose connection fails is
retried (after ``retry.backoff.ms``) until its ``timeout`` (default ``default.api.timeout.ms``,
60 s) runs out, then its futures fail with ``KafkaTimeoutError``; errors the broker reports are
final. The configuration is the producer's (Java names): ``bootstrap.servers``, ``client.id``,
``request.timeout.ms``, the security and connection settings.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from josef._core.network import NetworkClient, NetworkSettings
from josef._core.protocol import ApiKey
from josef.config import ProducerConfig
from josef.errors import KafkaError, KafkaTimeoutError, ProducerClosedError, error_for_code

log = logging.getLogger("josef.admin")

T = TypeVar("T")

_RESOURCE_TYPES = {"topic": 2, "broker": 4}
_RESOURCE_NAMES = {code: name for name, code in _RESOURCE_TYPES.items()}
_OPERATIONS = {"set": 0, "delete": 1, "append": 2, "subtract": 3}
# DescribeConfigs config_source codes, as the Java client names them.
_SOURCES = {
    -1: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
    4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG",
    7: "CLIENT_METRICS_CONFIG", 8: "GROUP_CONFIG",
}
_admin_numbers = itertools.count(1)


# -- the values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTopic:
    """A topic to create; -1 partitions or replication factor: the broker's default."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    configs: Mapping[str, str] = field(default_factory=dict)
    replica_assignment: Mapping[int, list[int]] | None = None  # partition -> broker ids


class ConfigResource(NamedTuple):
    """``ConfigResource("topic", "orders")`` or ``ConfigResource("broker", "1")``."""

    type: str
    name: str


class AlterConfigOp(NamedTuple):
    """One change of :meth:`Admin.incremental_alter_configs`: op is set, delete, append or subtract."""

    name: str
    value: str | None = None
    op: str = "set"


class ConfigEntry(NamedTuple):
    name: str
    value: str | None
    source: str  # DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG, STATIC_BROKER_CONFIG, ...
    read_only: bool
    sensitive: bool

    @property
    def is_default(self) -> bool:
        return self.source == "DEFAULT_CONFIG"


class Node(NamedTuple):
    id: int
    host: str
    port: int
    rack: str | None


class PartitionInfo(NamedTuple):
    partition: int
    leader: int  # -1 if none
    replicas: list[int]
    isr: list[int]


class TopicDescription(NamedTuple):
    name: str
    topic_id: uuid.UUID | None
    internal: bool
    partitions: list[PartitionInfo]


class ClusterDescription(NamedTuple):
    cluster_id: str | None
    controller: int
    nodes: list[Node]


# -- requests in flight -----------------------------------------------------------------------


@dataclass
class _Call:
    """One request (retried as a whole) and what to do with its response."""

    what: str
    api: ApiKey
    build: Callable[[int], dict[str, Any]]
    handle: Callable[[dict[str, Any]], None]
    futures: list[Future[Any]]
    deadline: float
    node: int | None = None  # None: any broker
    attempts: int = 0
    retry_at: float = 0.0
    in_flight: bool = False

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)


def _broker_error(code: int, message: str | None, subject: str) -> KafkaError:
    """The broker's error for ``subject``, its message saying which topic or resource it is about."""
    detail = message or str(error_for_code(code)).split(": ", 1)[-1]  # the code's own description
    return error_for_code(code, f"{subject}: {detail}")


def _set(future: Future[T], code: int, message: str | None, subject: str, value: T) -> None:
    if future.done():
        return
    if code:
        future.set_exception(_broker_error(code, message, subject))
    else:
        future.set_result(value)


class Admin:
    """Java's ``Admin`` for topics, partitions, configs and the cluster; see the module docstring."""

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        given = dict(config or {})
        if "client.id" not in given and "client_id" not in kwargs:
            given["client.id"] = f"josef-admin-{next(_admin_numbers)}"
        self._api_timeout = float(kwargs.pop("default_api_timeout_ms", given.pop("default.api.timeout.ms", 60000)))
        self.config = ProducerConfig.from_user(given, **kwargs)
        self._retry_backoff = self.config["retry.backoff.ms"] / 1000
        self._network = NetworkClient(NetworkSettings.from_config(self.config), self.config["bootstrap.servers"])
        self._lock = threading.Lock()
        self._incoming: list[_Call] = []
        self._pending: list[_Call] = []
        self._brokers: dict[int, Node] = {}
        self._closing = False
        self._close_deadline = 0.0
        self._thread = threading.Thread(target=self._run, name=f"josef-admin-{self.config['client.id']}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<josef.Admin client.id={self.config['client.id']!r}>"

    # -- topics ----------------------------------------------------------------------------------

    def create_topics(
        self, new_topics: Iterable[NewTopic], *, validate_only: bool = False, timeout: float | None = None
    ) -> dict[str, Future[None]]:
        """Create topics; one future per topic name (``TopicAlreadyExistsError``,
        ``InvalidReplicationFactorError``, ``InvalidPartitionsError``, ``PolicyViolationError`` ...)."""
        topics = list(new_topics)
        futures: dict[str, Future[None]] = {t.name: Future() for t in topics}
        wait_ms = self._timeout_ms(timeout)

        def build(version: int) -> dict[str, Any]:
            return {
                "topics": [
                    {
                        "name": t.name,
                        "num_partitions": -1 if t.replica_assignment else t.num_partitions,
                        "replication_factor": -1 if t.replica_assignment else t.replication_factor,
                        "assignments": [
                            {"partition_index": p, "broker_ids": list(ids)}
                            for p, ids in sorted((t.replica_assignment or {}).items())
                        ],
                        "configs": [{"name": k, "value": str(v)} for k, v in t.configs.items()],
                    }
                    for t in topics
                ],
                "timeout_ms": wait_ms,
                "validate_only": validate_only,
            }

        def handle(body: dict[str, Any]) -> None:
            for result in body["topics"]:
                future = futures.get(result["name"])
                if future is not None:
                    _set(future, result["error_code"], result["error_message"], f"topic {result['name']!r}", None)

        self._submit("create_topics", ApiKey.CREATE_TOPICS, build, handle, list(futures.values()), timeout)
        return futures

    def delete_topics(self, topics: Iterable[str], *, timeout: float | None = None) -> dict[str, Future[None]]:
        """Delete topics by name; one future per name (``UnknownTopicOrPartitionError`` if absent)."""
        names = list(topics)
        futures: dict[str, Future[None]] = {name: Future() for name in names}
        wait_ms = self._timeout_ms(timeout)

        def build(version: int) -> dict[str, Any]:
            if version >= 6:
                return {"topics": [{"name": name} for name in names], "timeout_ms": wait_ms}
            return {"topic_names": names, "timeout_ms": wait_ms}

        def handle(body: dict[str, Any]) -> None:
            for result in body["responses"]:
                future = futures.get(result["name"])
                if future is not None:
                    _set(future, result["error_code"], result.get("error_message"), f"topic {result['name']!r}", None)

        self._submit("delete_topics", ApiKey.DELETE_TOPICS, build, handle, list(futures.values()), timeout)
        return futures

    def create_partitions(
        self, new_counts: Mapping[str, int], *, validate_only: bool = False, timeout: float | None = None
    ) -> dict[str, Future[None]]:
        """Grow topics to the given total partition counts (``InvalidPartitionsError`` if not larger)."""
        counts = dict(new_counts)
        futures: dict[str, Future[None]] = {name: Future() for name in counts}
        wait_ms = self._timeout_ms(timeout)

        def build(version: int) -> dict[str, Any]:
            return {
                "topics": [{"name": n, "count": c, "assignments": None} for n, c in counts.items()],
                "timeout_ms": wait_ms,
                "validate_only": validate_only,
            }

        def handle(body: dict[str, Any]) -> None:
            for result in body["results"]:
                future = futures.get(result["name"])
                if future is not None:
                    _set(future, result["error_code"], result["error_message"], f"topic {result['name']!r}", None)

        self._submit("create_partitions", ApiKey.CREATE_PARTITIONS, build, handle, list(futures.values()), timeout)
        return futures

    def list_topics(self, *, include_internal: bool = False, timeout: float | None = None) -> Future[list[str]]:
        """The cluster's topic names, sorted."""
        future: Future[list[str]] = Future()

        def handle(body: dict[str, Any]) -> None:
            names = [t["name"] for t in body["topics"] if include_internal or not t["is_internal"]]
            future.set_result(sorted(names))

        self._metadata_call("list_topics", None, handle, [future], timeout)
        return future

    def describe_topics(
        self, topics: Iterable[str], *, timeout: float | None = None
    ) -> dict[str, Future[TopicDescription]]:
        """Partitions, leaders, replicas and in-sync replicas per topic."""
        names = list(topics)
        futures: dict[str, Future[TopicDescription]] = {name: Future() for name in names}

        def handle(body: dict[str, Any]) -> None:
            for t in body["topics"]:
                future = futures.get(t["name"])
                if future is None:
                    continue
                partitions = sorted(
                    PartitionInfo(p["partition_index"], p["leader_id"], list(p["replica_nodes"]), list(p["isr_nodes"]))
                    for p in t["partitions"]
                )
                topic_id = t.get("topic_id")
                description = TopicDescription(
                    t["name"], topic_id if topic_id is not None and topic_id.int else None, t["is_internal"], partitions
                )
                _set(future, t["error_code"], None, f"topic {t['name']!r}", description)

        self._metadata_call("describe_topics", names, handle, list(futures.values()), timeout)
        return futures

    def describe_cluster(self, *, timeout: float | None = None) -> Future[ClusterDescription]:
        """The cluster id, the controller's node id (as metadata reports it) and the brokers."""
        future: Future[ClusterDescription] = Future()

        def handle(body: dict[str, Any]) -> None:
            nodes = sorted(self._brokers.values())
            future.set_result(ClusterDescription(body.get("cluster_id"), body["controller_id"], nodes))

        self._metadata_call("describe_cluster", [], handle, [future], timeout)
        return future

    # -- configs ---------------------------------------------------------------------------------

    def describe_configs(
        self, resources: Iterable[ConfigResource | tuple[str, str]], *, timeout: float | None = None
    ) -> dict[ConfigResource, Future[dict[str, ConfigEntry]]]:
        """Every config of each topic or broker, by name (``ConfigEntry`` with value and source)."""
        wanted = [self._resource(r) for r in resources]
        futures: dict[ConfigResource, Future[dict[str, ConfigEntry]]] = {r: Future() for r in wanted}

        def handle(body: dict[str, Any]) -> None:
            for result in body["results"]:
                resource = ConfigResource(_RESOURCE_NAMES.get(result["resource_type"], "?"), result["resource_name"])
                future = futures.get(resource)
                if future is None:
                    continue
                entries = {
                    c["name"]: ConfigEntry(
                        c["name"], c["value"], _SOURCES.get(c["config_source"], str(c["config_source"])),
                        c["read_only"], c["is_sensitive"],
                    )
                    for c in result["configs"]
                }
                subject = f"{resource.type} {resource.name!r}"
                _set(future, result["error_code"], result["error_message"], subject, entries)

        for node, group in self._by_node(wanted).items():
            def build(version: int, group: list[ConfigResource] = group) -> dict[str, Any]:
                return {
                    "resources": [
                        {"resource_type": _RESOURCE_TYPES[r.type], "resource_name": r.name, "configuration_keys": None}
                        for r in group
                    ],
                    "include_synonyms": False,
                    "include_documentation": False,
                }

            self._submit(
                "describe_configs", ApiKey.DESCRIBE_CONFIGS, build, handle, [futures[r] for r in group], timeout, node
            )
        return futures

    def incremental_alter_configs(
        self,
        changes: Mapping[ConfigResource | tuple[str, str], Iterable[AlterConfigOp]],
        *,
        validate_only: bool = False,
        timeout: float | None = None,
    ) -> dict[ConfigResource, Future[None]]:
        """Set, delete, append to or subtract from configs of topics or brokers, leaving the others
        as they are (Java's ``incrementalAlterConfigs``)."""
        ops: dict[ConfigResource, list[AlterConfigOp]] = {}
        for resource, resource_ops in changes.items():
            listed = list(resource_ops)
            for op in listed:
                if op.op not in _OPERATIONS:
                    raise ValueError(f"{op.name}: operation {op.op!r} is not one of {', '.join(_OPERATIONS)}")
            ops[self._resource(resource)] = listed
        futures: dict[ConfigResource, Future[None]] = {r: Future() for r in ops}

        def handle(body: dict[str, Any]) -> None:
            for result in body["responses"]:
                resource = ConfigResource(_RESOURCE_NAMES.get(result["resource_type"], "?"), result["resource_name"])
                future = futures.get(resource)
                if future is not None:
                    subject = f"{resource.type} {resource.name!r}"
                    _set(future, result["error_code"], result["error_message"], subject, None)

        for node, group in self._by_node(list(ops)).items():
            def build(version: int, group: list[ConfigResource] = group) -> dict[str, Any]:
                return {
                    "resources": [
                        {
                            "resource_type": _RESOURCE_TYPES[r.type],
                            "resource_name": r.name,
                            "configs": [
                                {"name": op.name, "config_operation": _OPERATIONS[op.op], "value": op.value}
                                for op in ops[r]
                            ],
                        }
                        for r in group
                    ],
                    "validate_only": validate_only,
                }

            self._submit(
                "incremental_alter_configs", ApiKey.INCREMENTAL_ALTER_CONFIGS, build, handle,
                [futures[r] for r in group], timeout, node,
            )
        return futures

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Let calls in flight finish (up to ``timeout`` seconds), fail the rest, and stop."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_deadline = time.monotonic() + (timeout if timeout is not None else self._api_timeout / 1000)
        self._network.wake()
        self._thread.join(None if timeout is None else timeout + 5)

    def __enter__(self) -> Admin:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _timeout_ms(self, timeout: float | None) -> int:
        return int(timeout * 1000) if timeout is not None else int(self._api_timeout)

    @staticmethod
    def _resource(resource: ConfigResource | tuple[str, str]) -> ConfigResource:
        kind, name = resource
        kind = str(kind).lower()
        if kind not in _RESOURCE_TYPES:
            raise ValueError(f"config resource type {kind!r} is not one of {', '.join(_RESOURCE_TYPES)}")
        if kind == "broker" and name and not str(name).isdigit():
            raise ValueError(f"broker config resource: {name!r} is not a broker id")
        return ConfigResource(kind, str(name))

    @staticmethod
    def _by_node(resources: list[ConfigResource]) -> dict[int | None, list[ConfigResource]]:
        """Broker configs go to that broker; topic configs (and cluster defaults) to any."""
        groups: dict[int | None, list[ConfigResource]] = {}
        for r in resources:
            node = int(r.name) if r.type == "broker" and r.name else None
            groups.setdefault(node, []).append(r)
        return groups

    def _metadata_call(
        self,
        what: str,
        topics: list[str] | None,
        handle: Callable[[dict[str, Any]], None],
        futures: list[Future[Any]],
        timeout: float | None,
    ) -> None:
        def build(version: int) -> dict[str, Any]:
            return {
                "topics": None if topics is None else [{"name": t} for t in topics],
                "allow_auto_topic_creation": False,
            }

        def handle_metadata(body: dict[str, Any]) -> None:
            self._learn_brokers(body)
            handle(body)

        self._submit(what, ApiKey.METADATA, build, handle_metadata, futures, timeout)

    def _learn_brokers(self, body: dict[str, Any]) -> None:
        self._brokers = {b["node_id"]: Node(b["node_id"], b["host"], b["port"], b["rack"]) for b in body["brokers"]}
        self._network.set_brokers({n.id: (n.host, n.port) for n in self._brokers.values()})

    def _submit(
        self,
        what: str,
        api: ApiKey,
        build: Callable[[int], dict[str, Any]],
        handle: Callable[[dict[str, Any]], None],
        futures: list[Future[Any]],
        timeout: float | None,
        node: int | None = None,
    ) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else self._api_timeout / 1000)
        call = _Call(what, api, build, handle, futures, deadline, node)
        with self._lock:
            if self._closing:
                call.fail(ProducerClosedError(f"{what}() after Admin.close()"))
                return
            self._incoming.append(call)
        self._network.wake()

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    self._pending.extend(self._incoming)
                    self._incoming.clear()
                    closing, close_deadline = self._closing, self._close_deadline
                now = time.monotonic()
                if closing and (not self._pending or now >= close_deadline):
                    for call in self._pending:
                        call.fail(ProducerClosedError(f"{call.what}: the Admin client was closed"))
                    return
                self._network.poll(self._dispatch(now))
        except Exception as exc:  # a bug: fail every call rather than leave futures hanging
            log.exception("josef admin thread failed")
            for call in [*self._pending, *self._incoming]:
                call.fail(exc)
        finally:
            self._network.close()

    def _dispatch(self, now: float) -> float:
        """Send what can go now; returns how long the network may wait."""
        wait = 1.0
        for call in list(self._pending):
            if call.in_flight:
                continue
            if now >= call.deadline:
                self._pending.remove(call)
                call.fail(KafkaTimeoutError(f"{call.what}: timed out after {call.attempts} attempt(s)"))
                continue
            if now < call.retry_at:
                wait = min(wait, call.retry_at - now)
                continue
            if call.node is not None and call.node not in self._brokers:
                node = None  # learn the broker's address first
                self._refresh_brokers(call.deadline)
            else:
                node = call.node if call.node is not None else self._network.least_loaded(now)
            if node is None or not self._network.ready(node, now):
                delay = self._network.next_reconnect_delay(now)
                wait = min(wait, delay if delay is not None else 0.05, call.deadline - now)
                continue
            version = self._network.api_versions(node).version(call.api)
            call.in_flight = True
            call.attempts += 1
            try:
                body = call.build(version)
                self._network.send(node, call.api, version, body, self._responder(call), now)
            except KafkaError as exc:
                self._pending.remove(call)
                call.fail(exc)
        return max(wait, 0.0)

    def _refresh_brokers(self, deadline: float) -> None:
        if any(c.what == "refresh_brokers" for c in self._pending):
            return
        call = _Call("refresh_brokers", ApiKey.METADATA, lambda v: {"topics": [], "allow_auto_topic_creation": False},
                     self._learn_brokers, [], deadline)
        self._pending.append(call)

    def _responder(self, call: _Call) -> Callable[[dict[str, Any] | None, KafkaError | None], None]:
        def on_response(body: dict[str, Any] | None, error: KafkaError | None) -> None:
            call.in_flight = False
            if error is not None or body is None:  # the connection failed: try again, maybe elsewhere
                call.retry_at = time.monotonic() + self._retry_backoff * min(2 ** (call.attempts - 1), 10)
                log.info("%s: %s; retrying", call.what, error)
                return
            self._pending.remove(call)
            try:
                call.handle(body)
            except Exception as exc:
                log.exception("%s: cannot handle the response", call.what)
                call.fail(exc)
            call.fail(KafkaError(f"{call.what}: the broker's response did not mention it"))

        return on_response


__all__ = [
    "Admin",
    "AlterConfigOp",
    "ClusterDescription",
    "ConfigEntry",
    "ConfigResource",
    "NewTopic",
    "Node",
    "PartitionInfo",
    "TopicDescription",
]
