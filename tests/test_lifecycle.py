"""Issue 12, cases 2, 4, 7 and 8: a forked child's copy of a producer refuses to work (and a
new producer there does); flush() counts records and, like close(), keeps to its timeout; a
program that exits without close() gets a bounded flush and a count of what was lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from josef import Producer
from josef._core.protocol.apis import ApiKey
from josef.errors import KafkaTimeoutError, MetadataTimeoutError, ProducerForkedError
from josef.testing import MockCluster

MARGIN = 0.05  # seconds a timeout may be overrun on a loaded 2-core machine ("a few ms" unloaded)


# -- fork (case 2) -----------------------------------------------------------------------------------


def test_forked_child_gets_a_clear_error_and_a_new_producer_works(kafka: Any, new_topic: Any) -> None:
    topic = new_topic()
    read, write = os.pipe()
    with Producer(bootstrap_servers=kafka.bootstrap_servers) as producer:
        producer.send(topic, b"parent-before").result(30)
        pid = os.fork()
        if pid == 0:  # the child: report what happened through the pipe, never return into pytest
            report = []
            try:
                for name, call in (
                    ("send", lambda: producer.send(topic, b"child-old")),
                    ("flush", lambda: producer.flush(1)),
                    ("partitions_for", lambda: producer.partitions_for(topic)),
                    ("close", lambda: producer.close(1)),
                ):
                    try:
                        call()
                        report.append(f"{name}: no error")
                    except ProducerForkedError as exc:
                        text = str(exc)
                        ok = "fork" in text and "Create a new Producer in the child" in text
                        report.append(f"{name}: {'ok' if ok else text}")
                with Producer(bootstrap_servers=kafka.bootstrap_servers) as child:
                    child.send(topic, b"child-new").result(30)
                report.append("new producer: ok")
            except BaseException as exc:  # anything must reach the parent
                report.append(f"child failed: {exc!r}")
            finally:
                os.write(write, "\n".join(report).encode())
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read) as pipe:
            report = pipe.read().splitlines()
        producer.send(topic, b"parent-after").result(30)  # the parent's producer is untouched
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == ["send: ok", "flush: ok", "partitions_for: ok", "close: ok", "new producer: ok"]
    values = sorted(m.value() for m in kafka.consume_all(topic, 3))
    assert values == [b"child-new", b"parent-after", b"parent-before"]


# -- flush() and close() timing (cases 4 and 7) ------------------------------------------------------


def test_flush_returns_records_pending_and_keeps_to_its_timeout() -> None:
    with MockCluster(topics={"t": 2}) as cluster, Producer(bootstrap_servers=cluster.bootstrap_servers) as producer:
        producer.send("t", b"warm-up", partition=0).result(10)
        cluster.delay(ApiKey.PRODUCE, 1.5, times=None)  # every produce response held back 1.5 s
        futures = [producer.send("t", b"x", partition=i % 2) for i in range(100)]  # two batches
        assert producer.flush(0) == 100
        started = time.monotonic()
        assert producer.flush(0.3) == 100
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 0.3 + MARGIN
        assert producer.flush() == 0
        assert all(f.exception(0) is None for f in futures)


def test_close_keeps_to_its_timeout_and_fails_what_is_left() -> None:
    with MockCluster(brokers=1, topics={"t": 1}) as cluster:
        producer = Producer(bootstrap_servers=cluster.bootstrap_servers)
        producer.send("t", b"warm-up").result(10)
        cluster.broker_down(1)
        futures = [producer.send("t", b"x") for _ in range(50)]
        started = time.monotonic()
        producer.close(1)
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 1.0 + MARGIN
        for future in futures:
            with pytest.raises(KafkaTimeoutError, match="close"):
                future.result(0)


def test_close_with_an_unresolvable_bootstrap_returns_in_time() -> None:
    producer = Producer(bootstrap_servers="no-such-host.invalid:9092", max_block_ms=500)
    with pytest.raises(MetadataTimeoutError):
        producer.send("t", b"x")
    started = time.monotonic()
    producer.close(1)
    assert time.monotonic() - started < 1.0 + MARGIN


# -- interpreter exit without close() (case 8) -----------------------------------------------------


def _run(script: str, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    return proc, time.monotonic() - started


def test_exit_without_close_delivers_what_is_queued(kafka: Any, new_topic: Any) -> None:
    topic = new_topic(partitions=3)
    proc, _ = _run(
        """
        import sys
        from josef import Producer
        producer = Producer(bootstrap_servers=sys.argv[1], linger_ms=60_000)  # nothing would go by itself
        for i in range(1000):
            producer.send(sys.argv[2], str(i).encode())
        print("queued", flush=True)
        """,
        kafka.bootstrap_servers, topic,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "queued"
    assert "undelivered" not in proc.stderr
    values = sorted(int(m.value()) for m in kafka.consume_all(topic, 1000))
    assert values == list(range(1000))


def test_exit_without_close_reports_undelivered_records_on_stderr() -> None:
    proc, elapsed = _run(
        """
        from josef import Producer
        from josef.testing import MockCluster
        cluster = MockCluster(brokers=1, topics={"t": 1})
        cluster.start()
        producer = Producer(bootstrap_servers=cluster.bootstrap_servers, josef_exit_flush_timeout_ms=1000)
        producer.send("t", b"warm-up").result(10)
        cluster.broker_down(1)
        for i in range(1000):
            producer.send("t", b"x")
        print("queued", flush=True)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert "josef: 1000 record(s) were still undelivered at interpreter exit after a 1 s flush" in proc.stderr
    assert "josef.exit.flush.timeout.ms" in proc.stderr
    assert elapsed < 20  # the bounded flush, not delivery.timeout.ms (120 s)


def test_exit_with_an_open_transaction_aborts_it_and_says_so(kafka: Any, new_topic: Any) -> None:
    topic = new_topic()
    proc, _ = _run(
        """
        import sys
        from josef import Producer
        producer = Producer(bootstrap_servers=sys.argv[1], transactional_id=sys.argv[2])
        producer.init_transactions(30)
        producer.begin_transaction()
        for i in range(100):
            producer.send(sys.argv[3], b"never committed")
        producer.flush(30)  # written to the log, inside the open transaction
        """,
        kafka.bootstrap_servers, f"exit-{topic}", topic,
    )
    assert proc.returncode == 0, proc.stderr
    assert "had a transaction open at interpreter exit: it was aborted" in proc.stderr
    # Aborted, not left open until transaction.timeout.ms (60 s): a later transaction becomes
    # readable at once, and read_committed never shows the 100 records.
    with Producer(bootstrap_servers=kafka.bootstrap_servers, transactional_id=f"after-{topic}") as producer:
        producer.init_transactions(30)
        with producer.transaction(30):
            producer.send(topic, b"committed")
    committed = kafka.consume_all(topic, 1, timeout=20, isolation_level="read_committed")
    assert [m.value() for m in committed] == [b"committed"]
