"""josef's command line: ``josef produce``, ``josef perf``, ``josef topics``, ``josef demo``.

Every command talks to the cluster named by ``-b/--bootstrap-servers`` (or ``bootstrap.servers`` in
``-X``/``--config``).  With none given it starts josef's embedded mock cluster in this process, says so on
stderr in one line, and runs against that: the commands work on a machine with nothing but josef.

Errors are one line on stderr (``josef: error: ...``); ``--debug`` shows the traceback and josef's logs.
Exit codes: 0 success, 1 an error or at least one record failed, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import josef
from josef import speedups
from josef.cli.common import UsageError, describe, note, parse_properties
from josef.cli.demo import cmd_demo
from josef.cli.mock import add_mock_command
from josef.cli.perf import cmd_perf
from josef.cli.produce import cmd_produce
from josef.cli.topics import cmd_topics

__all__ = ["main", "parse_properties"]


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
  Every latency is recorded in an HDR histogram (3 significant digits, none sampled away).
  --json prints one JSON document instead (the 5 s lines go to stderr), with the 50/75/90/95/99/99.9/99.99th
  percentiles and the maximum in ms.  --histogram FILE.png draws the latency percentile distribution
  (needs matplotlib: pip install 'josef[plot]').
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
  josef topics -b localhost:9092 alter orders --partitions 12 --config retention.ms=3600000
  josef topics -b localhost:9092 alter orders --delete-config retention.ms
  josef topics -b localhost:9092 delete orders
  josef topics --mock create orders                # on an embedded mock cluster, gone when the command ends

topics needs -b/--bootstrap-servers (or bootstrap.servers in -X/--config): without it, it refuses
unless --mock is given.
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
    # One value each, so that `-X acks=1 TOPIC` leaves TOPIC alone; --producer-props takes several, as in
    # kafka-producer-perf-test.
    group.add_argument("-X", "--property", "--command-property", dest="props", metavar="KEY=VALUE",
                       action="append", default=default,
                       help="any client configuration, by its Java name (repeatable: -X acks=1 -X linger.ms=10)")
    group.add_argument("--producer-props", dest="props", metavar="KEY=VALUE", action="extend", nargs="+",
                       default=default, help="several KEY=VALUE settings at once (kafka-producer-perf-test's flag)")
    group.add_argument("--config", "--command-config", "--producer.config", "--producer-config", dest="config_files",
                       metavar="FILE", action="append", default=default,
                       help="a Java .properties file of client configuration"
                       + ("; KEY=VALUE (not a file) is a topic setting, as in kafka-topics" if admin else ""))
    if admin:
        group.add_argument("--mock", action="store_true", default=argparse.SUPPRESS if inner else False,
                           help="run against an embedded mock cluster (gone when the command ends) instead of -b")
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


def version_text() -> str:
    """josef's version, the Python running it, the send path in use, and the libraries doing the work."""
    import platform
    import zlib
    from importlib.metadata import PackageNotFoundError, version

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    path = speedups.DESCRIPTION
    return "\n".join([
        f"josef {josef.__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.platform})",
        f"send path: {path}",
        f"codecs: cramjam {dist('cramjam')} (snappy, lz4, zstd), zlib {zlib.ZLIB_RUNTIME_VERSION} (gzip), "
        f"crc32c {dist('crc32c')}",
    ])


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="josef", formatter_class=fmt, epilog=MAIN_EPILOG,
        description="josef: a Kafka producer for Python, and its command line tools.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--debug", action="store_true", help="show josef's logs and full tracebacks")
    # The connection options also work before the command (`josef -X acks=1 produce t`); the command's own win.
    parser.add_argument("-b", "--bootstrap-servers", dest="global_bootstrap", metavar="HOSTS", help=argparse.SUPPRESS)
    parser.add_argument("-X", "--property", dest="global_props", action="append", metavar="KEY=VALUE",
                        help=argparse.SUPPRESS)
    parser.add_argument("--config", "--command-config", "--producer.config", dest="global_config_files",
                        action="append", metavar="FILE", help=argparse.SUPPRESS)
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
    perf.add_argument("--histogram", metavar="FILE.png",
                      help="draw the latency percentile distribution as a PNG (needs the plot extra)")
    perf.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    perf.add_argument("-q", "--quiet", action="store_true", help="only the final line")
    _common(perf)
    perf.set_defaults(func=cmd_perf)

    topics = sub.add_parser("topics", formatter_class=fmt, epilog=TOPICS_EPILOG,
                            help="list, create, describe, alter and delete topics",
                            description="List, create, describe, alter and delete topics (through josef.Admin).")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    tlist = tsub.add_parser("list", formatter_class=fmt, epilog=TOPICS_EPILOG, help="topic names, one per line")
    tlist.add_argument("--all", action="store_true", help="include internal topics")
    tcreate = tsub.add_parser("create", formatter_class=fmt, epilog=TOPICS_EPILOG, help="create topics")
    tcreate.add_argument("topics", nargs="+", metavar="TOPIC")
    tcreate.add_argument("--partitions", type=int, default=-1, metavar="N", help="(default: the broker's)")
    tcreate.add_argument("--replication-factor", type=int, default=-1, metavar="N", help="(default: the broker's)")
    tcreate.add_argument("--topic-config", dest="topic_config", action="append", metavar="KEY=VALUE",
                         help="a topic configuration (repeatable; --config KEY=VALUE works too)")
    tcreate.add_argument("--if-not-exists", action="store_true", help="no error if the topic exists")
    tdescribe = tsub.add_parser("describe", formatter_class=fmt, epilog=TOPICS_EPILOG,
                                help="partitions, leaders, replicas and ISR")
    tdescribe.add_argument("topics", nargs="*", metavar="TOPIC", help="(default: all topics)")
    tdescribe.add_argument("--all", action="store_true", help="include internal topics")
    talter = tsub.add_parser("alter", formatter_class=fmt, epilog=TOPICS_EPILOG,
                             help="add partitions, set or delete topic configurations")
    talter.add_argument("topics", nargs="+", metavar="TOPIC")
    talter.add_argument("--partitions", type=int, metavar="N", help="the new (larger) number of partitions")
    talter.add_argument("--topic-config", dest="topic_config", action="append", metavar="KEY=VALUE",
                        help="set a topic configuration (repeatable; --config KEY=VALUE works too)")
    talter.add_argument("--delete-config", action="append", metavar="KEY",
                        help="remove a topic configuration, back to the broker's default (repeatable)")
    tdelete = tsub.add_parser("delete", formatter_class=fmt, epilog=TOPICS_EPILOG, help="delete topics")
    tdelete.add_argument("topics", nargs="+", metavar="TOPIC")
    tdelete.add_argument("--if-exists", action="store_true", help="no error if a topic does not exist")
    _common(topics, producer_flags=False, admin=True)
    for p in (tlist, tcreate, tdescribe, talter, tdelete):
        _common(p, producer_flags=False, admin=True, inner=True)
        p.set_defaults(func=cmd_topics)

    demo = sub.add_parser("demo", formatter_class=fmt, epilog=DEMO_EPILOG,
                          help="a short live tour: partitioning, batching, compression, idempotence, metrics",
                          description="A short live tour of josef's producer.")
    demo.add_argument("--fast", action="store_true", help="no pauses between the steps")
    _common(demo, producer_flags=False)
    demo.set_defaults(func=cmd_demo)
    add_mock_command(sub)
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
        return 2 if isinstance(exc, UsageError) else 1
