"""``python -m josef.testing`` (and ``josef mock``): run the mock cluster as a server until Ctrl-C.

For local development and CI in any language, without Java or Docker::

    python -m josef.testing --brokers 3 --port 9092 --topic orders:6

prints the bootstrap servers on stdout (one line, so scripts can read it) and serves until interrupted.
Memory stays bounded: each partition keeps at most ``--retention-bytes`` (oldest batches dropped first).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

__all__ = ["EPILOG", "add_arguments", "main", "run"]

EPILOG = """\
examples:
  python -m josef.testing                                   # 3 brokers on 9092-9094, topics auto-created
  python -m josef.testing --brokers 1 --port 19092 --topic orders:6 --topic audit:1:1
  python -m josef.testing --port 0 --transaction-version 2  # ephemeral ports; transactions v2

The first line on stdout is the bootstrap servers.  Ctrl-C (or SIGTERM) stops the cluster; everything it
held is gone.  It is a test double, not a broker: no TLS, no SASL, no persistence.
"""


def _topic(text: str) -> tuple[str, dict[str, Any]]:
    name, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    if not name or len(parts) > 2:
        raise argparse.ArgumentTypeError(f"expected NAME[:PARTITIONS[:REPLICATION]], got {text!r}")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"partitions and replication must be integers: {text!r}") from None
    spec: dict[str, Any] = {"partitions": numbers[0] if numbers else 1}
    if len(numbers) == 2:
        spec["replication_factor"] = numbers[1]
    return name, spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", type=int, default=3, help="how many brokers (default 3)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on and advertise (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9092,
                        help="port of broker 1; broker n listens on PORT+n-1 (default 9092; 0: ephemeral)")
    parser.add_argument("--topic", action="append", type=_topic, default=[], metavar="NAME[:P[:R]]",
                        help="create a topic with P partitions (default 1) and replication R; repeatable")
    parser.add_argument("--partitions", type=int, default=1, help="partitions of auto-created topics (default 1)")
    parser.add_argument("--no-auto-create", action="store_true", help="do not create topics on Metadata requests")
    parser.add_argument("--min-insync-replicas", type=int, default=1, help="cluster default (default 1)")
    parser.add_argument("--retention-bytes", type=int, default=64 * 1024 * 1024,
                        help="the most one partition keeps, in bytes (default 64 MiB): the memory bound")
    parser.add_argument("--transaction-version", type=int, choices=(1, 2), default=2,
                        help="transactions v1, or v2 (KIP-890, the default of Kafka 4 clusters; default 2)")


def run(args: argparse.Namespace) -> int:
    """Start the cluster the arguments describe, print its bootstrap servers, serve until interrupted."""
    from josef.testing.cluster import MockCluster

    try:
        cluster = MockCluster(
            brokers=args.brokers, topics=dict(args.topic), host=args.host, port=args.port,
            default_partitions=args.partitions, auto_create_topics=not args.no_auto_create,
            min_insync_replicas=args.min_insync_replicas, retention_bytes=args.retention_bytes,
            transaction_version=args.transaction_version,
        )
    except (OSError, ValueError) as exc:
        print(f"josef mock: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(cluster.bootstrap_servers, flush=True)
        topics = ", ".join(f"{n}:{p}" for n, p in sorted(cluster.topics().items())) or "none yet"
        print(f"josef mock: {args.brokers} broker(s), topics: {topics}; Ctrl-C to stop", file=sys.stderr, flush=True)
        reported = 0
        while not stop.wait(0.5):
            errors = cluster.internal_errors
            for error in errors[reported:]:  # that connection was closed; the cluster serves on
                print(f"josef mock: internal error (a bug in the mock):\n{error}", file=sys.stderr, flush=True)
            reported = len(errors)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        cluster.stop()
    print("josef mock: stopped", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m josef.testing", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Run josef's mock Kafka cluster until Ctrl-C.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
