"""The ``josef`` command line, run as users run it: ``python -m josef ...`` in a subprocess.

Most tests use the real broker (``kafka`` fixture) and read back with confluent-kafka; the embedded
default (no bootstrap given) runs the in-process mock cluster.  Benchmark sizes stay small: the
machine is shared.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from josef.cli import parse_properties
from tests.harness.kafka import KafkaEndpoint, TopicFactory

SRC = str(Path(__file__).resolve().parents[1] / "src")

# The output lines of Kafka's ProducerPerformance (kafka-producer-perf-test), from its format strings:
#   "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.%n"
#   "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
#   "%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n"
WINDOW_RE = re.compile(
    r"^(\d+) records sent, (\d+\.\d) records/sec \((\d+\.\d{2}) MB/sec\), (\d+\.\d) ms avg latency, "
    r"(\d+\.\d) ms max latency\.$"
)
TOTAL_RE = re.compile(
    r"^(\d+)( steady state)? records sent, (\d+\.\d{6}) records/sec \((\d+\.\d{2}) MB/sec\), "
    r"(\d+\.\d{2}) ms avg latency, (\d+\.\d{2}) ms max latency, (\d+) ms 50th, (\d+) ms 95th, "
    r"(\d+) ms 99th, (\d+) ms 99\.9th\.$"
)


def josef(*args: str, stdin: str | bytes | None = None, timeout: float = 120,
          pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    first = SRC if pythonpath is None else pythonpath + os.pathsep + SRC
    env = {**os.environ, "PYTHONPATH": first + os.pathsep + os.environ.get("PYTHONPATH", "")}
    data = stdin.decode() if isinstance(stdin, bytes) else stdin
    return subprocess.run(
        [sys.executable, "-m", "josef", *args], input=data, capture_output=True, text=True, env=env,
        timeout=timeout,
    )


def test_version_and_help_for_every_command() -> None:
    import josef as package

    result = josef("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"josef {package.__version__}\nPython ")
    assert "send path: C accelerator" in result.stdout and "codecs: cramjam " in result.stdout
    pure = subprocess.run([sys.executable, "-m", "josef", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC, "JOSEF_NO_SPEEDUPS": "1"})
    assert "send path: pure Python (JOSEF_NO_SPEEDUPS is set)" in pure.stdout
    for command in ([], ["produce"], ["perf"], ["topics"], ["topics", "create"], ["demo"]):
        result = josef(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "examples:" in result.stdout, command


def test_runs_the_checkout_being_tested() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import josef.cli; print(josef.cli.__file__)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.stdout.strip().startswith(SRC)


def test_errors_are_one_line_without_traceback_unless_debug() -> None:
    result = josef("produce", "t", "-b", "127.0.0.1:9", "-X", "no.such.setting=1", stdin="x\n")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "josef: error: invalid producer configuration: no.such.setting: unknown configuration key"
    ]
    result = josef("perf", "--num-records", "10", "--record-size", "10", "--acks", "1", "--idempotence",
                   "--debug", "-b", "127.0.0.1:9")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "acks" in result.stderr
    result = josef("produce", "t", "--file", "/nonexistent/file")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["josef: error: --file /nonexistent/file: No such file or directory"]
    result = josef("perf", "--num-records", "5")  # no payload option
    assert result.returncode == 1
    assert "exactly one of --record-size" in result.stderr


def test_produce_keys_headers_lines_and_json_read_back_identically(
    kafka: KafkaEndpoint, new_topic: TopicFactory
) -> None:
    topic = new_topic(3)
    lines = "user-1\thello\nuser-2\twörld\nuser-1\t\n"
    result = josef("produce", topic, "-b", kafka.bootstrap_servers, "--key-separator", "\\t",
                   "-H", "source=cli", "-H", "trace=abc=1", "--acks", "all", "--compression", "lz4", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert "3 records delivered" in result.stderr and "0 failed" in result.stderr
    records = [
        {"key": "k-json", "value": "plain text", "headers": {"h1": "v1", "empty": None}, "partition": 2},
        {"key": None, "value": {"nested": [1, 2, {"x": "y"}]}, "headers": [["dup", "a"], ["dup", "b"]]},
        {"key": "k-ts", "value": None, "timestamp": 1_700_000_000_000, "partition": 0},
    ]
    jsonl = "\n".join(json.dumps(r) for r in records) + "\n\n"
    result = josef("produce", topic, "-b", kafka.bootstrap_servers, "--json", "--linger-ms", "0", stdin=jsonl)
    assert result.returncode == 0, result.stderr
    assert "3 records delivered" in result.stderr

    got = kafka.consume_all(topic, expected_count=6, timeout=60)
    assert len(got) == 6
    by_key: dict[bytes | None, list[Any]] = {}
    for m in got:
        by_key.setdefault(m.key(), []).append(m)
    user1 = by_key[b"user-1"]
    assert sorted(m.value() for m in user1) == [b"", b"hello"]
    assert len({m.partition() for m in user1}) == 1
    (user2,) = by_key[b"user-2"]
    assert user2.value() == "wörld".encode()
    for m in [*user1, user2]:
        assert m.headers() == [("source", b"cli"), ("trace", b"abc=1")]
    (k_json,) = by_key[b"k-json"]
    assert (k_json.partition(), k_json.value()) == (2, b"plain text")
    assert k_json.headers() == [("h1", b"v1"), ("empty", None)]
    (nested,) = by_key[None]
    assert json.loads(nested.value()) == {"nested": [1, 2, {"x": "y"}]}
    assert nested.headers() == [("dup", b"a"), ("dup", b"b")]
    (k_ts,) = by_key[b"k-ts"]
    assert k_ts.value() is None and k_ts.partition() == 0
    assert k_ts.timestamp()[1] == 1_700_000_000_000


def test_produce_exits_non_zero_when_records_fail_and_delivers_the_good_ones(
    kafka: KafkaEndpoint, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = new_topic(1)
    source = tmp_path / "input.txt"
    source.write_text("good-1\n" + "x" * 5000 + "\ngood-2\n" + "y" * 6000 + "\ngood-3\n")
    props = tmp_path / "client.properties"
    props.write_text("# a Java client file\nmax.request.size = 2000\nkey.serializer=org.apache.kafka."
                     "common.serialization.StringSerializer\nlinger.ms:1\n")
    result = josef("produce", topic, "-b", kafka.bootstrap_servers, "--file", str(source), "--config", str(props))
    assert result.returncode == 1
    assert "3 records delivered" in result.stderr and "2 failed" in result.stderr
    assert f"{source}:2: RecordTooLargeError" in result.stderr
    assert f"{source}:4: RecordTooLargeError" in result.stderr
    assert "Traceback" not in result.stderr
    got = kafka.consume_all(topic, expected_count=3, timeout=60)
    assert [m.value() for m in got] == [b"good-1", b"good-2", b"good-3"]

    # Unparseable input lines fail alone too.
    topic2 = new_topic(1)
    result = josef("produce", topic2, "-b", kafka.bootstrap_servers, "--json",
                   stdin='{"value": "ok"}\nnot json\n{"value": "ok2", "oops": 1}\n{"value": "ok3"}\n')
    assert result.returncode == 1
    assert "record 2: not valid JSON" in result.stderr
    assert "record 3: unknown field 'oops'" in result.stderr
    assert [m.value() for m in kafka.consume_all(topic2, expected_count=2, timeout=60)] == [b"ok", b"ok3"]


def _parse_perf(stdout: str) -> tuple[list[re.Match[str]], list[re.Match[str]]]:
    windows, totals = [], []
    for line in stdout.splitlines():
        if line == "In steady state.":
            continue
        window, total = WINDOW_RE.match(line), TOTAL_RE.match(line)
        assert window or total, f"line does not parse as the Java tool's: {line!r}"
        (windows if window else totals).append(window or total)
    return windows, totals


def test_perf_output_parses_like_kafka_producer_perf_test(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    topic = new_topic(2)
    # Throttled to 50,000 records/s so the 30,000 records take ~0.6 s and a 100 ms reporting
    # interval prints windows however fast the machine is.
    result = josef("perf", "-b", kafka.bootstrap_servers, "--topic", topic, "--num-records", "30000",
                   "--record-size", "100", "--throughput", "50000", "--producer-props", "acks=1", "linger.ms=5",
                   "--reporting-interval", "100", "--warmup-records", "5000")
    assert result.returncode == 0, result.stderr
    windows, totals = _parse_perf(result.stdout)
    assert windows, result.stdout
    assert len(totals) == 2
    total, steady = totals
    assert int(total.group(1)) == 30000 and total.group(2) is None
    assert steady.group(2) == " steady state" and int(steady.group(1)) == 25000
    rate, mb = float(total.group(3)), float(total.group(4))
    assert rate > 0
    assert mb == pytest.approx(rate * 100 / 1024 / 1024, abs=0.011)
    avg, top = float(total.group(5)), float(total.group(6))
    p50, p95, p99, p999 = (int(total.group(i)) for i in range(7, 11))
    assert p50 <= p95 <= p99 <= p999 <= top + 1
    assert 0 < avg <= top
    assert sum(int(w.group(1)) for w in windows) <= 30000
    assert len(kafka.consume_all(topic, expected_count=30000, timeout=120)) == 30000


def _check_chart(path: Path) -> tuple[int, int]:
    """The chart is a valid PNG (every chunk's CRC checked by Pillow's full decode) with the latency
    line drawn in its colour."""
    from PIL import Image

    from josef.cli.chart import LINE_COLOR

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.load()
        rgb = image.convert("RGB")
    line = bytes.fromhex(LINE_COLOR[1:])
    raw = rgb.tobytes()
    drawn = sum(1 for i in range(0, len(raw), 3) if raw[i : i + 3] == line)
    assert drawn > 300, "no latency line drawn"
    return rgb.size


def test_perf_json_and_histogram(kafka: KafkaEndpoint, new_topic: TopicFactory, tmp_path: Path) -> None:
    topic = new_topic(1)
    png = tmp_path / "latency.png"
    result = josef("perf", "-b", kafka.bootstrap_servers, "--topic", topic, "--num-records", "5000",
                   "--record-size", "200", "--json", "--histogram", str(png), "--acks", "1", "-z", "zstd")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["records"] == 5000 and doc["failed"] == 0 and doc["num_records"] == 5000
    assert doc["bytes"] == 5000 * 200
    for key in ("records_per_sec", "mb_per_sec", "avg_latency_ms", "max_latency_ms", "elapsed_s"):
        assert isinstance(doc[key], (int, float)) and doc[key] >= 0, key
    assert list(doc["percentiles_ms"]) == ["50", "75", "90", "95", "99", "99.9", "99.99", "max"]
    values = list(doc["percentiles_ms"].values())
    assert values == sorted(values) and values[-1] == round(doc["max_latency_ms"], 3)
    assert 0 < values[0] < values[-1]
    assert doc["config"]["compression.type"] == "zstd"
    assert doc["metrics"]["producer-metrics:record-send-total:{client-id=" + _client_id(doc) + "}"] == 5000
    assert _check_chart(png) == (900, 460)


def test_perf_histogram_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is hidden by this test')\n")
    png = tmp_path / "latency.png"
    result = josef("perf", "--num-records", "10", "--record-size", "10", "--histogram", str(png),
                   pythonpath=str(tmp_path / "blocker"))
    assert result.returncode == 1
    assert "--histogram needs matplotlib" in result.stderr and "pip install 'josef[plot]'" in result.stderr
    assert "embedded mock cluster" not in result.stderr  # refused before anything started
    assert not png.exists()


def _client_id(doc: dict[str, Any]) -> str:
    names = [n for n in doc["metrics"] if n.startswith("producer-metrics:record-send-total:")]
    assert len(names) == 1
    return names[0].split("client-id=")[1].rstrip("}")


def test_embedded_default_when_no_bootstrap_is_given(tmp_path: Path) -> None:
    result = josef("perf", "--num-records", "20000", "--record-size", "100", "--reporting-interval", "500")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "embedded mock cluster" in line]
    assert len(notes) == 1
    _, totals = _parse_perf(result.stdout)
    assert len(totals) == 1 and int(totals[0].group(1)) == 20000

    result = josef("produce", "greetings", "-K", ":", stdin="a:1\nb:2\n")
    assert result.returncode == 0, result.stderr
    assert "embedded mock cluster" in result.stderr and "2 records delivered" in result.stderr

    result = josef("demo", "--fast")
    assert result.returncode == 0, result.stderr
    assert "stored 1 time(s)" in result.stdout  # idempotence on: a lost response did not duplicate
    assert "record-send-total" in result.stdout


def test_topics_create_describe_list(kafka: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    name = f"cli-topics-{os.getpid()}-{request.node.name[-8:]}".replace("[", "").replace("]", "")
    bs = kafka.bootstrap_servers
    result = josef("topics", "create", name, "--partitions", "3", "--config", "retention.ms=3600000", "-b", bs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Created topic {name}."
    again = josef("topics", "create", name, "--partitions", "3", "-b", bs)
    assert again.returncode == 1 and "TopicAlreadyExists" in again.stderr
    assert josef("topics", "create", name, "--if-not-exists", "-b", bs).returncode == 0
    described = josef("topics", "describe", name, "-b", bs)
    assert described.returncode == 0, described.stderr
    lines = described.stdout.splitlines()
    assert f"Topic: {name}\t" in lines[0] and "PartitionCount: 3" in lines[0] and "ReplicationFactor: 1" in lines[0]
    assert [line.split("\t")[2] for line in lines[1:]] == ["Partition: 0", "Partition: 1", "Partition: 2"]
    listed = josef("topics", "list", "-b", bs)
    assert listed.returncode == 0 and name in listed.stdout.splitlines()
    missing = josef("topics", "describe", name + "-nope", "-b", bs)
    assert missing.returncode == 1 and "UnknownTopicOrPartition" in missing.stderr


def test_transactional_id_wraps_the_input_in_one_transaction(kafka: KafkaEndpoint, new_topic: TopicFactory) -> None:
    from josef import Producer

    topic = new_topic(1)
    result = josef("produce", topic, "-b", kafka.bootstrap_servers, "--transactional-id", f"cli-{topic}",
                   stdin="t1\nt2\n")
    if not callable(getattr(Producer, "init_transactions", None)):
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            "josef: error: --transactional-id: this version of josef does not support transactions yet"
        )
        return
    assert result.returncode == 0, result.stderr
    got = kafka.consume_all(topic, expected_count=2, timeout=60, isolation_level="read_committed")
    assert [m.value() for m in got] == [b"t1", b"t2"]


def test_parse_properties() -> None:
    text = (
        "# comment\n! also a comment\n  bootstrap.servers = a:1,\\\n      b:2\nacks:all\nlinger.ms 7\n"
        "client.id=tab\\there\nempty=\nkey\\=with\\:escapes=v\\u00e9\n"
    )
    assert parse_properties(text) == {
        "bootstrap.servers": "a:1,b:2",
        "acks": "all",
        "linger.ms": "7",
        "client.id": "tab\there",
        "empty": "",
        "key=with:escapes": "vé",
    }


def test_x_anywhere_on_the_line_and_config_on_every_command(
    kafka: KafkaEndpoint, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = new_topic(1)
    bs = kafka.bootstrap_servers
    props = tmp_path / "client.properties"
    props.write_text(f"bootstrap.servers={bs}\nclient.id=from-file\n")
    result = josef("produce", "-X", "acks=1", topic, "-X", f"bootstrap.servers={bs}", stdin="a\n")
    assert result.returncode == 0, result.stderr
    result = josef("-X", "linger.ms=0", "produce", topic, "--producer.config", str(props), stdin="b\n")
    assert result.returncode == 0, result.stderr
    assert "mock" not in result.stderr  # the file's bootstrap.servers was used
    result = josef("produce", topic, "--command-config", str(props), "-X", "acks=all", stdin="c\n")
    assert result.returncode == 0, result.stderr
    assert [m.value() for m in kafka.consume_all(topic, expected_count=3)] == [b"a", b"b", b"c"]
    listed = josef("topics", "list", "--config", str(props))
    assert listed.returncode == 0 and topic in listed.stdout.splitlines(), listed.stderr
    listed = josef("topics", "--command-config", str(props), "list")
    assert listed.returncode == 0 and topic in listed.stdout.splitlines(), listed.stderr
    result = josef("perf", "--num-records", "10", "--record-size", "10", "--topic", topic, "--config", str(props),
                   "--no-progress", "-q")
    assert result.returncode == 0, result.stderr
    assert "mock" not in result.stderr


def test_topics_refuses_without_a_cluster_unless_mock() -> None:
    result = josef("topics", "create", "orders")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "josef: error: topics needs a cluster: give -b/--bootstrap-servers HOST:PORT (or bootstrap.servers in "
        "-X/--config); --mock runs it on an embedded mock cluster that is gone when the command ends"
    ]
    assert "Created" not in result.stdout
    result = josef("topics", "create", "orders", "--partitions", "2", "--mock")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Created topic orders." and "embedded mock cluster" in result.stderr


def test_misspelled_config_key_gets_a_hint() -> None:
    result = josef("produce", "t", "-b", "127.0.0.1:9", "-X", "linger.msec=1", stdin="x\n")
    assert result.returncode == 1
    assert "linger.msec: unknown configuration key (did you mean linger.ms?)" in result.stderr


def test_topics_alter_and_delete_checked_with_java_tools(kafka: KafkaEndpoint, request: pytest.FixtureRequest) -> None:
    import time

    name = f"cli-alter-{os.getpid()}-{request.node.name[-6:]}"
    bs = kafka.bootstrap_servers

    def java(*args: str) -> str:
        out: str = kafka.run_tool("topics", "--bootstrap-server", bs, *args).stdout
        return out

    def eventually(check: Any, what: str) -> None:  # the broker's metadata follows the controller shortly
        deadline = time.monotonic() + 30
        while not check():
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    assert josef("topics", "create", name, "--partitions", "2", "-b", bs).returncode == 0
    result = josef("topics", "alter", name, "--partitions", "4", "--config", "retention.ms=1234567", "-b", bs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"Topic {name} now has 4 partitions.",
                                          f"Updated the configuration of topic {name}."]
    eventually(lambda: "PartitionCount: 4" in java("--describe", "--topic", name), "4 partitions")
    eventually(lambda: "retention.ms=1234567" in java("--describe", "--topic", name), "retention.ms set")
    ours = josef("topics", "describe", name, "-b", bs).stdout.splitlines()[0].split("\t")
    theirs = java("--describe", "--topic", name).splitlines()[0].split("\t")
    assert ours[:4] == theirs[:4]  # Topic, TopicId (Kafka's base64 form), PartitionCount, ReplicationFactor
    result = josef("topics", "alter", name, "--delete-config", "retention.ms", "-b", bs)
    assert result.returncode == 0, result.stderr
    eventually(lambda: "retention.ms" not in java("--describe", "--topic", name), "retention.ms removed")
    nothing = josef("topics", "alter", name, "-b", bs)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr

    result = josef("topics", "delete", name, "-b", bs)
    assert result.returncode == 0 and result.stdout.strip() == f"Deleted topic {name}.", result.stderr
    eventually(lambda: name not in java("--list").split(), "topic deleted")
    again = josef("topics", "delete", name, "-b", bs)
    assert again.returncode == 1 and f"topic '{name}'" in again.stderr and "UnknownTopicOrPartition" in again.stderr
    assert josef("topics", "delete", name, "--if-exists", "-b", bs).returncode == 0
