"""``josef produce``: records from stdin or a file, as lines or JSON lines."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import functools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import josef
from josef.cli.common import (
    MAX_ERRORS_SHOWN,
    CliError,
    call,
    describe,
    human_bytes,
    note,
    plural,
    producer_config,
    split_kv,
    start_producer,
)
from josef.errors import KafkaError, KafkaTimeoutError


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
