"""The sender: the one background thread that does all network I/O.

Each turn of its loop (the shape of the Java client's ``Sender.runOnce``): refresh metadata if
due, get a producer id if idempotent, ask the accumulator which leaders have sendable data,
drain one request's worth per ready leader, send what the transaction manager asks for,
expire batches past ``delivery.timeout.ms``, then sleep in the
:class:`~josef._core.network.NetworkClient`'s ``poll`` until a socket is ready, a batch's linger or
backoff ends, or a user thread wakes it. Produce responses go to
:class:`~josef._core.outcomes.BatchOutcomes`, which completes batches or puts them back for a retry.
Metadata, producer ids and transactions are I/O-free request sources the sender asks for
their next request. The sender is the only user of the network layer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from josef._core import compression
from josef._core.accumulator import Accumulator
from josef._core.batch import ProducerBatch
from josef._core.idempotence import IdempotenceState
from josef._core.metadata import ClusterMetadata, MetadataRequests
from josef._core.metrics import ProducerMetrics
from josef._core.network import Backoff, NetworkClient, NetworkSettings, NodeApis
from josef._core.outcomes import BatchOutcomes
from josef._core.producer_id import ProducerIdSource
from josef._core.protocol import ApiKey
from josef._core.records import HEADER_SIZE, seal_batch
from josef._core.request_source import Request, TargetKind
from josef._core.transactions import TransactionManager
from josef.config import ProducerConfig
from josef.errors import (
    AuthenticationError,
    KafkaError,
    KafkaTimeoutError,
    ProducerClosedError,
    SenderStoppedError,
    SslAuthenticationError,
    UnsupportedVersionError,
)
from josef.types import TopicPartition

log = logging.getLogger("josef.sender")

# Produce v13 addresses topics by id (from Metadata v10+); older brokers get what they speak.
_MAX_PRODUCE_VERSION = 13


class Sender:
    def __init__(self, config: ProducerConfig, metadata: ClusterMetadata, accumulator: Accumulator) -> None:
        self.config = config
        self.metadata = metadata
        self.acc = accumulator
        self.acks: int = config["acks"]
        self.request_timeout = config["request.timeout.ms"] / 1000
        self.delivery_timeout = config["delivery.timeout.ms"] / 1000
        self.max_request_size: int = config["max.request.size"]
        self.retries: int = config["retries"]
        self.retry_backoff = Backoff(config["retry.backoff.ms"], config["retry.backoff.max.ms"])
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
        self.producer_ids: ProducerIdSource | None = None
        if self.idempotence is not None and self.txn is None:
            self.producer_ids = ProducerIdSource(self.idempotence, self.retry_backoff, self._fail_on_producer_id)
        # Without idempotence, order survives retries only with one batch per partition in flight:
        # as in the Java client, that is what max.in.flight.requests.per.connection=1 asks for;
        # with more, a retried batch may land after the ones sent behind it.
        self.strict_order = (
            self.idempotence is None and self.retries > 0 and config["max.in.flight.requests.per.connection"] == 1
        )

        self.in_flight: dict[TopicPartition, list[ProducerBatch]] = {}
        self.metadata_requests = MetadataRequests(metadata, self.retry_backoff, self._on_metadata_update)
        self.fatal_error: KafkaError | None = None

        self.metrics = ProducerMetrics.from_config(config)
        self.network = NetworkClient(
            NetworkSettings.from_config(config),
            metadata.bootstrap,
            on_ready=self._on_node_ready,
            on_disconnect=self._on_disconnect,
            node_stats=self.metrics.node if self.metrics.recording else None,
        )
        self.network.register_metrics(self.metrics)
        metadata.register_metrics(self.metrics)
        metadata.connection_problem = self.network.unreachable
        self.outcomes = BatchOutcomes(
            acks=self.acks, retries=self.retries, delivery_timeout=self.delivery_timeout,
            retry_backoff=self.retry_backoff, compress=self.compress, accumulator=accumulator,
            metadata=metadata, metrics=self.metrics, idempotence=self.idempotence, txn=self.txn,
            in_flight=self.in_flight, on_written=self.network.completed_on_write,
        )
        self._running = True
        self.stopped: str | None = None  # why the loop stopped, if it failed
        self._close_deadline: float | None = None
        self.thread = threading.Thread(target=self._run, name="josef-sender", daemon=True)
        self.requests_sent = 0
        self.batches_sent = 0
        self.on_request: Callable[[int, list[ProducerBatch]], None] | None = None

    # -- control from user threads -------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        """Interrupt the sender's wait (any thread)."""
        self.network.wake()

    @property
    def retried_batches(self) -> int:
        return self.outcomes.retried_batches

    @property
    def split_batches(self) -> int:
        return self.outcomes.split_batches

    def initiate_close(self, deadline: float) -> None:
        """Finish what is queued and in flight, then stop; at ``deadline`` give up on the rest."""
        self._close_deadline = deadline
        self.wake()

    def force_close(self) -> None:
        self._close_deadline = 0.0
        self.outcomes.forced = True
        self.wake()

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._running:
                self._run_once()
        except BaseException as exc:  # a bug, or sys.exit() in a callback: never leave records hanging
            self._stop_on(exc)
        finally:
            self.network.close(ProducerClosedError("producer closed"))

    def _stop_on(self, exc: BaseException) -> None:
        """The loop itself failed: nothing can be sent any more. Every pending record, every
        later send() and flush() fail at once with an error that says so."""
        reason = (
            f"josef's sender thread stopped on an unexpected {type(exc).__name__}: {exc} (a bug: please "
            "report it); the producer cannot send any more, create a new one"
        )
        log.critical("%s", reason, exc_info=exc)
        self.stopped = reason
        self.acc.stop(reason)
        try:
            self.outcomes.fail_everything(SenderStoppedError(reason))
        except BaseException:
            log.exception("josef: failing the pending records after the sender stopped failed")

    def _run_once(self) -> None:
        batches_seen = self.acc.sendable_events
        now = time.monotonic()
        timeout = 3600.0
        if self._close_deadline is not None:
            if now >= self._close_deadline:
                self.outcomes.fail_everything(KafkaTimeoutError(
                    "producer closed before the record was delivered (close() timeout ran out)"
                ))
                self._running = False
                return
            if not self.acc.incomplete and not any(self.in_flight.values()) and (self.txn is None or self.txn.idle()):
                self._running = False
                return
            timeout = self._close_deadline - now

        if self.fatal_error is not None:
            self.outcomes.fail_everything(self.fatal_error)

        timeout = min(timeout, self._maintain_metadata(now))
        if self.producer_ids is not None:
            timeout = min(timeout, self._maintain_producer_id(self.producer_ids, now))

        # Batches past delivery.timeout.ms fail before the drain could send them.
        timeout = min(timeout, self.outcomes.expire(now))

        # Drain until nothing more may go: every trip through select() hands the GIL to the
        # application's threads and costs a wait to get it back.
        drained = True
        while drained:
            drained = False
            ready, next_check, unknown_leader = self.acc.ready(now, self.metadata.leader_of, self._can_drain)
            if unknown_leader:
                self.metadata.request_update()
            for node in ready:
                if not self.network.ready(node, now):
                    timeout = min(timeout, self.network.reconnect_delay(node, now))
                    continue
                batches = self.acc.drain(
                    node, self.metadata.partitions_led_by(node), self.max_request_size, now, self._can_drain
                )
                if batches:
                    self._send_produce(node, batches, now)
                    drained = True
        timeout = min(timeout, next_check)
        if self.txn is not None:  # after draining: it adds the partitions the drain asked for
            timeout = min(timeout, self._maintain_transaction(self.txn, now))

        if not self.acc.sleep_until(now + timeout, batches_seen):
            timeout = 0.0  # a batch was opened or filled after we looked: look again
        self.network.poll(max(timeout, 0.0))
        # Awake: appends need not wake us (sleep_until() sees what they did before we sleep again).
        self.acc.sender_wakes_at = 0.0

    # -- connections ---------------------------------------------------------------------------

    def _on_node_ready(self, apis: NodeApis) -> None:
        produce = apis.versions.get(ApiKey.PRODUCE, 0)
        if produce < compression.MIN_PRODUCE_VERSION[self.codec]:
            self.fatal_error = UnsupportedVersionError(
                f"compression.type={self.config['compression.type']} needs Produce v"
                f"{compression.MIN_PRODUCE_VERSION[self.codec]}+, broker {apis.node} speaks up to v{produce}"
            )

    def _on_disconnect(self, node: int, error: KafkaError) -> None:
        if isinstance(error, (AuthenticationError, SslAuthenticationError)):
            # Trying again gives the same answer: callers waiting for metadata or for a
            # transactional call get the error now (reconnects still back off).
            log.error("connection to node %s refused: %s", node, error)
            self.metadata.fail_waiters(error)
            if self.txn is not None:
                self.txn.authentication_failed(error)
        self.metadata.request_update()

    # -- metadata and producer id --------------------------------------------------------------

    def _maintain_metadata(self, now: float) -> float:
        request = self.metadata_requests.next_request(now)
        if request is None:
            return self.metadata_requests.poll_delay(now)
        node = self.network.least_loaded(now)
        if node is None:
            wait = self.network.next_reconnect_delay(now)
            return wait if wait is not None else self.retry_backoff.initial or 0.05
        self._send_request(node, request, now)
        return 3600.0

    def _fail_on_producer_id(self, error: KafkaError) -> None:
        """InitProducerId failed for good (e.g. CLUSTER_AUTHORIZATION_FAILED): what waits for
        a producer id fails now; later sends ask again."""
        self.outcomes.fail_everything(error)

    def _on_metadata_update(self) -> None:
        self.network.cluster_answered()
        self.network.set_brokers({b.node_id: (b.host, b.port) for b in self.metadata.brokers.values()})

    def _maintain_producer_id(self, source: ProducerIdSource, now: float) -> float:
        state = source.state
        if state.bump_needed and not any(self.in_flight.values()) and not self.acc.has_unknown(state.producer_epoch):
            state.bump_epoch()
            self.acc.reset_sequences()
        request = source.next_request(now)
        if request is None:
            return source.poll_delay(now)
        node = self.network.least_loaded(now)
        if node is None:
            return 0.05
        self._send_request(node, request, now)
        return 3600.0

    # -- requests of the transaction manager ---------------------------------------------------

    def _maintain_transaction(self, txn: TransactionManager, now: float) -> float:
        """Fail the queued records of an aborted transaction; send the transaction manager's
        next coordinator request if its target is ready. Returns how long the sender may sleep
        as far as transactions are concerned."""
        error = txn.abort_error()
        if error is not None:
            for batch in self.acc.abort_all():
                if batch.base_sequence >= 0:
                    txn.idempotence.failed(batch, error)
                self.outcomes.complete(batch, -1, -1, error)
        while True:
            pending = bool(self.acc.incomplete) or any(self.in_flight.values())
            request = txn.next_request(now, batches_pending=pending)
            if request is None:
                return txn.poll_delay(now)
            target = request.target
            if target.kind is TargetKind.ANY_BROKER:
                node = self.network.least_loaded(now)
                if node is None:
                    return 0.05
            else:
                coordinator = txn.coordinator(target)
                assert coordinator is not None  # next_request() finds it first
                node = coordinator.node
                self.network.add_node(node, coordinator.host, coordinator.port)
                if not self.network.ready(node, now):
                    if self.network.connection_failed(node):
                        return txn.coordinator_unreachable(target, now)
                    retry = self.network.reconnect_delay(node, now)
                    return max(retry, 0.01) if retry > 0 else 0.05
            if self._send_request(node, request, now):
                return 3600.0
            # settled without the broker: look again

    def _send_request(self, node: int, request: Request, now: float) -> bool:
        """Build ``request`` for the ready ``node`` and send it; False if it needed no sending."""
        built = request.build(self.network.api_versions(node))
        if built is None:
            return False
        version, body = built
        try:
            self.network.send(node, request.api, version, body, request.on_response, now)
        except KafkaError as exc:  # e.g. the broker does not speak the api
            request.on_response(None, exc)
        return True

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

    def _send_produce(self, node: int, batches: list[ProducerBatch], now: float) -> None:
        state = self.idempotence
        version = min(self.network.conns[node].versions[ApiKey.PRODUCE], _MAX_PRODUCE_VERSION)
        txn = self.txn
        if txn is not None:
            version = min(version, txn.max_produce_version)
            txn.batches_sent(batches)
        topics: dict[str, list[dict[str, Any]]] = {}
        by_tp: dict[TopicPartition, ProducerBatch] = {}
        sent: list[ProducerBatch] = []
        for batch in batches:
            if state is not None and batch.base_sequence < 0:
                state.assign(batch)
            if batch.encoded is None:
                try:
                    self._encode(batch)
                except Exception as exc:  # one bad batch fails alone; the sender goes on
                    self._fail_unexpectedly(batch, "encoding and compressing", exc)
                    continue
            sent.append(batch)
            topics.setdefault(batch.topic, []).append({"index": batch.partition, "records": batch.encoded})
            by_tp[batch.tp] = batch
            self.in_flight.setdefault(batch.tp, []).append(batch)
        if not sent:
            return
        batches = sent
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
            self.on_request(node, batches)

        def on_response(response: dict[str, Any] | None, error: KafkaError | None) -> None:
            try:
                self.outcomes.on_produce_response(by_tp, response, error, names_by_id)
            except Exception as exc:  # handling this response failed: its batches fail, the rest goes on
                for batch in by_tp.values():
                    flight = self.in_flight.get(batch.tp)
                    if flight is not None and batch in flight:
                        flight.remove(batch)
                    self._fail_unexpectedly(batch, "handling the broker's response for", exc)

        self.network.send(node, ApiKey.PRODUCE, version, body, on_response, now, expect_response=self.acks != 0)

    def _encode(self, batch: ProducerBatch) -> None:
        batch.encoded, batch.raw_size = seal_batch(
            batch.buf,
            batch.count,
            base_timestamp=batch.base_ts,
            max_timestamp=batch.max_ts,
            producer_id=batch.producer_id,
            producer_epoch=batch.producer_epoch,
            base_sequence=batch.base_sequence,
            transactional=self.txn is not None,
            codec=self.codec,
            compress=self.compress,
        )
        if self.compress is not None and batch.raw_size:
            self.acc.observe_compression(batch.topic, (len(batch.encoded) - HEADER_SIZE) / batch.raw_size)

    def _fail_unexpectedly(self, batch: ProducerBatch, doing: str, exc: Exception) -> None:
        """An unexpected exception while working on one batch (a bug): that batch fails with an
        error saying so, and the sender goes on with the others."""
        log.error("josef: unexpected %s while %s the batch for %s-%s; its %d record(s) fail, the producer "
                  "goes on", type(exc).__name__, doing, batch.topic, batch.partition, batch.count, exc_info=exc)
        if self.idempotence is not None and batch.base_sequence >= 0:
            self.idempotence.failed(batch, exc)  # its sequence is never used: a new epoch follows
        error = KafkaError(f"josef failed while {doing} this record's batch: {type(exc).__name__}: {exc} (a bug: "
                           "please report it); the record was not delivered")
        try:
            self.outcomes.complete(batch, -1, -1, error)
        except Exception:
            log.exception("josef: completing a failed batch failed")
