"""``python -m josef.testing`` as a subprocess: confluent-kafka produces to it and consumes back in a group;
Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from josef.cli import build_parser

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.timeout(90)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_server_command_serves_clients_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "josef.testing", "--brokers", "3", "--port", "0", "--topic", "orders:6",
         "--retention-bytes", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        bootstrap = proc.stdout.readline().strip()
        assert len(bootstrap.split(",")) == 3 and all(s.startswith("127.0.0.1:") for s in bootstrap.split(","))
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 3})
        for i in range(1000):
            producer.produce("orders", str(i).encode(), key=str(i).encode())
        assert producer.flush(30) == 0
        metadata = producer.list_topics("orders", timeout=10)
        assert len(metadata.topics["orders"].partitions) == 6
        consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "app",
                                             "auto.offset.reset": "earliest", "log_level": 3})
        consumer.subscribe(["orders"])
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 1000 and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                seen.add(int(message.value()))
        consumer.close()
        assert seen == set(range(1000))
        # Bounded memory: 100 kB per partition, so the oldest batches of a big partition go.
        small_batches = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 10,
                                                  "log_level": 3})
        for _ in range(300):
            small_batches.produce("orders", b"x" * 1000, partition=0)
        assert small_batches.flush(30) == 0
        low, high = consumer_watermarks(bootstrap)
        assert low > 0 and high - low <= 110
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err


def consumer_watermarks(bootstrap: str) -> tuple[int, int]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "wm", "log_level": 3})
    try:
        low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition("orders", 0), timeout=10)
        return int(low), int(high)
    finally:
        consumer.close()


def test_josef_mock_is_a_cli_command() -> None:
    args = build_parser().parse_args(["mock", "--brokers", "1", "--port", "0", "--topic", "a:2:1"])
    assert args.brokers == 1 and args.topic == [("a", {"partitions": 2, "replication_factor": 1})]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["mock", "--topic", "a:x"])
