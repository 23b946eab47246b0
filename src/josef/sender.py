"""The sender: the one background thread that does all network I/O.

Each turn of its loop (the shape of the Java client's ``Sender.runOnce``): refresh metadata if
due, get a producer id if idempotent, ask the accumulator which leaders have sendable data,
drain one request's worth per ready leader, expire batches past ``delivery.timeout.ms``, then
sleep in ``select`` until a socket is ready, a batch's linger or backoff ends, or a user
thread wakes it. Responses complete batches, or put them back for a retry.
"""

from __future__ import annotations

import logging
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from josef import compression
from josef.accumulator import Accumulator, ProducerBatch, TopicPartition
from josef.config import ProducerConfig
from josef.connection import CLOSED, BrokerConnection
from josef.errors import (
    DeliveryTimeoutError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    ProducerClosedError,
    RecordTooLargeError,
    UnsupportedVersionError,
    error_for_code,
)
from josef.idempotence import IdempotenceState, add_sequence
from josef.metadata import ClusterMetadata
from josef.metrics import ProducerMetrics
from josef.protocol import ApiKey
from josef.records import HEADER_SIZE, encode_batch, estimated_size
from josef.transactions import TransactionManager

log = logging.getLogger("josef.sender")

# Produce v13 addresses topics by id (from Metadata v10+); older brokers get what they speak.
_MAX_PRODUCE_VERSION = 13
_DUPLICATE_SEQUENCE = 46
_OUT_OF_ORDER_SEQUENCE = 45
_MESSAGE_TOO_LARGE = 10
_UNKNOWN_PRODUCER_ID = 59
_INVALID_PRODUCER_EPOCH = 47
_SEQUENCE_ERRORS = frozenset({_OUT_OF_ORDER_SEQUENCE, _UNKNOWN_PRODUCER_ID, _INVALID_PRODUCER_EPOCH})
# Errors after which the batch may be in the log all the same: REQUEST_TIMED_OUT,
# NETWORK_EXCEPTION, NOT_ENOUGH_REPLICAS_AFTER_APPEND, UNKNOWN_SERVER_ERROR.
_MAYBE_WRITTEN = frozenset({7, 13, 20, -1})


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


class Sender:
    def __init__(self, config: ProducerConfig, metadata: ClusterMetadata, accumulator: Accumulator) -> None:
        self.config = config
        self.metadata = metadata
        self.acc = accumulator
        self.acks: int = config["acks"]
        self.request_timeout = config["request.timeout.ms"] / 1000
        self.delivery_timeout = config["delivery.timeout.ms"] / 1000
        self.setup_timeout = config["socket.connection.setup.timeout.ms"] / 1000
        self.idle_timeout = config["connections.max.idle.ms"] / 1000
        self.max_request_size: int = config["max.request.size"]
        self.retries: int = config["retries"]
        self.retry_backoff = Backoff(config["retry.backoff.ms"], config["retry.backoff.max.ms"])
        self.reconnect_backoff = Backoff(config["reconnect.backoff.ms"], config["reconnect.backoff.max.ms"])
        self.max_in_flight: int = config["max.in.flight.requests.per.connection"]
        self.codec = compression.CODEC_IDS[config["compression.type"]]
        level = {
            compression.GZIP: config["compression.gzip.level"],
            compression.LZ4: config["compression.lz4.level"],
            compression.ZSTD: config["compression.zstd.level"],
        }.get(self.codec)
        self.compress = compression.compressor(self.codec, level) if self.codec else None
        self.idempotence = IdempotenceState() if config.idempotent else None
        self.txn: TransactionManager | None = None
        if config["transactional.id"] is not None and self.idempotence is not None:
            self.txn = TransactionManager(
                config["transactional.id"], config["transaction.timeout.ms"], self.idempotence, self.wake,
                retry_backoff=config["retry.backoff.ms"] / 1000,
                retry_backoff_max=config["retry.backoff.max.ms"] / 1000,
            )
        # Without idempotence, order survives retries only with one batch per partition in flight.
        self.strict_order = self.idempotence is None and self.retries > 0

        self.conns: dict[int, BrokerConnection] = {}
        self._masks: dict[int, int] = {}
        self._reconnect_at: dict[int, float] = {}
        self._reconnect_attempts: dict[int, int] = {}
        self.in_flight: dict[TopicPartition, list[ProducerBatch]] = {}
        self._metadata_in_flight = False
        self._metadata_retry_at = 0.0
        self._metadata_failures = 0
        self._init_pid_in_flight = False
        self._init_pid_retry_at = 0.0
        self._written_unanswered = False  # an acks=0 request was written during this poll
        self.fatal_error: KafkaError | None = None

        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._wake_pending = False
        self._running = True
        self._close_deadline: float | None = None
        self.thread = threading.Thread(target=self._run, name="josef-sender", daemon=True)
        self.requests_sent = 0
        self.batches_sent = 0
        self.retried_batches = 0
        self.split_batches = 0
        self.metrics = ProducerMetrics.from_config(config)
        self.on_request: Callable[[int, list[ProducerBatch]], None] | None = None

    # -- control from user threads -------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._wake_w.send(b"\x00")
        except OSError:
            pass

    def initiate_close(self, deadline: float) -> None:
        """Finish what is queued and in flight, then stop; at ``deadline`` give up on the rest."""
        self._close_deadline = deadline
        self.wake()

    def force_close(self) -> None:
        self._close_deadline = 0.0
        self.wake()

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._running:
                self._run_once()
        except Exception as exc:  # a bug: never leave records hanging
            log.exception("josef sender thread crashed; failing all pending records")
            self._fail_everything(KafkaError(f"josef sender thread crashed: {exc!r}"))
        finally:
            for conn in list(self.conns.values()):
                conn.close(ProducerClosedError("producer closed"))
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _run_once(self) -> None:
        batches_seen = self.acc.sendable_events
        now = time.monotonic()
        timeout = 3600.0
        if self._close_deadline is not None:
            if now >= self._close_deadline:
                self._fail_everything(KafkaTimeoutError(
                    "producer closed before the record was delivered (close() timeout ran out)"
                ))
                self._running = False
                return
            if not self.acc.incomplete and not any(self.in_flight.values()) and (self.txn is None or self.txn.idle()):
                self._running = False
                return
            timeout = self._close_deadline - now

        if self.fatal_error is not None:
            self._fail_everything(self.fatal_error)

        timeout = min(timeout, self._maintain_metadata(now))
        if self.idempotence is not None and self.txn is None:
            timeout = min(timeout, self._maintain_producer_id(now))

        # Drain until nothing more may go: every trip through select() hands the GIL to the
        # application's threads and costs a wait to get it back.
        drained = True
        while drained:
            drained = False
            ready, next_check, unknown_leader = self.acc.ready(now, self.metadata.leader_of, self._can_drain)
            if unknown_leader:
                self.metadata.request_update()
            for node in ready:
                conn = self._connection(node, now)
                if conn is None:
                    timeout = min(timeout, max(self._reconnect_at.get(node, now) - now, 0.0))
                    continue
                if not conn.can_send():
                    continue
                batches = self.acc.drain(
                    node, self.metadata.partitions_led_by(node), self.max_request_size, now, self._can_drain
                )
                if batches:
                    self._send_produce(conn, batches, now)
                    drained = True
        timeout = min(timeout, next_check)
        if self.txn is not None:  # after draining: it adds the partitions the drain asked for
            timeout = min(timeout, self.txn.maintain(self, now))

        timeout = min(timeout, self._expire(now))
        timeout = min(timeout, self._check_connections(now))
        if not self.acc.sleep_until(now + timeout, batches_seen):
            timeout = 0.0  # a batch was opened or filled after we looked: look again
        self._poll(max(timeout, 0.0))

    def _poll(self, timeout: float) -> None:
        now = time.monotonic()
        self._written_unanswered = False
        for conn_id, conn in list(self.conns.items()):
            if conn.wants_write:
                conn.flush(now)  # one write per connection per turn, whatever this turn queued
            if conn.state == CLOSED or conn.sock is None:
                continue
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.wants_write else 0)
            if self._masks.get(conn_id) != mask:
                self._selector.modify(conn.sock, mask, conn)
                self._masks[conn_id] = mask
        if self._written_unanswered:
            timeout = 0.0  # acks=0 batches just completed: their partitions may send again
        events = self._selector.select(timeout)
        # Awake: appends need not wake us (sleep_until() sees what they did before we sleep again).
        self.acc.sender_wakes_at = 0.0
        now = time.monotonic()
        for key, mask in events:
            conn = key.data
            if conn is None:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                # Only after draining: a wake() that raced with the drain still finds this
                # iteration's _run_once ahead of it, so no request to wake is lost.
                self._wake_pending = False
                continue
            if mask & selectors.EVENT_WRITE and conn.state != CLOSED:
                conn.on_writable(now)
            if mask & selectors.EVENT_READ and conn.state != CLOSED:
                conn.on_readable(now)

    # -- connections ---------------------------------------------------------------------------

    def _address(self, node: int) -> tuple[str, int] | None:
        if node < 0:
            return self.metadata.bootstrap[-node - 1]
        broker = self.metadata.brokers.get(node)
        return (broker.host, broker.port) if broker is not None else None

    def _connection(self, node: int, now: float) -> BrokerConnection | None:
        """A ready connection to ``node``, or None while it is connecting or backing off."""
        conn = self.conns.get(node)
        if conn is not None and conn.state != CLOSED:
            return conn if conn.ready else None
        if now < self._reconnect_at.get(node, 0.0):
            return None
        address = self._address(node)
        if address is None:
            return None
        conn = BrokerConnection(
            node,
            address[0],
            address[1],
            client_id=self.config["client.id"],
            max_in_flight=self.max_in_flight,
            send_buffer=self.config["send.buffer.bytes"],
            receive_buffer=self.config["receive.buffer.bytes"],
        )
        conn.on_ready = self._on_connection_ready
        conn.on_close = self._on_connection_closed
        if self.metrics.recording:
            conn.stats = self.metrics.node(node)
        self.conns[node] = conn
        try:
            conn.connect(now)
        except KafkaConnectionError:
            return None
        self._selector.register(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)  # type: ignore[arg-type]
        self._masks[node] = selectors.EVENT_READ | selectors.EVENT_WRITE
        return None

    def _on_connection_ready(self, conn: BrokerConnection) -> None:
        self._reconnect_attempts.pop(conn.node_id, None)
        produce = conn.versions.get(ApiKey.PRODUCE, 0)
        if produce < compression.MIN_PRODUCE_VERSION[self.codec]:
            self.fatal_error = UnsupportedVersionError(
                f"compression.type={self.config['compression.type']} needs Produce v"
                f"{compression.MIN_PRODUCE_VERSION[self.codec]}+, broker {conn.node_id} speaks up to v{produce}"
            )

    def _on_connection_closed(self, conn: BrokerConnection, error: KafkaError) -> None:
        if conn.sock is not None:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        self._masks.pop(conn.node_id, None)
        attempts = self._reconnect_attempts.get(conn.node_id, 0) + 1
        self._reconnect_attempts[conn.node_id] = attempts
        self._reconnect_at[conn.node_id] = time.monotonic() + self.reconnect_backoff(attempts)
        if self._running:
            log.info("connection to node %s closed: %s", conn.node_id, error)
        self.metadata.request_update()

    def _check_connections(self, now: float) -> float:
        """Close connections that timed out or idled; returns how soon the next may time out."""
        soonest = 3600.0
        for conn in list(self.conns.values()):
            if conn.state == CLOSED:
                continue
            deadline = conn.deadline(self.request_timeout, self.setup_timeout, self.idle_timeout)
            if deadline is not None:
                soonest = min(soonest, max(deadline - now, 0.0) + 0.001)
            if conn.timed_out(now, self.request_timeout, self.setup_timeout):
                conn.close(KafkaConnectionError(
                    f"node {conn.node_id} did not answer within request.timeout.ms "
                    f"({self.request_timeout * 1000:.0f} ms) or socket.connection.setup.timeout.ms"
                ))
            elif (
                self.idle_timeout > 0
                and not conn.in_flight
                and now - conn.last_activity > self.idle_timeout
            ):
                conn.close(KafkaConnectionError(f"idle connection to node {conn.node_id} closed"))
            elif conn.node_id < 0 and self.metadata.brokers and conn.ready and not conn.in_flight:
                conn.close(KafkaConnectionError("bootstrap connection no longer needed"))
        return soonest

    def _any_ready_connection(self, now: float) -> BrokerConnection | None:
        """The least loaded ready connection, starting a new one if there is none."""
        ready = [c for c in self.conns.values() if c.can_send()]
        if ready:
            return min(ready, key=lambda c: len(c.in_flight))
        if any(c.state not in (CLOSED,) for c in self.conns.values()):
            return None  # one is on its way
        candidates = list(self.metadata.brokers)
        # Fall back to bootstrap servers when no known broker can be reached (rebootstrap).
        if not candidates or self._metadata_failures >= 2 * max(len(candidates), 1):
            candidates += [-i - 1 for i in range(len(self.metadata.bootstrap))]
        random.shuffle(candidates)
        for node in candidates:
            if now >= self._reconnect_at.get(node, 0.0):
                self._connection(node, now)
                self._metadata_failures += 1
                return None
        return None

    # -- metadata and producer id --------------------------------------------------------------

    def _maintain_metadata(self, now: float) -> float:
        if self._metadata_in_flight:
            return 3600.0
        if not self.metadata.needs_update(now):
            return self.metadata.max_age - (now - self.metadata.updated_at)
        if now < self._metadata_retry_at:
            return self._metadata_retry_at - now
        conn = self._any_ready_connection(now)
        if conn is None:
            waits = [at - now for at in self._reconnect_at.values() if at > now]
            return min(waits) if waits else self.retry_backoff.initial or 0.05
        asked = set(self.metadata.topics_to_request())
        body = {
            "topics": [{"name": name} for name in sorted(asked)],
            "allow_auto_topic_creation": True,
            "include_topic_authorized_operations": False,
        }
        self._metadata_in_flight = True
        self.metadata.update_requested = False

        def on_response(response: dict[str, Any] | None, error: KafkaError | None) -> None:
            self._metadata_in_flight = False
            done = time.monotonic()
            if error is not None or response is None:
                self.metadata.request_update()
                self._metadata_retry_at = done + self.retry_backoff(1)
                return
            if response.get("error_code"):
                self.metadata.request_update()
                self._metadata_retry_at = done + self.retry_backoff(1)
                return
            self._metadata_failures = 0
            self.metadata.update(response, done)
            if not asked.issuperset(set(self.metadata.wanted)):
                self.metadata.request_update()  # a topic became wanted while this was in flight: ask now
            elif self.metadata.update_requested:  # some partitions have no leader yet: ask again soon
                self._metadata_retry_at = done + self.retry_backoff.initial

        conn.send(ApiKey.METADATA, body, on_response, now)
        return 3600.0

    def _maintain_producer_id(self, now: float) -> float:
        state = self.idempotence
        assert state is not None
        if state.bump_needed and not any(self.in_flight.values()) and not self.acc.has_unknown(state.producer_epoch):
            state.bump_epoch()
            self.acc.reset_sequences()
        if state.producer_id >= 0 or self._init_pid_in_flight:
            return 3600.0
        if now < self._init_pid_retry_at:
            return self._init_pid_retry_at - now
        conn = self._any_ready_connection(now)
        if conn is None:
            return 0.05
        self._init_pid_in_flight = True

        def on_response(response: dict[str, Any] | None, error: KafkaError | None) -> None:
            self._init_pid_in_flight = False
            if error is None and response is not None and response["error_code"]:
                error = error_for_code(response["error_code"], "InitProducerId failed")
            if error is not None or response is None:
                if error is not None and not error.retriable:
                    # e.g. CLUSTER_AUTHORIZATION_FAILED: what waits for a producer id fails now;
                    # later sends ask again (after a backoff), as the Java client does.
                    self._fail_everything(error)
                self._init_pid_retry_at = time.monotonic() + self.retry_backoff(1)
                return
            state.set_producer_id(response["producer_id"], response["producer_epoch"])

        body = {
            "transactional_id": None,
            "transaction_timeout_ms": 2**31 - 1,
            "producer_id": -1,
            "producer_epoch": -1,
        }
        conn.send(ApiKey.INIT_PRODUCER_ID, body, on_response, now)
        return 3600.0

    def _can_drain(self, batch: ProducerBatch) -> bool:
        """The per-partition in-flight gate (called under the accumulator lock)."""
        if self.fatal_error is not None:
            return False
        if self.txn is not None and not self.txn.may_drain(batch):
            return False
        in_flight = self.in_flight.get(batch.tp)
        count = len(in_flight) if in_flight else 0
        state = self.idempotence
        if state is None:
            return count == 0 if self.strict_order else True
        if state.producer_id < 0:
            return False
        if state.bump_needed:
            # Unresolved batches go out under their old epoch to learn their fate; the rest
            # waits for the new epoch.
            return batch.unknown and batch.producer_epoch == state.producer_epoch and count == 0
        if batch.base_sequence >= 0:
            # A retry goes alone, lowest sequence first, so the broker sees no gap.
            return count == 0
        return count < state.max_in_flight(batch.tp)

    def _send_produce(self, conn: BrokerConnection, batches: list[ProducerBatch], now: float) -> None:
        state = self.idempotence
        version = min(conn.versions[ApiKey.PRODUCE], _MAX_PRODUCE_VERSION)
        txn = self.txn
        if txn is not None:
            version = min(version, txn.max_produce_version)
            txn.batches_sent(batches)
        topics: dict[str, list[dict[str, Any]]] = {}
        by_tp: dict[TopicPartition, ProducerBatch] = {}
        for batch in batches:
            if state is not None and batch.base_sequence < 0:
                state.assign(batch)
            if batch.encoded is None:
                batch.encoded, batch.raw_size = encode_batch(
                    batch.records,
                    base_timestamp=batch.records[0][0],
                    max_timestamp=batch.max_ts,
                    producer_id=batch.producer_id,
                    producer_epoch=batch.producer_epoch,
                    base_sequence=batch.base_sequence,
                    transactional=txn is not None,
                    codec=self.codec,
                    compress=self.compress,
                )
                if self.compress is not None and batch.raw_size:
                    self.acc.observe_compression(batch.topic, (len(batch.encoded) - HEADER_SIZE) / batch.raw_size)
            topics.setdefault(batch.topic, []).append({"index": batch.partition, "records": batch.encoded})
            by_tp[batch.tp] = batch
            self.in_flight.setdefault(batch.tp, []).append(batch)
        names_by_id: dict[Any, str] = {}
        if version >= 13:  # topics by id (KIP-516), if metadata gave us every id
            for name in topics:
                topic_id = self.metadata.topic_id(name)
                if topic_id is None:
                    version = 12
                    break
                names_by_id[topic_id] = name
        if version >= 13:
            topic_data = [
                {"topic_id": topic_id, "partition_data": topics[name]} for topic_id, name in names_by_id.items()
            ]
        else:
            topic_data = [{"name": name, "partition_data": parts} for name, parts in topics.items()]
        body = {
            "transactional_id": txn.transactional_id if txn is not None else None,
            "acks": self.acks,
            "timeout_ms": int(self.request_timeout * 1000),
            "topic_data": topic_data,
        }
        self.requests_sent += 1
        self.batches_sent += len(batches)
        if self.metrics.recording:
            self.metrics.record_produce(batches, now)
        if self.on_request is not None:
            self.on_request(conn.node_id, batches)

        def on_response(response: dict[str, Any] | None, error: KafkaError | None) -> None:
            self._on_produce_response(by_tp, response, error, names_by_id)

        conn.send(ApiKey.PRODUCE, body, on_response, now, version=version, expect_response=self.acks != 0)

    def _on_produce_response(
        self,
        by_tp: dict[TopicPartition, ProducerBatch],
        response: dict[str, Any] | None,
        error: KafkaError | None,
        names_by_id: dict[Any, str] | None = None,
    ) -> None:
        now = time.monotonic()
        for batch in by_tp.values():
            flight = self.in_flight.get(batch.tp)
            if flight is not None and batch in flight:
                flight.remove(batch)
        if error is not None or response is None:
            for batch in by_tp.values():
                # The request may or may not have reached the log: its fate is unknown.
                batch.unknown = self.acks != 0
                self._retry_or_fail(batch, error or KafkaConnectionError("no response"), now)
            return
        if self.acks == 0:
            for batch in by_tp.values():
                self._complete(batch, -1, -1, None)
            self._written_unanswered = True
            return
        seen = set()
        for topic in response["responses"]:
            name: str = names_by_id.get(topic.get("topic_id"), "") if names_by_id else topic["name"]
            for part in topic["partition_responses"]:
                tp = TopicPartition(name, part["index"])
                answered = by_tp.get(tp)
                if answered is None:
                    continue
                seen.add(tp)
                self._on_partition_response(answered, part, now)
        for tp, batch in by_tp.items():
            if tp not in seen:
                self._retry_or_fail(batch, KafkaError(f"broker response had no result for {tp[0]}-{tp[1]}"), now)

    def _on_partition_response(self, batch: ProducerBatch, part: dict[str, Any], now: float) -> None:
        code = part["error_code"]
        state = self.idempotence
        if code == 0 or code == _DUPLICATE_SEQUENCE:
            if state is not None:
                state.acknowledged(batch)
            base = part["base_offset"] if code == 0 else -1
            self._complete(batch, base, part.get("log_append_time_ms", -1), None)
            return
        message = part.get("error_message")
        record_errors = part.get("record_errors") or []
        if record_errors and not message:
            message = "; ".join(f"record {e['batch_index']}: {e.get('batch_index_error_message')}"
                                for e in record_errors)
        error: KafkaError = error_for_code(code, message)
        leader = part.get("current_leader")
        if leader and leader.get("leader_id", -1) >= 0:
            self.metadata.set_leader(batch.tp, leader["leader_id"], leader.get("leader_epoch", -1))
        if getattr(error, "invalid_metadata", False):
            self.metadata.request_update()
        if code == _MESSAGE_TOO_LARGE and len(batch.records) > 1:
            if self.compress is not None and batch.encoded is not None and batch.raw_size:
                ratio = (len(batch.encoded) - HEADER_SIZE) / batch.raw_size
                self.acc.observe_compression(batch.topic, ratio, reset=True)
            self._split(batch, now)
            return
        if code == _MESSAGE_TOO_LARGE:
            error = RecordTooLargeError(
                f"the broker refused a record of {batch.raw_size} bytes as too large for "
                f"{batch.topic} (message.max.bytes / max.message.bytes): {message or error}"
            )
        if code in _MAYBE_WRITTEN:
            batch.unknown = True  # the broker may have appended it before giving up
        if state is not None and code in _SEQUENCE_ERRORS:
            self._on_sequence_error(batch, code, part, error, now)
            return
        self._retry_or_fail(batch, error, now)

    def _on_sequence_error(
        self, batch: ProducerBatch, code: int, part: dict[str, Any], error: KafkaError, now: float
    ) -> None:
        """OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID and INVALID_PRODUCER_EPOCH for an
        idempotent (not transactional) producer, handled as the Java client does (KIP-360)."""
        state = self.idempotence
        assert state is not None
        if batch.producer_id != state.producer_id or batch.producer_epoch != state.producer_epoch:
            # An answer for an older epoch: send it again, stamped anew.
            batch.base_sequence = -1
            batch.encoded = None
            batch.unknown = False
            self._retry(batch, now)
            return
        if code == _OUT_OF_ORDER_SEQUENCE and state.is_consequence(batch):
            # An earlier batch of this partition failed; this one follows once that is resent.
            self._retry(batch, now)
            return
        if self.txn is not None:
            # No bump mid-transaction: the batch fails, and with it the transaction (abortable).
            batch.unknown = False
            state.failed(batch, error)
            self._complete(batch, -1, -1, error)
            return
        if batch.unknown:
            # An earlier attempt may have been written before the broker lost track of it:
            # resending under a new epoch could store it twice, so it fails, saying why.
            batch.unknown = False
            state.failed(batch, error)
            self._complete(batch, -1, -1, type(error)(
                f"{error} after an attempt whose outcome is unknown (lost response or timeout): "
                "the record may or may not have been written; it was not resent, to avoid a duplicate"
            ))
            return
        if now - batch.created >= self.delivery_timeout:
            state.failed(batch, error)
            self._complete(batch, -1, -1, error)
            return
        # The broker has lost (UNKNOWN_PRODUCER_ID), never had (OUT_OF_ORDER_SEQUENCE_NUMBER)
        # or no longer accepts (INVALID_PRODUCER_EPOCH) this producer's state for the partition:
        # go on under a new epoch, sequences from 0, once nothing is in flight or unresolved.
        log.info("%s for %s-%s (sequence %s): bumping the producer epoch", type(error).__name__,
                 batch.topic, batch.partition, batch.base_sequence)
        if code == _INVALID_PRODUCER_EPOCH:
            state.reset_producer_id()
        else:
            state.bump_needed = True
        self._retry(batch, now)

    def _split(self, batch: ProducerBatch, now: float) -> None:
        """The broker refused the batch as too large: send its records again in halves (each at
        most ``batch.size``), keeping the batch's producer id, epoch and sequence range, as the
        Java client does (KIP-126). A single record still too large then fails alone."""
        records = batch.records
        target = min(self.acc.batch_size, max(batch.raw_size // 2, 1))
        parts: list[ProducerBatch] = []
        start = 0
        while start < len(records):
            size, end = 0, start
            while end < len(records) and (end == start or size + estimated_size(records[end]) <= target):
                size += estimated_size(records[end])
                end += 1
            if end - start == len(records):  # never resend the batch whole
                end = start + max(len(records) // 2, 1)
            part = ProducerBatch(batch.tp, batch.created)
            part.records = records[start:end]
            part.size = size
            part.max_ts = max(r[0] for r in part.records)
            part.attempts = batch.attempts
            if batch.base_sequence >= 0:
                part.producer_id = batch.producer_id
                part.producer_epoch = batch.producer_epoch
                part.base_sequence = add_sequence(batch.base_sequence, start)
            parts.append(part)
            start = end
        batch.result.split(
            [(part.result, sum(len(p.records) for p in parts[:i]), len(part.records)) for i, part in enumerate(parts)],
            lambda: self.acc.complete(batch),
        )
        self.split_batches += 1
        if self.metrics.recording:
            self.metrics.record_split(now)
        self.acc.put_back(parts)

    def _retry_or_fail(self, batch: ProducerBatch, error: KafkaError, now: float) -> None:
        if (
            error.retriable
            and batch.attempts < self.retries
            and now - batch.created < self.delivery_timeout
            and self._close_deadline != 0.0
        ):
            self._retry(batch, now)
            return
        if batch.unknown and self.idempotence is not None and self._close_deadline != 0.0 and error.retriable:
            # It may be in the log: failing it could be a lie, and resending it under a new
            # sequence a duplicate. Retry with the same sequence until the broker says which.
            self._retry(batch, now)
            return
        if self.idempotence is not None and batch.base_sequence >= 0:
            self.idempotence.failed(batch, error)
        self._complete(batch, -1, -1, error)

    def _retry(self, batch: ProducerBatch, now: float) -> None:
        self.retried_batches += 1
        if self.metrics.recording:
            self.metrics.record_retry(batch.topic, len(batch.records), now)
        self.acc.reenqueue(batch, now, self.retry_backoff(batch.attempts + 1))

    def _complete(self, batch: ProducerBatch, base_offset: int, append_time: int, error: BaseException | None) -> None:
        if batch.result.done():
            return
        self.acc.complete(batch)
        if error is not None and self.metrics.recording:
            self.metrics.record_error(batch.topic, len(batch.records), time.monotonic())
        if error is not None and self.txn is not None:
            self.txn.batch_failed(error)
        batch.result.complete(base_offset, append_time if append_time is not None else -1, error)

    def _expire(self, now: float) -> float:
        expired, next_expiry = self.acc.expire(now, self.delivery_timeout, keep_unknown=self.idempotence is not None)
        for batch in expired:
            if self.idempotence is not None and batch.base_sequence >= 0:
                self.idempotence.failed(batch, None)
            waited = (now - batch.created) * 1000
            self._complete(batch, -1, -1, DeliveryTimeoutError(
                f"expiring {len(batch.records)} record(s) for {batch.topic}-{batch.partition}: "
                f"{waited:.0f} ms has passed since batch creation (delivery.timeout.ms="
                f"{self.delivery_timeout * 1000:.0f})"
            ))
        return max(next_expiry - now, 0.0) + 0.001

    def _fail_everything(self, error: BaseException) -> None:
        for batch in self.acc.abort_all():
            self._complete(batch, -1, -1, error)
        for flight in self.in_flight.values():
            for batch in flight:
                self._complete(batch, -1, -1, error)
            flight.clear()
        for batch in list(self.acc.incomplete):
            self._complete(batch, -1, -1, error)

