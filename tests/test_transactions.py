"""Transactions against real Kafka 4.4, checked with confluent-kafka's consumer (a client we
did not write), under both transaction protocols: v2 (KIP-890, the session cluster's
default) and v1 (a cluster formatted with ``transaction.version=0``).

Set ``JOSEF_BOOTSTRAP_TV1=host:port`` to use an already running ``transaction.version=0``
cluster (``python -m tests.harness.kafka start 1 --transaction-version 0``) while iterating.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator

import pytest

from josef import OffsetAndMetadata, Producer, TopicPartition, TransactionAbortedError, TransactionAbortRequiredError
from josef._core.transactions import TxnState
from josef.errors import IllegalStateError, ProducerFencedError
from tests.harness.kafka import ExternalKafka, KafkaCluster, KafkaEndpoint

# How often the broker looks for timed-out transactions (default 10 s).
_TV1_CLEANUP_MS = 1000


@pytest.fixture(scope="module")
def kafka_tv1() -> Iterator[KafkaEndpoint]:
    external = os.environ.get("JOSEF_BOOTSTRAP_TV1")
    if external:
        yield ExternalKafka(external)
        return
    with KafkaCluster(
        1,
        transaction_version=0,
        broker_config={"transaction.abort.timed.out.transaction.cleanup.interval.ms": _TV1_CLEANUP_MS},
    ) as cluster:
        yield cluster


@pytest.fixture(params=["v2", "v1"])
def cluster(request: pytest.FixtureRequest) -> KafkaEndpoint:
    """The session cluster (transactions v2) or the transaction.version=0 one (v1)."""
    name = "kafka" if request.param == "v2" else "kafka_tv1"
    endpoint: KafkaEndpoint = request.getfixturevalue(name)
    return endpoint


def _producer(cluster: KafkaEndpoint, txn_id: str | None = None, **config: object) -> Producer:
    return Producer({
        "bootstrap.servers": cluster.bootstrap_servers,
        "transactional.id": txn_id or f"josef-test-{uuid.uuid4().hex[:10]}",
        "linger.ms": 5,
        **config,
    })


def _topic(cluster: KafkaEndpoint, prefix: str, partitions: int = 1) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(name, partitions=partitions)
    return name


def _expect_protocol(producer: Producer, request: pytest.FixtureRequest) -> None:
    txn = producer._txn
    assert txn is not None
    assert txn.tv2 == ("[v2]" in request.node.name), "the cluster did not give the expected transaction protocol"


def test_atomicity_across_topics_and_partitions(cluster: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    """1,000 transactions over 3 topics x 4 partitions, a random third aborted (after their
    records were written): read_committed sees exactly the committed records, in order per
    partition; read_uncommitted sees the aborted ones too."""
    rng = random.Random(5)
    topics = [_topic(cluster, f"atom{i}", partitions=4) for i in range(3)]
    producer = _producer(cluster)
    committed: dict[tuple[str, int], list[bytes]] = {}
    aborted = 0
    started = time.monotonic()
    try:
        producer.init_transactions()
        _expect_protocol(producer, request)
        for t in range(1000):
            producer.begin_transaction()
            sent = []
            for i in range(rng.randint(1, 4)):
                tp = (rng.choice(topics), rng.randrange(4))
                value = f"{t}:{i}".encode()
                producer.send(tp[0], value, partition=tp[1])
                sent.append((tp, value))
            if rng.random() < 1 / 3:
                assert producer.flush(30) == 0  # written, then aborted
                producer.abort_transaction()
                aborted += len(sent)
            else:
                producer.commit_transaction()
                for tp, value in sent:
                    committed.setdefault(tp, []).append(value)
    finally:
        producer.close(10)
    elapsed = time.monotonic() - started
    total_committed = sum(len(v) for v in committed.values())
    print(f"1000 transactions ({total_committed} records committed, {aborted} aborted) in {elapsed:.1f} s")
    for topic in topics:
        seen: dict[tuple[str, int], list[bytes]] = {}
        expected = sum(len(v) for tp, v in committed.items() if tp[0] == topic)
        for message in cluster.consume_all(topic, expected, 60, isolation_level="read_committed"):
            seen.setdefault((topic, message.partition()), []).append(message.value())
        for partition in range(4):
            assert seen.get((topic, partition), []) == committed.get((topic, partition), []), (topic, partition)
    uncommitted = sum(
        len(cluster.consume_all(topic, None, 60, isolation_level="read_uncommitted")) for topic in topics
    )
    assert uncommitted == total_committed + aborted


def test_fencing(cluster: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    """A second producer with the same transactional.id fences the first: the first's next
    call raises ProducerFencedError (and every call after it); nothing of its open
    transaction becomes visible."""
    topic = _topic(cluster, "fence", partitions=2)
    txn_id = f"fence-{uuid.uuid4().hex[:8]}"
    first = _producer(cluster, txn_id)
    second = _producer(cluster, txn_id)
    try:
        first.init_transactions()
        _expect_protocol(first, request)
        first.begin_transaction()
        for i in range(20):
            first.send(topic, f"zombie-{i}".encode(), partition=i % 2)
        assert first.flush(30) == 0
        second.init_transactions()  # fences the first and aborts its transaction
        with second.transaction():
            second.send(topic, b"second", partition=0)
        with pytest.raises(ProducerFencedError):
            first.commit_transaction()
        for call in (first.begin_transaction, first.abort_transaction, lambda: first.send(topic, b"x")):
            with pytest.raises(ProducerFencedError):
                call()
    finally:
        first.close(5)
        second.close(5)
    values = [m.value() for m in cluster.consume_all(topic, 1, 30, isolation_level="read_committed")]
    assert values == [b"second"]


def test_transaction_timeout_is_reported(cluster: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    """A transaction left open past transaction.timeout.ms is aborted by the broker; the
    producer says so on its next call. With v2 it can abort and go on; with v1 the
    coordinator's epoch bump fences it (as with the Java client)."""
    topic = _topic(cluster, "timeout")
    producer = _producer(cluster, **{"transaction.timeout.ms": 1000})
    v2 = "[v2]" in request.node.name
    try:
        producer.init_transactions()
        _expect_protocol(producer, request)
        producer.begin_transaction()
        producer.send(topic, b"expired")
        assert producer.flush(30) == 0
        # The broker checks every transaction.abort.timed.out.transaction.cleanup.interval.ms.
        time.sleep(1.0 + (10.0 if v2 else _TV1_CLEANUP_MS / 1000) + 1.5)
        if v2:  # the commit is refused: abort, and the producer goes on
            with pytest.raises(TransactionAbortRequiredError, match="INVALID_TXN_STATE"):
                producer.commit_transaction()
            producer.abort_transaction()
            with producer.transaction():
                producer.send(topic, b"after")
        else:  # the coordinator bumped the epoch: fenced, for good
            with pytest.raises(ProducerFencedError):
                producer.commit_transaction()
            with pytest.raises(ProducerFencedError):
                producer.abort_transaction()
    finally:
        producer.close(5)
    values = [m.value() for m in cluster.consume_all(topic, 1 if v2 else 0, 30, isolation_level="read_committed")]
    assert values == ([b"after"] if v2 else [])


def test_offsets_commit_with_the_transaction(cluster: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    """send_offsets_to_transaction with a confluent-kafka consumer's group metadata: the
    offsets count only when the transaction commits."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as CTopicPartition

    source = _topic(cluster, "offsets-in")
    sink = _topic(cluster, "offsets-out")
    group = f"josef-txn-group-{uuid.uuid4().hex[:6]}"
    with Producer({"bootstrap.servers": cluster.bootstrap_servers}) as plain:
        for i in range(10):
            plain.send(source, str(i).encode())
    consumer = Consumer({
        "bootstrap.servers": cluster.bootstrap_servers, "group.id": group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed",
    })
    producer = _producer(cluster)
    try:
        consumer.subscribe([source])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                got.append(message)
        assert len(got) == 10
        producer.init_transactions()
        _expect_protocol(producer, request)
        metadata = consumer.consumer_group_metadata()
        with producer.transaction():
            for message in got[:4]:
                producer.send(sink, message.value())
            producer.send_offsets_to_transaction({TopicPartition(source, 0): OffsetAndMetadata(4, "four")}, metadata)
        assert consumer.committed([CTopicPartition(source, 0)], 10)[0].offset == 4
        producer.begin_transaction()
        producer.send(sink, b"aborted")
        producer.send_offsets_to_transaction([CTopicPartition(source, 0, 10)], metadata)
        producer.abort_transaction()
        assert consumer.committed([CTopicPartition(source, 0)], 10)[0].offset == 4
        with producer.transaction():
            producer.send_offsets_to_transaction({(source, 0): 7}, group)  # plain group id
        assert consumer.committed([CTopicPartition(source, 0)], 10)[0].offset == 7
    finally:
        producer.close(5)
        consumer.close()
    values = [m.value() for m in cluster.consume_all(sink, 4, 30, isolation_level="read_committed")]
    assert values == [b"0", b"1", b"2", b"3"]


def test_context_manager_and_misuse(kafka: KafkaEndpoint) -> None:
    topic = _topic(kafka, "ctx")
    producer = _producer(kafka)
    try:
        producer.init_transactions()
        with producer.transaction():
            producer.send(topic, b"kept")
        future = None
        with pytest.raises(RuntimeError), producer.transaction():
            future = producer.send(topic, b"dropped")
            raise RuntimeError("boom")
        assert future is not None
        assert isinstance(future.exception(10), (TransactionAbortedError, type(None)))
        txn = producer._txn
        assert txn is not None and txn.state is TxnState.READY
        # Misuse is refused precisely, and changes nothing.
        with pytest.raises(IllegalStateError, match="without an open transaction"):
            producer.commit_transaction()
        with pytest.raises(IllegalStateError, match="outside a transaction"):
            producer.send(topic, b"no")
        with pytest.raises(IllegalStateError, match="called twice"):
            producer.init_transactions()
        producer.begin_transaction()
        with pytest.raises(IllegalStateError, match="already open"):
            producer.begin_transaction()
        assert txn.state is TxnState.IN_TRANSACTION
        producer.send(topic, b"still fine")
        producer.commit_transaction()
    finally:
        producer.close(5)
    values = [m.value() for m in kafka.consume_all(topic, 2, 30, isolation_level="read_committed")]
    assert values == [b"kept", b"still fine"]


def _java_string_hash(text: str) -> int:
    value = 0
    for char in text.encode("utf-16-be").hex(" ", 2).split():
        value = (31 * value + int(char, 16)) & 0xFFFFFFFF
    return value


def _transaction_coordinator(cluster: KafkaCluster, txn_id: str) -> int:
    """The broker leading the __transaction_state partition of ``txn_id`` (Kafka picks it as
    abs(String.hashCode) modulo the partition count)."""
    partitions = cluster.topic_partitions("__transaction_state")
    index = (_java_string_hash(txn_id) & 0x7FFFFFFF) % len(partitions)
    leader: int = partitions[index].leader
    return leader


class _Copier:
    def __init__(self, cluster: KafkaCluster, args: list[str]) -> None:
        import subprocess
        import sys
        import threading

        self.progress = 0
        self.lines: list[str] = []
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(root, "src"), root, env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.txn_copier", cluster.bootstrap_servers, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root, env=env,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("progress "):
                self.progress = int(line.split()[1])
            else:
                self.lines.append(line.rstrip())

    def wait_for(self, records: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.progress < records:
            if self.proc.poll() is not None and self.proc.returncode != 0:
                raise AssertionError(f"copier exited {self.proc.returncode}: " + "\n".join(self.lines[-30:]))
            if time.monotonic() > deadline:
                raise AssertionError(f"copier at {self.progress} of {records} after {timeout} s: "
                                     + "\n".join(self.lines[-30:]))
            time.sleep(0.2)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.reader.join(5)


@pytest.mark.slow
def test_exactly_once_copy_with_coordinator_and_copier_kills(kafka3: KafkaCluster) -> None:
    """A consume-transform-produce loop copies 100,000 records while the test SIGKILLs the
    transaction coordinator's broker twice and the copier process once (then restarts it):
    the output, read committed, holds every input record exactly once."""
    total = 100_000
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"eos-in-{suffix}", f"eos-out-{suffix}"
    kafka3.create_topic(source, partitions=2)
    kafka3.create_topic(sink, partitions=3)
    with Producer({"bootstrap.servers": kafka3.bootstrap_servers, "linger.ms": 20}) as seeder:
        for i in range(total):
            seeder.send(source, str(i).encode(), key=str(i).encode())
        assert seeder.flush(60) == 0
    txn_id = f"copier-{suffix}"
    args = [source, sink, f"copier-group-{suffix}", txn_id, str(total)]
    started = time.monotonic()
    copier = _Copier(kafka3, args)
    try:
        for fraction, action in ((0.2, "broker"), (0.45, "copier"), (0.7, "broker")):
            copier.wait_for(int(total * fraction), 180)
            if action == "copier":
                copier.kill()
                copier = _Copier(kafka3, args)
                continue
            node = _transaction_coordinator(kafka3, txn_id)
            print(f"killing node {node}, the coordinator of {txn_id}, at {copier.progress} records")
            kafka3.kill(node)
            time.sleep(3)
            kafka3.start_node(node)
        copier.wait_for(total, 240)
        assert copier.proc.wait(60) == 0
    finally:
        if copier.proc.poll() is None:
            copier.kill()
    print(f"copied {total} records in {time.monotonic() - started:.1f} s")
    output = kafka3.consume_all(sink, total, 120, isolation_level="read_committed")
    values = [m.value() for m in output]
    assert len(values) == total, f"{len(values) - len(set(values))} duplicates"
    assert set(values) == {str(i).encode() for i in range(total)}


def test_close_aborts_an_open_transaction(kafka: KafkaEndpoint) -> None:
    topic = _topic(kafka, "close")
    producer = _producer(kafka)
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, b"open")
    assert producer.flush(30) == 0
    started = time.monotonic()
    producer.close(10)
    assert time.monotonic() - started < 10
    # The abort marker moved the last stable offset past the record: read_committed readers
    # are not held up, and see nothing of it.
    with Producer({"bootstrap.servers": kafka.bootstrap_servers}) as plain:
        plain.send(topic, b"after")
    values = [m.value() for m in kafka.consume_all(topic, 1, 30, isolation_level="read_committed")]
    assert values == [b"after"]
