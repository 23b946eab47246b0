"""josef's command line: ``josef produce``, ``josef perf``, ``josef topics``, ``josef demo``.

Every command talks to the cluster named by ``-b/--bootstrap-servers`` (or ``bootstrap.servers`` in
``-X``/``--config``).  With none given it starts josef's embedded mock cluster in this process, says so on
stderr in one line, and runs against that: the commands work on a machine with nothing but josef.

Errors are one line on stderr (``josef: error: ...``); ``--debug`` shows the traceback and josef's logs.
Exit codes: 0 success, 1 an error or at least one record failed, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import functools
import json
import logging
import math
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import josef
from josef.errors import KafkaError, KafkaTimeoutError, error_for_code

__all__ = ["main"]

MB = 1024 * 1024
MAX_ERRORS_SHOWN = 5


class CliError(Exception):
    """An error the CLI reports as one line (exit code 1)."""


def describe(exc: BaseException) -> str:
    """One line for an exception: its class when that says something, and its message."""
    text = " ".join(str(exc).split())
    if isinstance(exc, CliError):
        return text
    if isinstance(exc, (ValueError, OSError)) and text:
        return text
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def note(message: str) -> None:
    print(f"josef: {message}", file=sys.stderr, flush=True)


# -- configuration ----------------------------------------------------------------------------------------


def parse_properties(text: str, source: str = "properties") -> dict[str, str]:
    """Parse a Java ``.properties`` text: ``key=value``, ``key: value`` or ``key value`` lines, ``#``/``!``
    comments, backslash line continuations and escapes (``\\t``, ``\\n``, ``\\uXXXX``, ``\\=``)."""
    props: dict[str, str] = {}
    logical: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:  # an odd number of backslashes: the line continues
            logical.append(line[:-1])
            if i < len(lines):
                continue
            line = ""
        logical.append(line)
        entry = "".join(logical)
        logical = []
        key_chars: list[str] = []
        j = 0
        while j < len(entry):
            ch = entry[j]
            if ch == "\\" and j + 1 < len(entry):
                key_chars.append(entry[j : j + 2])
                j += 2
                continue
            if ch in "=: \t\f":
                break
            key_chars.append(ch)
            j += 1
        rest = entry[j:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        key, value = _unescape("".join(key_chars)), _unescape(rest)
        if not key:
            raise CliError(f"{source}: a line has no key: {entry!r}")
        props[key] = value
    return props


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    simple = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and i + 6 <= len(text):
                with contextlib.suppress(ValueError):
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
            out.append(simple.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def split_kv(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CliError(f"{option} {text!r}: expected key=value")
    return key.strip(), value


# Settings of the Java tools' property files that josef's CLI does not need: its records are bytes.
_IGNORED_KEYS = ("key.serializer", "value.serializer")


def producer_config(args: argparse.Namespace) -> dict[str, Any]:
    """The producer configuration from the command line, lowest precedence first: ``--config`` files,
    ``-X``/``--producer-props``, the named flags (``--acks``, ``--compression``...), ``-b``."""
    config: dict[str, Any] = {}
    for path in getattr(args, "config_files", None) or []:
        try:
            with open(path, encoding="utf-8") as f:
                config.update(parse_properties(f.read(), path))
        except OSError as exc:
            raise CliError(f"--config {path}: {exc.strerror or exc}") from None
    for item in getattr(args, "props", None) or []:
        key, value = split_kv(item, "-X")
        config[key] = value
    for key in _IGNORED_KEYS:
        if isinstance(config.get(key), str):
            logging.getLogger("josef.cli").info("ignoring %s=%s: the CLI sends bytes", key, config.pop(key))
    named = {
        "acks": getattr(args, "acks", None),
        "compression.type": getattr(args, "compression", None),
        "linger.ms": getattr(args, "linger_ms", None),
        "batch.size": getattr(args, "batch_size", None),
        "enable.idempotence": getattr(args, "idempotence", None),
        "transactional.id": getattr(args, "transactional_id", None),
        "bootstrap.servers": getattr(args, "bootstrap_servers", None),
    }
    config.update({k: v for k, v in named.items() if v is not None})
    # Check it now, so that a typo is reported before anything starts.
    from josef.config import ProducerConfig

    try:
        ProducerConfig.from_user({**config, "bootstrap.servers": config.get("bootstrap.servers") or "localhost:9092"})
    except ValueError as exc:
        raise CliError(f"invalid producer configuration: {describe(exc)}") from None
    return config


@contextlib.contextmanager
def cluster(config: dict[str, Any], brokers: int = 3, partitions: int = 3) -> Iterator[Any]:
    """Yields None when ``config`` names bootstrap servers; otherwise starts the embedded mock cluster,
    points ``config`` at it, says so on stderr, and yields it."""
    if config.get("bootstrap.servers"):
        yield None
        return
    from josef.testing import MockCluster

    with MockCluster(brokers=brokers, default_partitions=partitions) as mock:
        config["bootstrap.servers"] = mock.bootstrap_servers
        note(
            f"no --bootstrap-servers given: using an embedded mock cluster ({brokers} brokers at "
            f"{mock.bootstrap_servers}, in memory, gone when this command ends)"
        )
        yield mock


def open_producer(config: dict[str, Any]) -> josef.Producer:
    try:
        return josef.Producer(config)
    except ValueError as exc:
        raise CliError(f"invalid producer configuration: {describe(exc)}") from None


def require_transactions(producer: josef.Producer) -> None:
    missing = [m for m in ("init_transactions", "begin_transaction", "commit_transaction")
               if not callable(getattr(producer, m, None))]
    if missing:
        producer.close(0)
        raise CliError("--transactional-id: this version of josef does not support transactions yet")


def start_producer(stack: contextlib.ExitStack, config: dict[str, Any]) -> tuple[josef.Producer, bool]:
    """Start the cluster if needed and a producer (closed with ``stack``); with a transactional.id, call
    ``init_transactions()``.  Returns the producer and whether it is transactional."""
    stack.enter_context(cluster(config))
    producer = open_producer(config)
    stack.callback(producer.close)
    transactional = config.get("transactional.id") is not None
    if transactional:
        require_transactions(producer)
        call(producer, "init_transactions")
    return producer, transactional


def call(producer: josef.Producer, method: str) -> None:
    getattr(producer, method)()


# -- josef produce ----------------------------------------------------------------------------------------


@dataclass
class Outgoing:
    """One record to send, parsed from the input."""

    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    partition: int | None = None
    timestamp_ms: int | None = None


def _json_bytes(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_JSON_FIELDS = {"key", "value", "headers", "partition", "timestamp"}


def parse_json_record(line: bytes) -> Outgoing:
    """``{"key": ..., "value": ..., "headers": {...} or [[k, v], ...], "partition": n, "timestamp": ms}``.
    Strings are sent as UTF-8; null as null; any other JSON value as its compact JSON text."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("a JSON line must be an object with key/value/headers/partition/timestamp")
    unknown = sorted(set(obj) - _JSON_FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (expected key, value, headers, partition, timestamp)")
    headers: list[tuple[str, bytes | None]] = []
    raw_headers = obj.get("headers") or {}
    items: Iterable[Any] = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    if not isinstance(raw_headers, (dict, list)):
        raise ValueError("headers must be an object or a list of [key, value] pairs")
    for item in items:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"bad header {item!r}: expected a [\"key\", value] pair")
        headers.append((item[0], _json_bytes(item[1], "header")))
    partition = obj.get("partition")
    if partition is not None and (type(partition) is not int or partition < 0):
        raise ValueError(f"partition must be a non-negative integer, got {partition!r}")
    timestamp = obj.get("timestamp")
    if timestamp is not None and (type(timestamp) is not int or timestamp < 0):
        raise ValueError(f"timestamp must be a non-negative integer (ms since the epoch), got {timestamp!r}")
    return Outgoing(_json_bytes(obj.get("value"), "value"), _json_bytes(obj.get("key"), "key"), headers,
                    partition, timestamp)


class Tally:
    """Delivery results, updated from the producer's callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self.bytes = 0
        self.errors: list[str] = []
        self.partitions: Counter[int] = Counter()

    def fail(self, where: str, exc: BaseException | str) -> None:
        with self.lock:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS_SHOWN:
                self.errors.append(f"{where}: {exc if isinstance(exc, str) else describe(exc)}")

    def done(self, where: str, size: int, metadata: josef.RecordMetadata | None, exc: BaseException | None) -> None:
        if exc is not None or metadata is None:
            self.fail(where, exc or "no metadata")
            return
        with self.lock:
            self.delivered += 1
            self.bytes += size
            self.partitions[metadata.partition] += 1


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_produce(args: argparse.Namespace) -> int:
    config = producer_config(args)
    headers = [(k, v.encode()) for k, v in (split_kv(h, "-H") for h in args.header or [])]
    separator = codecs.decode(args.key_separator, "unicode_escape").encode() if args.key_separator else None
    fixed_key = args.key.encode() if args.key is not None else None
    if args.file and args.file != "-":
        try:
            source: IO[bytes] = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CliError(f"--file {args.file}: {exc.strerror or exc}") from None
    else:
        source = sys.stdin.buffer
    if source.isatty():
        note("reading records from the terminal, one per line; Ctrl-D to finish")
    with contextlib.ExitStack() as stack:
        if source is not sys.stdin.buffer:
            stack.enter_context(source)
        producer, transactional = start_producer(stack, config)
        if transactional:
            call(producer, "begin_transaction")
        tally = Tally()
        started = time.monotonic()
        interrupted = False
        try:
            for lineno, raw in enumerate(source, 1):
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if line.endswith(b"\r"):
                    line = line[:-1]
                where = f"record {lineno}" if args.file is None else f"{args.file}:{lineno}"
                try:
                    if args.json:
                        if not line.strip():
                            continue
                        record = parse_json_record(line)
                    elif separator is not None:
                        key, sep, value = line.partition(separator)
                        if not sep:
                            raise ValueError(f"no key separator {args.key_separator!r} in the line")
                        record = Outgoing(value, key)
                    else:
                        record = Outgoing(line, fixed_key)
                except ValueError as exc:
                    tally.fail(where, describe(exc))
                    continue
                if record.partition is None:
                    record.partition = args.partition
                size = len(record.value or b"") + len(record.key or b"")
                try:
                    producer.send(
                        args.topic, record.value, record.key, partition=record.partition,
                        timestamp_ms=record.timestamp_ms, headers=record.headers + headers or None,
                        callback=functools.partial(tally.done, where, size),
                    )
                except KafkaTimeoutError as exc:
                    raise CliError(f"{where}: {describe(exc)} (is the cluster at {config['bootstrap.servers']} "
                                   "reachable?)") from None
                except (KafkaError, ValueError, TypeError) as exc:
                    tally.fail(where, exc)
        except KeyboardInterrupt:
            interrupted = True
            note("interrupted: delivering the records read so far")
        pending = producer.flush()
        if transactional:
            if tally.failed or pending:
                with contextlib.suppress(Exception):
                    call(producer, "abort_transaction")
                note("transaction aborted: some records failed, so none of them is committed")
            else:
                call(producer, "commit_transaction")
        producer.close()
        elapsed = time.monotonic() - started
    failed = tally.failed + pending
    if not args.quiet or failed:
        spread = ""
        if tally.partitions:
            parts = sorted(tally.partitions.items())
            spread = " (partition " + ", ".join(f"{p}: {n}" for p, n in parts[:8])
            spread += ", ..." if len(parts) > 8 else ""
            spread += ")"
        print(
            f"josef produce: {plural(tally.delivered, 'record')} delivered to {args.topic!r}{spread}, {failed} failed, "
            f"{human_bytes(tally.bytes)} of keys and values in {elapsed:.2f} s",
            file=sys.stderr,
        )
        for error in tally.errors:
            print(f"  {error}", file=sys.stderr)
        if failed > len(tally.errors):
            print(f"  ... and {failed - len(tally.errors)} more", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if failed else 0


# -- josef perf -------------------------------------------------------------------------------------------

WINDOW_FORMAT = "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency."
TOTAL_FORMAT = (
    "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
    "%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th."
)
PERCENTILES = (0.5, 0.95, 0.99, 0.999)


class Progress:
    """A one-line progress bar on a terminal (stderr), cleared before other output is printed."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.shown = False

    def update(self, acked: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = acked / elapsed
        frac = min(acked / self.total, 1.0) if self.total else 1.0
        width = 30
        filled = int(frac * width)
        bar = "=" * filled + (">" if filled < width else "") + " " * (width - filled - 1)
        eta = f"ETA {(self.total - acked) / rate:.0f} s" if rate > 0 and acked < self.total else ""
        line = f"[{bar}] {frac * 100:3.0f}%  {acked:,}/{self.total:,} acked  {rate:,.0f} records/s  {eta}"
        with self.lock:
            sys.stderr.write("\r" + line[:200] + "\x1b[K")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def print(self, text: str, stream: IO[str]) -> None:
        with self.lock:
            self.clear()
            print(text, file=stream, flush=True)


class PerfStats:
    """The Java tool's statistics: totals, windows (every ``interval`` s), up to 500,000 sampled latencies.

    The delivery callbacks only append each latency to an array (they run on the sender thread, so they
    must be cheap); :meth:`drain`, called from a reporting thread, folds them into the totals and prints
    a window line when one is due.
    """

    def __init__(self, num_records: int, interval: float, emit: Callable[[str], None] | None,
                 suffix: str = "", sizes: bool = False) -> None:
        self.start = time.monotonic()
        self.interval = interval
        self.emit = emit
        self.suffix = suffix
        self.sampling = max(1, num_records // max(1, min(num_records, 500_000)))
        self.lock = threading.Lock()
        self.pending = array("d")  # latencies (s) not yet drained, appended by callbacks
        self.pending_sizes: array[int] | None = array("q") if sizes else None
        self.count = self.bytes = 0
        self.total_latency = self.max_latency = 0.0
        self.latencies = array("d")  # sampled, in ms
        self.windows: list[dict[str, float]] = []
        self._new_window(self.start)

    def _new_window(self, now: float) -> None:
        self.window_start = now
        self.window_count = self.window_bytes = 0
        self.window_total_latency = self.window_max_latency = 0.0

    def restart(self, now: float) -> None:
        with self.lock:
            self.start = now
            self._new_window(now)

    def drain(self, now: float, record_size: int) -> tuple[array[float], array[int] | None]:
        """Fold the latencies appended since the last call into the statistics; returns them (s)."""
        with self.lock:
            n = len(self.pending)
            chunk = self.pending[:n]
            del self.pending[:n]  # one C call under the GIL: appends racing with it land after n
            sizes = None
            if self.pending_sizes is not None:
                sizes = self.pending_sizes[:n]
                del self.pending_sizes[:n]
            self.add(chunk, sizes, record_size)
            if now - self.window_start >= self.interval and self.window_count:
                self._print_window(now)
                self._new_window(now)
            return chunk, sizes

    def add(self, chunk: array[float], sizes: array[int] | None, record_size: int) -> None:
        n = len(chunk)
        if not n:
            return
        total, top = sum(chunk) * 1000.0, max(chunk) * 1000.0
        nbytes = sum(sizes) if sizes is not None else n * record_size
        phase = (-self.count) % self.sampling  # keep records number 0, s, 2s, ... of the run
        self.latencies.extend(array("d", (x * 1000.0 for x in chunk[phase :: self.sampling])))
        self.count += n
        self.bytes += nbytes
        self.total_latency += total
        self.max_latency = max(self.max_latency, top)
        self.window_count += n
        self.window_bytes += nbytes
        self.window_total_latency += total
        self.window_max_latency = max(self.window_max_latency, top)

    def _print_window(self, now: float) -> None:
        elapsed = max(now - self.window_start, 1e-9)
        window = {
            "records": self.window_count,
            "records_per_sec": self.window_count / elapsed,
            "mb_per_sec": self.window_bytes / elapsed / MB,
            "avg_latency_ms": self.window_total_latency / self.window_count,
            "max_latency_ms": self.window_max_latency,
        }
        self.windows.append(window)
        if self.emit is not None:
            self.emit(WINDOW_FORMAT % tuple(window.values()))

    def percentiles(self) -> list[float]:
        ordered = sorted(self.latencies)
        if not ordered:
            return [0.0] * len(PERCENTILES)
        return [ordered[min(int(p * len(ordered)), len(ordered) - 1)] for p in PERCENTILES]

    def total(self, now: float) -> dict[str, Any]:
        with self.lock:
            elapsed = max(now - self.start, 1e-9)
            pcts = self.percentiles()
            return {
                "records": self.count,
                "records_per_sec": self.count / elapsed,
                "mb_per_sec": self.bytes / elapsed / MB,
                "avg_latency_ms": self.total_latency / self.count if self.count else 0.0,
                "max_latency_ms": self.max_latency,
                "percentiles_ms": {f"{p * 100:g}": round(v, 3) for p, v in zip(PERCENTILES, pcts, strict=True)},
                "elapsed_s": round(elapsed, 3),
                "bytes": self.bytes,
            }

    def total_line(self, result: dict[str, Any]) -> str:
        # Java prints the percentiles as int milliseconds; int() truncates like its (int) cast.
        pcts = [int(v) for v in result["percentiles_ms"].values()]
        return TOTAL_FORMAT % (result["records"], self.suffix, result["records_per_sec"], result["mb_per_sec"],
                               result["avg_latency_ms"], result["max_latency_ms"], *pcts)


class PerfRun:
    """Shared state of one ``josef perf`` run: the callbacks' arrays, the errors, the reporting thread."""

    def __init__(self, stats: PerfStats, steady: PerfStats | None, warmup: int, record_size: int,
                 progress: Progress, total: int) -> None:
        self.stats = stats
        self.steady = steady
        self.warmup = warmup
        self.record_size = record_size
        self.progress = progress
        self.total = total
        self.failed = 0
        self.errors: list[str] = []
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._report, name="josef-perf-report", daemon=True)
        append = stats.pending.append
        mono = time.monotonic

        # Java counts only successful records (with their latency from just before send()).
        def done(start: float, metadata: Any, exc: BaseException | None) -> None:
            if exc is None:
                append(mono() - start)
            else:
                self.fail(exc)

        sizes = stats.pending_sizes

        def done_sized(start: float, nbytes: int, metadata: Any, exc: BaseException | None) -> None:
            if exc is None:
                append(mono() - start)
                sizes.append(nbytes)  # type: ignore[union-attr]
            else:
                self.fail(exc)

        self.done = done
        self.done_sized = done_sized

    def fail(self, exc: BaseException) -> None:
        with self.stats.lock:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS_SHOWN:
                self.errors.append(describe(exc))

    def drain(self) -> None:
        now = time.monotonic()
        before = self.stats.count
        chunk, sizes = self.stats.drain(now, self.record_size)
        if self.steady is not None and self.stats.count > self.warmup:
            skip = max(0, self.warmup - before)
            self.steady.add(chunk[skip:], None if sizes is None else sizes[skip:], self.record_size)
        self.progress.update(self.stats.count + self.failed)

    def _report(self) -> None:
        while not self.stop.wait(min(0.2, self.stats.interval)):
            self.drain()

    def __enter__(self) -> PerfRun:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.drain()
        self.progress.clear()


def payload_source(args: argparse.Namespace) -> Callable[[int], bytes]:
    """``payload(i)`` for record i: random uppercase letters (``--record-size``), a random entry of
    ``--payload-file``, or the record number (``--payload-monotonic``)."""
    rng = random.Random(0)
    if args.payload_file:
        delimiter = codecs.decode(args.payload_delimiter, "unicode_escape")
        try:
            with open(args.payload_file, encoding="utf-8") as f:
                entries = [p.encode() for p in f.read().split(delimiter) if p]
        except OSError as exc:
            raise CliError(f"--payload-file {args.payload_file}: {exc.strerror or exc}") from None
        if not entries:
            raise CliError(f"--payload-file {args.payload_file}: no payloads in it")
        note(f"read {len(entries)} payloads from {args.payload_file}")
        choose = rng.choice
        return lambda i: choose(entries)
    if args.payload_monotonic:
        return lambda i: str(i).encode()
    size = args.record_size
    # Letters A-Z like the Java tool, different for every record: windows of a 1 MiB random pool (a fresh
    # random payload per record would cost more than the send it measures).
    letters = bytes(65 + i % 26 for i in range(256))
    pool = rng.randbytes(max(1 << 20, 4 * size)).translate(letters)
    span = len(pool) - size
    return lambda i: pool[(i * 7919) % span : (i * 7919) % span + size] if span else pool[:size]


def cmd_perf(args: argparse.Namespace) -> int:
    given = sum(bool(x) for x in (args.record_size is not None, args.payload_file, args.payload_monotonic))
    if given != 1:
        raise CliError("give exactly one of --record-size, --payload-file, --payload-monotonic")
    if args.num_records < 1:
        raise CliError("--num-records must be at least 1")
    if args.record_size is not None and args.record_size < 0:
        raise CliError("--record-size must be >= 0")
    config = producer_config(args)
    payload = payload_source(args)
    fixed_size = args.record_size is not None
    progress = Progress(args.num_records, sys.stderr.isatty() and not args.no_progress and not args.quiet)
    window_stream = sys.stderr if args.json else sys.stdout
    emit = None if args.quiet else functools.partial(_emit, progress, window_stream)
    with contextlib.ExitStack() as stack:
        producer, transactional = start_producer(stack, config)
        # Wait for the topic's metadata before the clock starts (the Java tool's first send blocks on it).
        producer.partitions_for(args.topic)
        interval = args.reporting_interval / 1000
        stats = PerfStats(args.num_records, interval, emit, sizes=not fixed_size)
        steady = None
        if args.warmup_records:
            steady = PerfStats(max(1, args.num_records - args.warmup_records), interval, None, " steady state")
        run = PerfRun(stats, steady, args.warmup_records, args.record_size or 0, progress, args.num_records)
        txn_duration = (args.transaction_duration_ms or 3000) / 1000
        throughput = args.throughput
        send, topic, mono, partial = producer.send, args.topic, time.monotonic, functools.partial
        done, done_sized = run.done, run.done_sized
        with run:
            if transactional:
                call(producer, "begin_transaction")
            start = txn_started = mono()
            for i in range(args.num_records):
                value = payload(i)
                if i == args.warmup_records and steady is not None:
                    steady.restart(mono())
                    if not args.json and not args.quiet:
                        progress.print("In steady state.", sys.stdout)
                now = mono()
                if fixed_size:
                    send(topic, value, callback=partial(done, now))
                else:
                    send(topic, value, callback=partial(done_sized, now, len(value)))
                if throughput > 0:
                    ahead = start + (i + 1) / throughput - mono()
                    if ahead > 0.002:
                        time.sleep(ahead)
                if transactional and now - txn_started >= txn_duration:
                    call(producer, "commit_transaction")
                    call(producer, "begin_transaction")
                    txn_started = mono()
            producer.flush()
            if transactional:
                call(producer, "commit_transaction")
        producer.close()
        end = mono()
        result = stats.total(end)
        steady_result = steady.total(end) if steady is not None else None
        metrics = _metrics(producer) if args.print_metrics or args.json else None
    result["failed"] = run.failed
    if args.json:
        doc: dict[str, Any] = {
            "tool": "josef perf",
            "josef_version": josef.__version__,
            "topic": args.topic,
            "num_records": args.num_records,
            "record_size": args.record_size,
            "throughput_limit": throughput,
            **result,
            "windows": stats.windows,
            "config": {k: v for k, v in config.items() if "password" not in k},
        }
        if steady_result is not None:
            doc["steady_state"] = steady_result
        if metrics is not None:
            doc["metrics"] = dict(metrics)
        print(json.dumps(doc, indent=2))
    else:
        print(stats.total_line(result), flush=True)
        if steady is not None and steady_result is not None:
            print(steady.total_line(steady_result), flush=True)
        if args.print_metrics and metrics is not None:
            _print_metrics(metrics)
    if args.histogram:
        png = render_histogram(stats.latencies, result)
        try:
            with open(args.histogram, "wb") as f:
                f.write(png)
        except OSError as exc:
            raise CliError(f"--histogram {args.histogram}: {exc.strerror or exc}") from None
        if not args.quiet:
            note(f"latency histogram written to {args.histogram} ({len(png):,} bytes)")
    if run.failed:
        print(f"josef perf: {run.failed} of {args.num_records} records failed; the first errors:", file=sys.stderr)
        for line in run.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _emit(progress: Progress, stream: IO[str], line: str) -> None:
    progress.print(line, stream)


def _metrics(producer: josef.Producer) -> list[tuple[str, float]] | None:
    metrics = getattr(producer, "metrics", None)
    if not callable(metrics):
        return None
    out = []
    for m in metrics():
        tags = ",".join(f"{k}={v}" for k, v in sorted(getattr(m, "tags", {}).items()))
        name = f"{getattr(m, 'group', '')}:{getattr(m, 'name', m)}:{{{tags}}}"
        value = getattr(m, "value", float("nan"))
        if isinstance(value, (int, float)):
            out.append((name, float(value)))
    return sorted(out)


def _print_metrics(metrics: list[tuple[str, float]]) -> None:
    width = max((len(name) for name, _ in metrics), default=11)
    print(f"\n{'Metric Name':<{width}}   Value")
    for name, value in metrics:
        print(f"{name:<{width}} : {value:.3f}")


# -- latency histogram as a PNG, with a tiny encoder (no plotting dependency) ------------------------------

# A 3x5 pixel font: five rows of three bits per glyph.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", " ": "000000000000000",
    "-": "000000111000000", "(": "010100100100010", ")": "010001001001010", "/": "001001010100100",
    "%": "101001010100101", ":": "000010000010000", "=": "000111000111000", ",": "000000000010100",
    ">": "100010001010100", "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "D": "110101101101110", "E": "111100110100111", "F": "111100110100100", "G": "011100101101011",
    "H": "101101111101101", "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110",
    "T": "111010010010010", "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: tuple[int, int, int] = (0, 0, 0), scale: int = 2,
             align: str = "left") -> None:
        width = len(text) * 4 * scale
        if align == "center":
            x -= width // 2
        elif align == "right":
            x -= width
        for ch in text.upper():
            glyph = _GLYPHS.get(ch, _GLYPHS[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (i % 3) * scale, y + (i // 3) * scale
                    self.rect(gx, gy, gx + scale, gy + scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        """The canvas as an 8-bit RGB PNG: signature, IHDR, one zlib IDAT (filter 0 rows), IEND."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + self.pixels[y * stride : (y + 1) * stride] for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _label(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def render_histogram(latencies: Sequence[float], result: dict[str, Any]) -> bytes:
    """A bar chart of the sampled latencies up to the 99.9th percentile (slower ones in the last bar),
    with the 50th/99th percentiles marked."""
    width, height = 900, 460
    left, right, top, bottom = 90, 30, 70, 70
    canvas = Canvas(width, height)
    plot_w, plot_h = width - left - right, height - top - bottom
    pcts = list(result["percentiles_ms"].values())
    ordered = sorted(latencies)
    upper = _nice_ceiling(max(pcts[-1], ordered[-1] * 0.01 if ordered else 0.0, 0.001))
    bins = 60
    counts = [0] * bins
    for latency in ordered:
        counts[min(int(latency / upper * bins), bins - 1)] += 1
    top_count = _nice_ceiling(max(counts) if counts else 1)
    canvas.text(width // 2, 18, f"JOSEF PERF: LATENCY OF {len(ordered):_} SAMPLED RECORDS".replace("_", " "),
                scale=3, align="center")
    canvas.text(width // 2, 46,
                f"{result['records']:_} RECORDS  {result['records_per_sec']:_.0f} RECORDS/S  "
                f"AVG {result['avg_latency_ms']:.2f} MS  MAX {result['max_latency_ms']:.1f} MS".replace("_", " "),
                color=(80, 80, 80), align="center")
    grey, axis = (225, 225, 225), (0, 0, 0)
    for i in range(5):  # horizontal grid and count labels
        y = top + plot_h - plot_h * i // 4
        canvas.rect(left, y, left + plot_w, y + 1, grey)
        canvas.text(left - 8, y - 5, f"{top_count * i / 4:_.0f}".replace("_", " "), align="right")
    bar_w = plot_w / bins
    for i, n in enumerate(counts):
        if n:
            h = max(1, round(plot_h * n / top_count))
            x0 = left + round(i * bar_w)
            x1 = left + round((i + 1) * bar_w) - 1
            canvas.rect(x0, top + plot_h - h, max(x1, x0 + 1), top + plot_h, (52, 101, 164))
    for p, value, color in (("P50", pcts[0], (0, 140, 60)), ("P99", pcts[2], (200, 40, 40))):
        x = left + min(round(plot_w * value / upper), plot_w - 1)
        canvas.rect(x, top, x + 2, top + plot_h, color)
        canvas.text(x + 5, top + 4 + (0 if p == "P50" else 14), f"{p} {value:.2f} MS", color=color)
    canvas.rect(left, top + plot_h, left + plot_w, top + plot_h + 2, axis)
    canvas.rect(left - 2, top, left, top + plot_h + 2, axis)
    for i in range(5):  # x ticks
        x = left + plot_w * i // 4
        canvas.rect(x, top + plot_h, x + 1, top + plot_h + 6, axis)
        label = _label(upper * i / 4) + (" OR MORE" if i == 4 else "")
        canvas.text(x, top + plot_h + 12, label, align="center" if i < 4 else "right")
    canvas.text(left + plot_w // 2, height - 26, "LATENCY (MS), SEND TO ACKNOWLEDGEMENT", align="center")
    canvas.text(8, top - 20, "RECORDS")
    return canvas.png()


# -- josef topics: a small blocking admin client (Metadata, CreateTopics) ---------------------------------


class Admin:
    """One blocking connection to a broker, for the ``topics`` commands."""

    def __init__(self, bootstrap: str, timeout: float = 15.0) -> None:
        from josef.protocol import ApiKey, negotiate_version

        self.timeout = timeout
        self.correlation = 0
        self.sock: socket.socket | None = None
        errors = []
        for server in bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                self.sock = socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout)
                break
            except (OSError, ValueError) as exc:
                errors.append(f"{server.strip()}: {exc}")
        if self.sock is None:
            raise CliError("cannot connect to any bootstrap server: " + "; ".join(errors))
        response = self.request(ApiKey.API_VERSIONS, 0, {})
        if response["error_code"]:
            raise error_for_code(response["error_code"])
        self.versions: dict[int, int] = {}
        for entry in response["api_keys"]:
            version = negotiate_version(entry["api_key"], entry["min_version"], entry["max_version"])
            if version is not None:
                self.versions[entry["api_key"]] = version

    def request(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        from josef.protocol import decode_response, encode_request

        assert self.sock is not None
        self.correlation += 1
        self.sock.sendall(encode_request(api_key, version, self.correlation, "josef-cli", body))
        size = struct.unpack(">i", self._read(4))[0]
        _, response = decode_response(api_key, version, self._read(size))
        return response

    def version(self, api_key: int) -> int:
        from josef.protocol import ApiKey

        if api_key not in self.versions:
            raise CliError(f"the broker does not support a {ApiKey(api_key).name} version josef speaks")
        return self.versions[api_key]

    def _read(self, n: int) -> bytes:
        assert self.sock is not None
        chunks = bytearray()
        while len(chunks) < n:
            data = self.sock.recv(n - len(chunks))
            if not data:
                raise CliError("the broker closed the connection")
            chunks += data
        return bytes(chunks)

    def metadata(self, topics: list[str] | None) -> dict[str, Any]:
        from josef.protocol import ApiKey

        body = {
            "topics": None if topics is None else [{"name": t} for t in topics],
            "allow_auto_topic_creation": False,
        }
        return self.request(ApiKey.METADATA, self.version(ApiKey.METADATA), body)

    def create_topics(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from josef.protocol import ApiKey

        body = {"topics": specs, "timeout_ms": int(self.timeout * 1000), "validate_only": False}
        response = self.request(ApiKey.CREATE_TOPICS, self.version(ApiKey.CREATE_TOPICS), body)
        topics: list[dict[str, Any]] = response["topics"]
        return topics

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def cmd_topics(args: argparse.Namespace) -> int:
    config = producer_config(args)
    with cluster(config):
        admin = Admin(config["bootstrap.servers"])
        try:
            if args.topics_command == "list":
                response = admin.metadata(None)
                for topic in sorted(response["topics"], key=lambda t: t["name"] or ""):
                    if args.all or not topic["is_internal"]:
                        print(topic["name"])
            elif args.topics_command == "create":
                pairs = [split_kv(c, "--config") for c in args.topic_config or []]
                configs = [{"name": k, "value": v} for k, v in pairs]
                specs = [{"name": name, "num_partitions": args.partitions,
                          "replication_factor": args.replication_factor, "assignments": [], "configs": configs}
                         for name in args.topics]
                failed = 0
                for topic in admin.create_topics(specs):
                    code = topic["error_code"]
                    if code == 36 and args.if_not_exists:  # TOPIC_ALREADY_EXISTS
                        continue
                    if code:
                        failed += 1
                        error = error_for_code(code, topic["error_message"])
                        note(f"error: topic {topic['name']!r}: {describe(error)}")
                    else:
                        print(f"Created topic {topic['name']}.")
                return 1 if failed else 0
            else:
                response = admin.metadata(args.topics or None)
                missing = 0
                for topic in sorted(response["topics"], key=lambda t: t["name"] or ""):
                    if topic["error_code"]:
                        missing += 1
                        note(f"error: topic {topic['name']!r}: {describe(error_for_code(topic['error_code']))}")
                        continue
                    if not args.topics and topic["is_internal"] and not args.all:
                        continue
                    partitions = sorted(topic["partitions"], key=lambda p: p["partition_index"])
                    rf = len(partitions[0]["replica_nodes"]) if partitions else 0
                    topic_id = topic.get("topic_id")
                    print(f"Topic: {topic['name']}\tTopicId: {topic_id}\tPartitionCount: {len(partitions)}\t"
                          f"ReplicationFactor: {rf}")
                    for p in partitions:
                        print(f"\tTopic: {topic['name']}\tPartition: {p['partition_index']}\tLeader: {p['leader_id']}"
                              f"\tReplicas: {','.join(map(str, p['replica_nodes']))}"
                              f"\tIsr: {','.join(map(str, p['isr_nodes']))}")
                return 1 if missing else 0
        finally:
            admin.close()
    return 0


# -- josef demo -------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    config = producer_config(args)
    with cluster(config) as mock:
        return run_demo(config, mock, fast=args.fast)


def _metric(producer: josef.Producer, name: str) -> float | None:
    getter = getattr(producer, "metric", None)
    if not callable(getter):
        return None
    try:
        value = float(getter(name, "producer-metrics"))
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class Demo:
    """The steps of ``josef demo``; each prints what it does and what happened."""

    def __init__(self, config: dict[str, Any], mock: Any, fast: bool) -> None:
        self.config = config
        self.mock = mock
        self.fast = fast
        self.step_no = 0
        self.suffix = "" if mock is not None else f"-{os.getpid()}"
        self.admin: Admin | None = None

    def step(self, title: str) -> None:
        if self.step_no and not self.fast:
            time.sleep(0.6)
        self.step_no += 1
        print(f"\n== {self.step_no}. {title}", flush=True)

    def say(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def topic(self, name: str, partitions: int) -> str:
        name = f"josef-demo-{name}{self.suffix}"
        if self.mock is not None:
            self.mock.create_topic(name, partitions)
        else:
            if self.admin is None:
                self.admin = Admin(self.config["bootstrap.servers"])
            result = self.admin.create_topics([{"name": name, "num_partitions": partitions,
                                                "replication_factor": -1, "assignments": [], "configs": []}])
            if result[0]["error_code"] not in (0, 36):
                raise error_for_code(result[0]["error_code"], result[0]["error_message"])
        return name

    def producer(self, **overrides: Any) -> josef.Producer:
        return open_producer({**self.config, **{k.replace("_", "."): v for k, v in overrides.items()}})

    def run(self) -> int:
        where = "the embedded mock cluster" if self.mock is not None else self.config["bootstrap.servers"]
        print(f"josef {josef.__version__} demo, on {where}")
        self.partitioning()
        self.batching()
        self.compression()
        self.idempotence()
        self.transaction()
        self.metrics()
        if self.admin is not None:
            self.admin.close()
        print("\nDone. Next: 'josef perf --num-records 200000 --record-size 100', or 'josef --help'.")
        return 0

    def partitioning(self) -> None:
        self.step("Partitioning: a key always goes to the same partition (murmur2, like the Java client)")
        topic = self.topic("orders", 3)
        with self.producer() as producer:
            futures = [(key, producer.send(topic, f"order {n}".encode(), key.encode()))
                       for n in range(9) for key in (f"user-{n % 3}",)]
            for key, future in futures[:6]:
                md = future.result(30)
                self.say(f"key {key!r:9} -> partition {md.partition}, offset {md.offset}")
            unkeyed = [producer.send(topic, b"no key") for _ in range(6)]
            spots = sorted({f.result(30).partition for f in unkeyed})
            self.say(f"6 records without a key -> partition(s) {spots}: sticky, one batch at a time")

    def batching(self) -> None:
        self.step("Batching: linger.ms lets records share a request")
        topic = self.topic("batching", 1)
        for linger in (0, 20):
            with self.producer(linger_ms=linger) as producer:
                for n in range(2000):
                    producer.send(topic, b"x" * 100, key=str(n).encode())
                    if linger == 0 and n % 50 == 0:
                        time.sleep(0.001)
                producer.flush()
                per_request = _metric(producer, "records-per-request-avg")
                batch = _metric(producer, "batch-size-avg")
                requests = _metric(producer, "request-total")
            if per_request is None:
                self.say(f"linger.ms={linger}: sent 2000 records (metrics unavailable)")
            else:
                self.say(f"linger.ms={linger:<3} 2000 records: {per_request:6.1f} records/request, "
                         f"batches of {batch or 0:6.0f} bytes, {requests or 0:4.0f} requests")

    def compression(self) -> None:
        self.step("Compression: batches are compressed as a whole")
        topic = self.topic("compression", 1)
        value = json.dumps({"user": "user-42", "action": "checkout", "items": [1, 2, 3], "total": 99.5}).encode()
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            try:
                producer = self.producer(compression_type=codec, linger_ms=10)
            except CliError as exc:
                self.say(f"{codec:6} unavailable: {exc}")
                continue
            with producer:
                for _ in range(2000):
                    producer.send(topic, value)
                producer.flush()
                ratio = _metric(producer, "compression-rate-avg")
                sent = _metric(producer, "outgoing-byte-total")
            if ratio is None:
                self.say(f"{codec:6} 2000 records sent")
            else:
                self.say(f"{codec:6} compressed to {ratio * 100:5.1f}% of the original; {sent or 0:9,.0f} bytes "
                         "on the wire")

    def idempotence(self) -> None:
        self.step("Idempotence: a retried batch is written once")
        if self.mock is None:
            self.say("on by default (enable.idempotence=true); the mock cluster shows it with a lost response,")
            self.say("run 'josef demo' without -b to see it")
            return
        from josef.protocol import ApiKey

        for idempotent in (False, True):
            topic = self.topic(f"idempotence-{'on' if idempotent else 'off'}", 1)
            with self.producer(enable_idempotence=idempotent, acks="all") as producer:
                producer.send(topic, b"warm-up").result(30)
                self.mock.drop_connection(ApiKey.PRODUCE, when="after")  # appended, but the answer is lost
                producer.send(topic, b"important").result(30)
                retries = _metric(producer, "record-retry-total")
            stored = [r.value for r in self.mock.records(topic, 0)].count(b"important")
            self.say(f"enable.idempotence={str(idempotent).lower():5}: the broker's response was lost, the producer "
                     f"retried ({retries or 0:.0f} retry) -> stored {stored} time(s)")

    def transaction(self) -> None:
        self.step("Transactions: all or nothing")
        topic = self.topic("transactions", 1)
        producer = self.producer(transactional_id=f"josef-demo{self.suffix}")
        with producer:
            if not all(callable(getattr(producer, m, None)) for m in
                       ("init_transactions", "begin_transaction", "commit_transaction", "abort_transaction")):
                self.say("not in this version of josef yet: skipped")
                return
            call(producer, "init_transactions")
            for outcome in ("commit", "abort"):
                call(producer, "begin_transaction")
                for n in range(3):
                    producer.send(topic, f"{outcome} {n}".encode())
                call(producer, f"{outcome}_transaction")
                self.say(f"3 records sent, then {outcome}_transaction()")
        if self.mock is not None:
            visible = [r.value for r in self.mock.records(topic, 0, isolation="read_committed")]
            self.say(f"a read_committed consumer sees {len(visible)} records: {[v.decode() for v in visible if v]}")

    def metrics(self) -> None:
        self.step("Metrics: the Java client's names, from producer.metrics()")
        topic = self.topic("metrics", 3)
        with self.producer() as producer:
            for n in range(5000):
                producer.send(topic, b"x" * 200, key=str(n).encode())
            producer.flush()
            self.metrics_of(producer)

    def metrics_of(self, producer: josef.Producer) -> None:
        for name in ("record-send-total", "record-error-total", "request-latency-avg", "batch-size-avg",
                     "outgoing-byte-total"):
            value = _metric(producer, name)
            shown = "n/a" if value is None else f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
            self.say(f"{name:22} {shown}")


def run_demo(config: dict[str, Any], mock: Any, fast: bool) -> int:
    return Demo(config, mock, fast).run()


# -- the parser -------------------------------------------------------------------------------------------

MAIN_EPILOG = """\
examples:
  josef perf --num-records 200000 --record-size 100      # benchmark on the embedded mock cluster
  josef perf -b localhost:9092 --topic t --num-records 1000000 --record-size 100 --throughput -1 \\
       --producer-props acks=all linger.ms=5 --histogram latency.png
  printf 'k1:hello\\nk2:world\\n' | josef produce -b localhost:9092 orders --key-separator :
  josef topics -b localhost:9092 create orders --partitions 6
  josef demo                                             # a guided tour, on the embedded mock cluster

With no -b/--bootstrap-servers (nor bootstrap.servers in -X or --config), a command starts josef's
embedded mock cluster in-process and runs against it.  Run 'josef COMMAND --help' for each command.
"""

PRODUCE_EPILOG = """\
input:
  One record per line; with --key-separator SEP the text before the first SEP is the key.  With --json each
  line is an object {"key": ..., "value": ..., "headers": {"name": "value"} or [["name", "value"], ...],
  "partition": n, "timestamp": ms}: strings are sent as UTF-8, null as null, other JSON values as JSON text.
  Lines that cannot be parsed fail alone; the others are still delivered.

output:
  A summary on stderr (records delivered and failed, bytes, time); the first errors if any failed.
  Exit code 1 if any record failed.

examples:
  echo hello | josef produce -b localhost:9092 greetings
  printf 'user1\\t{"n":1}\\n' | josef produce -b localhost:9092 events --key-separator '\\t' -H source=cli
  josef produce -b localhost:9092 orders --json --file orders.jsonl --acks all --compression lz4
  josef produce orders --file big.txt -X linger.ms=20 -X batch.size=65536 --config client.properties
  josef produce -b localhost:9092 orders --file batch.txt --transactional-id loader-1
"""

PERF_EPILOG = """\
output (the lines of Kafka's kafka-producer-perf-test, so scripts that parse them keep working):
  every 5 s:  N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency.
  at the end: N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency,
              P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.
  Latency is measured from send() to the acknowledgement; only successful records count; MB = 2^20 bytes.
  --json prints one JSON document instead (the 5 s lines go to stderr), with sub-millisecond percentiles.
  On a terminal a progress bar is drawn on stderr (--no-progress turns it off).

examples:
  josef perf --num-records 200000 --record-size 100
  josef perf -b localhost:9092 --topic perf --num-records 1000000 --record-size 1000 --throughput 50000 \\
       --producer-props acks=1 linger.ms=10 compression.type=lz4
  josef perf -b localhost:9092 --topic perf --num-records 500000 --payload-file words.txt --json > result.json
  josef perf --num-records 100000 --record-size 100 --histogram latency.png
"""

TOPICS_EPILOG = """\
examples:
  josef topics -b localhost:9092 list
  josef topics -b localhost:9092 create orders --partitions 6 --replication-factor 3 --config retention.ms=86400000
  josef topics -b localhost:9092 describe orders
"""

DEMO_EPILOG = """\
examples:
  josef demo                          # on the embedded mock cluster
  josef demo -b localhost:9092        # on a real cluster (creates topics named josef-demo-*)
"""


def _common(parser: argparse.ArgumentParser, producer_flags: bool = True, admin: bool = False,
            inner: bool = False) -> None:
    """The connection and configuration options.  ``inner``: a sub-subcommand (``topics list``) whose
    parent has them too; its defaults must not overwrite what was given before the action."""
    group = parser.add_argument_group("connection and configuration")
    default: Any = argparse.SUPPRESS if inner else None
    group.add_argument("-b", "--bootstrap-servers", "--bootstrap-server", dest="bootstrap_servers", metavar="HOSTS",
                       default=default,
                       help="host:port[,host:port...] of the cluster (default: an embedded mock cluster)")
    group.add_argument("-X", "--property", "--producer-props", "--command-property", dest="props", metavar="KEY=VALUE",
                       action="extend", nargs="+", default=default,
                       help="any producer configuration, by its Java name (repeatable: -X acks=1 -X linger.ms=10)")
    # kafka-topics takes --config for topic settings and --command-config for the client's.
    names = ["--command-config"]
    if not admin:
        names = ["--config", "--producer.config", "--producer-config", *names]
    group.add_argument(*names, dest="config_files", metavar="FILE", action="append", default=default,
                       help="a Java .properties file of client configuration")
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show josef's logs and full tracebacks")
    if producer_flags:
        knobs = parser.add_argument_group("producer settings (shortcuts for -X; they win over -X and --config)")
        knobs.add_argument("--acks", choices=("all", "-1", "0", "1"), help="acks (default all)")
        knobs.add_argument("-z", "--compression", choices=("none", "gzip", "snappy", "lz4", "zstd"),
                           help="compression.type (default none)")
        knobs.add_argument("--linger-ms", type=int, metavar="MS", help="linger.ms (default 5)")
        knobs.add_argument("--batch-size", type=int, metavar="BYTES", help="batch.size (default 16384)")
        knobs.add_argument("--idempotence", action=argparse.BooleanOptionalAction, default=None,
                           help="enable.idempotence (default on)")
        knobs.add_argument("--transactional-id", metavar="ID",
                           help="transactional.id: the whole run is sent in transactions")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="josef", formatter_class=fmt, epilog=MAIN_EPILOG,
        description="josef: a Kafka producer for Python, and its command line tools.",
    )
    parser.add_argument("--version", action="version",
                        version=f"josef {josef.__version__} (Python {sys.version.split()[0]})")
    parser.add_argument("--debug", action="store_true", help="show josef's logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    produce = sub.add_parser("produce", formatter_class=fmt, epilog=PRODUCE_EPILOG,
                             help="send records read from stdin or a file",
                             description="Send records read from stdin or --file to TOPIC.")
    produce.add_argument("topic", metavar="TOPIC")
    inp = produce.add_argument_group("input")
    inp.add_argument("-f", "--file", metavar="FILE", help="read records from FILE instead of stdin")
    inp.add_argument("-j", "--json", action="store_true", help="each line is a JSON object (see below)")
    inp.add_argument("-K", "--key-separator", metavar="SEP",
                     help="split each line into key SEP value (escapes like '\\t' work)")
    inp.add_argument("-k", "--key", metavar="KEY", help="one key for every record")
    inp.add_argument("-H", "--header", metavar="KEY=VALUE", action="append",
                     help="a header for every record (repeatable)")
    inp.add_argument("-p", "--partition", type=int, metavar="N", help="send every record to partition N")
    inp.add_argument("-q", "--quiet", action="store_true", help="no summary unless something failed")
    _common(produce)
    produce.set_defaults(func=cmd_produce)

    perf = sub.add_parser("perf", formatter_class=fmt, epilog=PERF_EPILOG,
                          help="benchmark the producer (kafka-producer-perf-test's options and output)",
                          description="Send --num-records records as fast as allowed and report throughput "
                                      "and latency, like Kafka's kafka-producer-perf-test.")
    perf.add_argument("--topic", default="josef-perf", help="topic to send to (default josef-perf)")
    perf.add_argument("--num-records", type=int, required=True, metavar="N", help="how many records to send")
    payload = perf.add_mutually_exclusive_group()
    payload.add_argument("--record-size", type=int, metavar="BYTES", help="size of each record's value")
    payload.add_argument("--payload-file", metavar="FILE",
                         help="values are picked at random from FILE, split by --payload-delimiter")
    payload.add_argument("--payload-monotonic", action="store_true", help="values are the record numbers 0, 1, ...")
    perf.add_argument("--payload-delimiter", default="\\n", metavar="DELIM", help="for --payload-file (default \\n)")
    perf.add_argument("--throughput", type=float, default=-1, metavar="RECORDS_PER_SEC",
                      help="throttle to this many records/s; -1 (default) for no limit")
    perf.add_argument("--transaction-duration-ms", type=int, metavar="MS",
                      help="with --transactional-id, commit every MS (default 3000)")
    perf.add_argument("--warmup-records", type=int, default=0, metavar="N",
                      help="also report the records after the first N separately (' steady state')")
    perf.add_argument("--print-metrics", action="store_true", help="print the producer's metrics at the end")
    perf.add_argument("--reporting-interval", type=int, default=5000, metavar="MS",
                      help="interval of the periodic lines (default 5000)")
    perf.add_argument("--json", action="store_true", help="print the results as one JSON document on stdout")
    perf.add_argument("--histogram", metavar="FILE.png", help="write a latency histogram as a PNG image")
    perf.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    perf.add_argument("-q", "--quiet", action="store_true", help="only the final line")
    _common(perf)
    perf.set_defaults(func=cmd_perf)

    topics = sub.add_parser("topics", formatter_class=fmt, epilog=TOPICS_EPILOG,
                            help="list, create and describe topics", description="List, create and describe topics.")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    tlist = tsub.add_parser("list", formatter_class=fmt, epilog=TOPICS_EPILOG, help="topic names, one per line")
    tlist.add_argument("--all", action="store_true", help="include internal topics")
    tcreate = tsub.add_parser("create", formatter_class=fmt, epilog=TOPICS_EPILOG, help="create topics")
    tcreate.add_argument("topics", nargs="+", metavar="TOPIC")
    tcreate.add_argument("--partitions", type=int, default=-1, metavar="N", help="(default: the broker's)")
    tcreate.add_argument("--replication-factor", type=int, default=-1, metavar="N", help="(default: the broker's)")
    tcreate.add_argument("--config", dest="topic_config", action="append", metavar="KEY=VALUE",
                         help="a topic configuration (repeatable)")
    tcreate.add_argument("--if-not-exists", action="store_true", help="no error if the topic exists")
    tdescribe = tsub.add_parser("describe", formatter_class=fmt, epilog=TOPICS_EPILOG,
                                help="partitions, leaders, replicas and ISR")
    tdescribe.add_argument("topics", nargs="*", metavar="TOPIC", help="(default: all topics)")
    tdescribe.add_argument("--all", action="store_true", help="include internal topics")
    _common(topics, producer_flags=False, admin=True)
    for p in (tlist, tcreate, tdescribe):
        _common(p, producer_flags=False, admin=True, inner=True)
        p.set_defaults(func=cmd_topics)

    demo = sub.add_parser("demo", formatter_class=fmt, epilog=DEMO_EPILOG,
                          help="a short live tour: partitioning, batching, compression, idempotence, metrics",
                          description="A short live tour of josef's producer.")
    demo.add_argument("--fast", action="store_true", help="no pauses between the steps")
    _common(demo, producer_flags=False)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if debug else "josef: %(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `josef topics list | head`): not an error worth a message.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if debug:
            raise
        note(f"error: {describe(exc)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
