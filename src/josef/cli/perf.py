"""``josef perf``: kafka-producer-perf-test's options and output lines, plus ``--json`` with HDR histogram
percentiles and a latency chart (``--histogram``)."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import functools
import json
import random
import sys
import threading
import time
from array import array
from collections.abc import Callable
from typing import IO, Any

import josef
from josef.cli.chart import draw_latency_chart, require_matplotlib, subtitle_for
from josef.cli.common import MAX_ERRORS_SHOWN, MB, CliError, call, describe, note, producer_config, start_producer
from josef.cli.latency import JSON_PERCENTILES, LatencyHistogram

WINDOW_FORMAT = "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency."


TOTAL_FORMAT = (
    "%d%s records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
    "%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th."
)


# The percentiles of the Java tool's final line.
LINE_PERCENTILES = (50.0, 95.0, 99.0, 99.9)


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
    """The Java tool's statistics: totals, windows (every ``interval`` s), every latency in an HDR histogram.

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
        self.lock = threading.Lock()
        self.pending = array("d")  # latencies (s) not yet drained, appended by callbacks
        self.pending_sizes: array[int] | None = array("q") if sizes else None
        self.count = self.bytes = 0
        self.total_latency = self.max_latency = 0.0
        self.histogram = LatencyHistogram()
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
        self.histogram.record_seconds(chunk)
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

    def total(self, now: float) -> dict[str, Any]:
        with self.lock:
            elapsed = max(now - self.start, 1e-9)
            return {
                "records": self.count,
                "records_per_sec": self.count / elapsed,
                "mb_per_sec": self.bytes / elapsed / MB,
                "avg_latency_ms": self.total_latency / self.count if self.count else 0.0,
                "max_latency_ms": self.max_latency,
                "percentiles_ms": {
                    **self.histogram.percentiles_ms(JSON_PERCENTILES), "max": round(self.max_latency, 3)
                },
                "elapsed_s": round(elapsed, 3),
                "bytes": self.bytes,
            }

    def total_line(self, result: dict[str, Any]) -> str:
        # Java prints the percentiles as int milliseconds; int() truncates like its (int) cast.
        pcts = [int(self.histogram.value_ms(p)) for p in LINE_PERCENTILES]
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
    if args.histogram:
        require_matplotlib()
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
        series = [("all records", stats.histogram)]
        if steady is not None:
            series.append(("steady state", steady.histogram))
        draw_latency_chart(args.histogram, series, subtitle_for(result))
        if not args.quiet:
            note(f"latency chart written to {args.histogram}")
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
