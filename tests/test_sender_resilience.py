"""Issue 12: the sender thread cannot die from one bad batch, and if it ever stops for a reason it
cannot survive, nothing waits forever: every pending record, every later send() and flush()
fail at once, saying so. And an unreachable bootstrap is said clearly: a WARNING naming the
address and the cause, and the max.block.ms error naming the addresses tried and the last
connection error."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest

import josef._core.sender
from josef import Producer
from josef.errors import KafkaError, MetadataTimeoutError
from josef.testing import MockCluster

AT_ONCE = 0.25


def test_an_exception_encoding_one_batch_fails_that_batch_only(monkeypatch: Any, caplog: Any) -> None:
    real_seal = josef._core.sender.seal_batch

    def seal(buf: bytearray, count: int, **kwargs: Any) -> Any:
        if b"poison" in buf:
            raise RuntimeError("boom while encoding")
        return real_seal(buf, count, **kwargs)

    monkeypatch.setattr(josef._core.sender, "seal_batch", seal)
    with (
        MockCluster(brokers=1, topics={"t": 2}) as cluster,
        Producer(bootstrap_servers=cluster.bootstrap_servers) as producer,
    ):
        good = [producer.send("t", b"good", partition=0) for _ in range(50)]
        bad = producer.send("t", b"poison", partition=1)
        assert producer.flush(10) == 0
        with pytest.raises(KafkaError, match="boom while encoding"):
            bad.result(0)
        assert all(f.exception(0) is None for f in good)
        assert producer._sender.thread.is_alive()
        # The sender goes on: later records to the same partition are delivered.
        assert producer.send("t", b"after", partition=1).result(10).partition == 1
    assert "boom while encoding" in caplog.text


def test_a_sender_that_stops_fails_everything_at_once(monkeypatch: Any) -> None:
    with MockCluster(brokers=1, topics={"t": 1}) as cluster:
        producer = Producer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=60_000)
        producer.send_sync("t", b"warm-up")
        pending = [producer.send("t", b"x") for _ in range(10)]  # lingering

        def crash(*args: Any, **kwargs: Any) -> None:
            raise SystemExit("a callback called sys.exit() on the sender thread")

        monkeypatch.setattr(producer._sender, "_run_once", crash)
        producer._sender.wake()
        for future in pending:
            with pytest.raises(KafkaError, match="sender thread stopped"):
                future.result(5)
        started = time.monotonic()
        with pytest.raises(KafkaError, match="sender thread stopped"):
            producer.send("t", b"later")
        with pytest.raises(KafkaError, match="sender thread stopped"):
            producer.flush()
        assert time.monotonic() - started < AT_ONCE
        producer.close(1)
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_bootstrap_is_a_warning_and_named_in_the_timeout(caplog: Any) -> None:
    port = _closed_port()
    with caplog.at_level(logging.WARNING, logger="josef"):
        producer = Producer(bootstrap_servers=f"127.0.0.1:{port}", max_block_ms=1500)
        started = time.monotonic()
        with pytest.raises(MetadataTimeoutError) as caught:
            producer.send("t", b"x")
        assert time.monotonic() - started < 1.5 + AT_ONCE
        producer.close(1)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and f"127.0.0.1:{port}" in r.getMessage()]
    assert 1 <= len(warnings) <= 3  # rate-limited: not one per reconnect attempt
    assert "refused" in warnings[0].getMessage().lower()


def test_unresolvable_bootstrap_names_the_dns_failure() -> None:
    producer = Producer(bootstrap_servers="no-such-host.invalid:9092", max_block_ms=1000)
    with pytest.raises(MetadataTimeoutError) as caught:
        producer.send("t", b"x")
    producer.close(1)
    assert "no-such-host.invalid:9092" in str(caught.value)
    assert "resolve" in str(caught.value).lower() or "name" in str(caught.value).lower()
