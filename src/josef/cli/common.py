"""What every josef command shares: configuration from flags and files, the embedded
cluster, one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import josef

MB = 1024 * 1024


MAX_ERRORS_SHOWN = 5


class CliError(Exception):
    """An error the CLI reports as one line (exit code 1)."""


class UsageError(CliError):
    """A command line that cannot work as given (exit code 2, as argparse's own errors)."""


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
    files = [*(getattr(args, "global_config_files", None) or []), *(getattr(args, "config_files", None) or [])]
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                config.update(parse_properties(f.read(), path))
        except OSError as exc:
            raise CliError(f"--config {path}: {exc.strerror or exc}") from None
    for item in [*(getattr(args, "global_props", None) or []), *(getattr(args, "props", None) or [])]:
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
        "bootstrap.servers": getattr(args, "bootstrap_servers", None) or getattr(args, "global_bootstrap", None),
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


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
