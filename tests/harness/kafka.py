"""Throw-away Apache Kafka (KRaft) clusters on 127.0.0.1 for josef's tests and benchmarks.

The broker comes from Maven jars (see ``pom.xml`` beside this file), not from a release
tarball: ``ensure_jars`` resolves them once into ``~/.cache/josef/kafka-<version>/lib``.

Every node of a ``KafkaCluster`` is a combined broker+controller JVM with its own data
directory in a temporary folder and its own free ports, so clusters never collide with
each other or with anything else on the machine.  Typical use::

    with KafkaCluster(3) as cluster:
        cluster.create_topic("t", partitions=3)
        ...  # produce to cluster.bootstrap_servers
        cluster.kill(2)            # SIGKILL node 2
        cluster.start_node(2)      # same data dir and ports; waits until it answers
        records = cluster.consume_all("t", expected_count=10)

Command line (``python -m tests.harness.kafka --help``)::

    fetch                 download the jars into the cache
    start [N]             run an N-node cluster in the foreground until Ctrl-C
    tool CLASS|ALIAS ...  run a Kafka command-line tool against the cached jars

Environment: ``JOSEF_KAFKA_VERSION`` (Kafka version), ``JOSEF_KAFKA_CACHE`` (cache folder),
``JOSEF_KAFKA_TMPDIR`` (where cluster folders go; default /dev/shm when it has room),
``JOSEF_KAFKA_KEEP=1`` (keep cluster folders and logs after stop),
``JOSEF_KAFKA_HEAP_OPTS`` / ``JOSEF_KAFKA_JVM_OPTS`` (broker JVM flags), ``JOSEF_KAFKA_PIDDIR``
(a folder where every broker JVM's pid is recorded while it runs, for CI clean-up),
``JAVA_HOME``, ``JOSEF_MVN`` (maven executable) and ``JOSEF_MVN_ARGS`` (extra maven flags).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import fcntl
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from confluent_kafka import Message
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._metadata import PartitionMetadata

__all__ = [
    "CONSOLE_CONSUMER",
    "DEFAULT_KAFKA_VERSION",
    "KAFKA_VERSION",
    "ExternalKafka",
    "KafkaCluster",
    "KafkaEndpoint",
    "KafkaHarnessError",
    "TopicFactory",
    "cache_dir",
    "consume_all",
    "ensure_jars",
    "lib_dir",
    "run_tool",
]

DEFAULT_KAFKA_VERSION = "4.4.0"
KAFKA_VERSION = os.environ.get("JOSEF_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION

HOST = "127.0.0.1"
POM = Path(__file__).with_name("pom.xml")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER = ".josef-complete"

STORAGE_TOOL = "kafka.tools.StorageTool"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
TOOL_ALIASES = {
    "storage": STORAGE_TOOL,
    # In kafka-tools since 4.4 at the latest (4.1 still had kafka.admin.ConfigCommand in core);
    # _main_class picks whichever the jars hold.
    "configs": "org.apache.kafka.tools.ConfigCommand|kafka.admin.ConfigCommand",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "console-consumer": CONSOLE_CONSUMER,
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "transactions": "org.apache.kafka.tools.TransactionsCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "features": "org.apache.kafka.tools.FeatureCommand",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
}

READY_LINE = b"Kafka Server started"
FATAL_LINE = b"Exiting Kafka due to fatal exception"
PORT_IN_USE = b"Address already in use"

DEFAULT_HEAP_OPTS = ("-Xms256m", "-Xmx512m")
SERVER_JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
# One-shot tools: C1 only and the serial collector start noticeably faster on 2 cores.
TOOL_JVM_OPTS = (
    "-Xmx512m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)


def _log4j2_config(purpose: str, target: str, root_level: str, quiet_loggers: Sequence[str] = ()) -> str:
    """A log4j2 XML config logging ``root_level`` and up to the console. XML, not YAML: YAML
    would silently depend on jackson-dataformat-yaml being on the classpath."""
    loggers = "".join(f'    <Logger name="{name}" level="WARN"/>\n' for name in quiet_loggers)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- josef test harness: {purpose} -->
<Configuration status="WARN">
  <Appenders>
    <Console name="OUT" target="{target}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
{loggers}    <Root level="{root_level}"><AppenderRef ref="OUT"/></Root>
  </Loggers>
</Configuration>
"""


# Brokers: INFO to stdout (the node's server.log), so the readiness line is printed.
SERVER_LOG4J2 = _log4j2_config(
    "broker log; INFO so that the readiness line 'Kafka Server started' is printed",
    "SYSTEM_OUT",
    "INFO",
    (
        "kafka.request.logger",
        "kafka.network.RequestChannel$",
        "state.change.logger",
        "kafka.authorizer.logger",
        "org.apache.kafka.storage.internals.log.LogCleaner",
    ),
)
# Tools: WARN and up to stderr only, so stdout carries nothing but the tool's own output.
TOOLS_LOG4J2 = _log4j2_config("command-line tools; warnings to stderr only", "SYSTEM_ERR", "WARN")


class KafkaHarnessError(RuntimeError):
    """The harness could not fetch, start, stop or talk to Kafka."""


def _log(message: str) -> None:
    print(f"[josef-kafka] {message}", file=sys.stderr, flush=True)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


_CONFIG_DUMP_LINE = re.compile(r"^\t[\w.-]+ = ")


def _tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log, leaving out the ``\tkey = value`` lines of Kafka's
    config dumps (hundreds of them per start, never what one is looking for)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    kept = [ln for ln in data.decode("utf-8", "replace").splitlines() if not _CONFIG_DUMP_LINE.match(ln)]
    return "\n".join(kept[-lines:])


# --------------------------------------------------------------------------- jars


def cache_dir() -> Path:
    """Root of the harness cache: ``$JOSEF_KAFKA_CACHE`` or ``~/.cache/josef``."""
    env = os.environ.get("JOSEF_KAFKA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "josef"


def lib_dir(version: str | None = None) -> Path:
    """The flat folder of jars for ``version`` (it may not exist yet)."""
    return cache_dir() / f"kafka-{version or KAFKA_VERSION}" / "lib"


def _jars_complete(lib: Path) -> bool:
    marker = lib / MARKER
    try:
        names = marker.read_text().split()
    except OSError:
        return False
    return bool(names) and all((lib / name).is_file() for name in names)


def _check_jar_set(lib: Path, version: str) -> list[str]:
    """Problems with the jars in ``lib``: missing essentials, or a wrong SLF4J binding."""
    names = sorted(p.name for p in lib.glob("*.jar"))
    problems: list[str] = []
    required = {
        f"org.apache.kafka.kafka_2.13-{version}.jar": "the broker",
        f"org.apache.kafka.kafka-tools-{version}.jar": "the command-line tools",
        f"org.apache.kafka.kafka-clients-{version}.jar": "the clients",
    }
    for jar, what in required.items():
        if jar not in names:
            problems.append(f"missing {jar} ({what})")
    for prefix in (
        "org.apache.logging.log4j.log4j-api-",
        "org.apache.logging.log4j.log4j-core-",
        "org.apache.logging.log4j.log4j-slf4j-impl-",
        "org.slf4j.slf4j-api-1.",
    ):
        if not any(name.startswith(prefix) for name in names):
            problems.append(f"missing {prefix}*.jar (broker logging)")
    # Kafka 4.x logs through SLF4J 1.7 with the log4j-slf4j-impl binding. An slf4j-api 2.x or
    # any other binding on the classpath silently turns the broker's log into a no-op, and then
    # the readiness line never appears.
    forbidden = (
        "org.slf4j.slf4j-api-2.",
        "org.apache.logging.log4j.log4j-slf4j2-impl-",
        "ch.qos.logback.logback-classic-",
        "org.slf4j.slf4j-reload4j-",
        "org.slf4j.slf4j-log4j12-",
        "org.slf4j.slf4j-simple-",
        "org.slf4j.slf4j-nop-",
        "org.slf4j.slf4j-jdk14-",
    )
    for name in names:
        if name.startswith(forbidden):
            problems.append(f"{name} must not be on the broker classpath (breaks SLF4J 1.7 logging)")
    return problems


def ensure_jars(version: str | None = None) -> Path:
    """Make sure the jars for ``version`` are cached; return their folder.

    Runs Maven's ``copy-dependencies`` on ``tests/harness/pom.xml`` when the folder is missing
    or incomplete (no marker file, or a jar named in the marker is gone).  Safe to call from
    several processes at once: they serialise on a lock file.
    """
    version = version or KAFKA_VERSION
    lib = lib_dir(version)
    if _jars_complete(lib):
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _jars_complete(lib):
            return lib
        tmp = lib.with_name("lib.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        mvn = os.environ.get("JOSEF_MVN") or shutil.which("mvn")
        if not mvn:
            raise KafkaHarnessError("Maven ('mvn') is needed to fetch the Kafka jars but is not on PATH")
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(POM),
            *shlex.split(os.environ.get("JOSEF_MVN_ARGS", "")),
            f"-Dkafka.version={version}",
            f"-Dmaven.repo.local={cache_dir() / 'm2'}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            "-Dmdep.prependGroupId=true",
        ]
        _log(f"fetching Kafka {version} jars with Maven into {lib}")
        started = time.monotonic()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
            raise KafkaHarnessError(
                f"maven failed (exit {proc.returncode}) fetching Kafka {version}:\n"
                + " ".join(shlex.quote(c) for c in cmd)
                + "\n"
                + "\n".join(output)
            )
        problems = _check_jar_set(tmp, version)
        if problems:
            listing = "\n  ".join(problems)
            raise KafkaHarnessError(f"unusable jar set for Kafka {version} in {tmp}:\n  {listing}")
        jars = sorted(p.name for p in tmp.glob("*.jar"))
        (tmp / MARKER).write_text("\n".join(jars) + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        tmp.rename(lib)
        _log(f"{len(jars)} jars in {lib} ({time.monotonic() - started:.1f}s)")
    return lib


# --------------------------------------------------------------------------- java


@cache
def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` from PATH; checked to be Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise KafkaHarnessError("Java 17+ is needed to run Kafka but no 'java' was found")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise KafkaHarnessError(f"Kafka 4.x needs Java 17+, but {java} says: {out.strip()}")
    return java


def _conf_file(name: str, content: str) -> Path:
    """Write a shared config file into the cache (atomically, only when it changed)."""
    path = cache_dir() / "conf" / name
    try:
        if path.read_text() == content:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{os.getpid()}")
    tmp.write_text(content)
    tmp.replace(path)
    return path


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with SIGKILL if this process dies.

    The kernel sends the signal when the *thread* that forked the child exits, so it is only
    armed for children started from the main thread (pytest fixtures, the CLI). Children
    started from other threads rely on ``stop()``/atexit instead.
    """
    prctl = _PRCTL
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the prctl call
            os._exit(1)

    return setup


def _popen(
    cmd: Sequence[str], *, stdout: int | None = None, stderr: int | None = None, stdin: int | None = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    # Each JVM leads its own session/process group so that signals sent to the test runner's
    # group (Ctrl-C) do not race the harness's own orderly shutdown.
    return subprocess.Popen(
        list(cmd),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
        preexec_fn=_child_setup(os.getpid()),
    )


def _tool_command(main_class: str, args: Sequence[str], version: str, jvm_args: Sequence[str] = ()) -> list[str]:
    lib = ensure_jars(version)
    conf = _conf_file("log4j2-tools.xml", TOOLS_LOG4J2)
    return [
        java_executable(),
        *TOOL_JVM_OPTS,
        *jvm_args,
        f"-Dlog4j2.configurationFile={conf}",
        "-cp",
        str(lib / "*"),
        _main_class(TOOL_ALIASES.get(main_class, main_class), lib),
        *args,
    ]


@cache
def _jar_classes(lib: Path) -> frozenset[str]:
    """Class names in the broker and tools jars of ``lib`` (the only ones holding CLI mains)."""
    names: set[str] = set()
    for jar in (*lib.glob("org.apache.kafka.kafka_2.13-*.jar"), *lib.glob("org.apache.kafka.kafka-tools-*.jar")):
        with zipfile.ZipFile(jar) as zf:
            names.update(n[:-6].replace("/", ".") for n in zf.namelist() if n.endswith(".class"))
    return frozenset(names)


def _main_class(candidates: str, lib: Path) -> str:
    """The first of ``a|b|...`` that the jars contain (the first one if none)."""
    options = candidates.split("|")
    if len(options) == 1:
        return options[0]
    present = _jar_classes(lib)
    return next((name for name in options if name in present), options[0])


def run_tool(
    main_class: str,
    *args: str,
    timeout: float = 120.0,
    version: str | None = None,
    check: bool = True,
    input: str | None = None,
    jvm_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run a Kafka command-line tool (``main_class`` or an alias such as ``"topics"``).

    The JVM gets the tools log config (WARN and above to stderr), so ``stdout`` holds only the
    tool's output. With ``check`` a non-zero exit raises ``KafkaHarnessError`` showing stderr.
    """
    version = version or KAFKA_VERSION
    cmd = _tool_command(main_class, args, version, jvm_args)
    with _popen(
        cmd,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            out, err = proc.communicate()
            raise KafkaHarnessError(
                f"{main_class} did not finish within {timeout}s: {shlex.join(args)}\nstderr:\n{err[-4000:]}"
            ) from exc
        except BaseException:
            proc.kill()
            raise
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and result.returncode != 0:
        raise KafkaHarnessError(
            f"{main_class} {shlex.join(args)} exited with {result.returncode}\n"
            f"stderr:\n{err[-4000:]}\nstdout:\n{out[-2000:]}"
        )
    return result


# --------------------------------------------------------------------------- ports and pids


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that are free right now.

    Ports are picked *below* the kernel's ephemeral range when there is room there (checked by
    binding each one): a port in the ephemeral range can be taken as the source port of an
    outgoing connection while a node is down, and then the node cannot bind it again when it
    is restarted (or a client reconnecting to the dead port connects to itself). Falls back to
    binding port 0 when the range below is too small.
    """
    low_eph, _ = _ephemeral_range()
    held: list[socket.socket] = []
    ports: list[int] = []
    rng = random.Random()
    try:
        attempts = 0
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if low_eph > 12000 and attempts < 200:
                attempts += 1
                port = rng.randrange(10000, low_eph)
                try:
                    sock.bind((HOST, port))
                except OSError:
                    sock.close()
                    continue
            else:
                sock.bind((HOST, 0))
            held.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in held:
            sock.close()
    return ports


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _proc_state(pid: int) -> str | None:
    """The one-letter state of a process from /proc (``T`` = stopped), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _record_pid(pid: int, note: str) -> None:
    piddir = os.environ.get("JOSEF_KAFKA_PIDDIR")
    if piddir:
        with contextlib.suppress(OSError):
            Path(piddir, str(pid)).write_text(note + "\n")


def _forget_pid(pid: int) -> None:
    piddir = os.environ.get("JOSEF_KAFKA_PIDDIR")
    if piddir:
        with contextlib.suppress(OSError):
            Path(piddir, str(pid)).unlink()


def _random_cluster_id() -> str:
    # Same shape as Kafka's Uuid.toString(): 22 chars of unpadded base64url of 16 random bytes.
    # Never starting with '-' (the storage tool's argument parser would take it for a flag).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _default_tmp_root() -> str | None:
    env = os.environ.get("JOSEF_KAFKA_TMPDIR")
    if env:
        return env
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
        if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > 2 << 30:
            return str(shm)
    except OSError:
        pass
    return None


def _remove_stale_workdirs(root: str | None) -> None:
    """Remove cluster folders left behind by harness processes that died without cleaning up
    (e.g. killed with SIGKILL; their JVMs died with them). Matters on tmpfs, which is RAM."""
    base = Path(root or tempfile.gettempdir())
    for folder in base.glob("josef-kafka-*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid():
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


def _admin_result(future: Future[None], what: str, timeout: float) -> None:
    try:
        future.result(timeout=timeout)
    except Exception as exc:
        raise KafkaHarnessError(f"{what} failed: {exc}") from exc


def _wait(check: Callable[[], bool], timeout: float, describe: Callable[[], str], interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise KafkaHarnessError(f"timed out after {timeout}s: {describe()}")
        time.sleep(interval)


# --------------------------------------------------------------------------- clients


class KafkaEndpoint:
    """Operations on a reachable Kafka cluster: topics, tools, consuming.

    Base of ``KafkaCluster`` (a cluster this module runs) and ``ExternalKafka`` (one that runs
    elsewhere, e.g. ``JOSEF_BOOTSTRAP``).
    """

    version: str = KAFKA_VERSION

    def __init__(self) -> None:
        self._admin: AdminClient | None = None

    @property
    def bootstrap_servers(self) -> str:
        raise NotImplementedError

    def admin(self) -> AdminClient:
        """A cached confluent-kafka AdminClient for this cluster."""
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        return self._admin

    def _drop_admin(self) -> None:
        self._admin = None

    def run_tool(
        self,
        main_class: str,
        *args: str,
        timeout: float = 120.0,
        check: bool = True,
        input: str | None = None,
        jvm_args: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """``run_tool`` with this cluster's Kafka version (add ``--bootstrap-server`` yourself)."""
        return run_tool(
            main_class, *args, timeout=timeout, version=self.version, check=check, input=input, jvm_args=jvm_args
        )

    def topic_partitions(self, topic: str, timeout: float = 10.0) -> dict[int, PartitionMetadata]:
        """Partition metadata of ``topic`` (empty if it does not exist or has an error)."""
        md = self.admin().list_topics(topic=topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return {}
        return dict(t.partitions)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        config: Mapping[str, str | int] | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        """Create a topic and wait until metadata shows every partition with a leader
        (and, on several nodes, every replica in sync)."""
        from confluent_kafka.cimpl import NewTopic

        new = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=-1 if replication_factor is None else replication_factor,
            config={k: str(v) for k, v in (config or {}).items()},
        )
        futures = self.admin().create_topics([new], operation_timeout=timeout, request_timeout=timeout)
        _admin_result(futures[name], f"creating topic {name!r}", timeout)
        self.wait_for_isr(name, partitions=partitions, timeout=timeout)

    def delete_topic(self, name: str, *, timeout: float = 30.0) -> None:
        """Delete a topic and wait until it is gone from metadata."""
        futures = self.admin().delete_topics([name], operation_timeout=timeout, request_timeout=timeout)
        _admin_result(futures[name], f"deleting topic {name!r}", timeout)

        def gone() -> bool:
            md = self.admin().list_topics(timeout=min(5.0, timeout))
            return name not in md.topics

        _wait(gone, timeout, lambda: f"topic {name!r} still listed")

    def wait_for_isr(
        self, topic: str, size: int | None = None, *, partitions: int | None = None, timeout: float = 60.0
    ) -> None:
        """Wait until every partition of ``topic`` has a leader and ``size`` in-sync replicas
        (default: all of its replicas), and, if given, the topic has ``partitions`` partitions."""

        def ok() -> bool:
            try:
                parts = self.topic_partitions(topic, timeout=5.0)
            except Exception:
                return False
            if partitions is not None and len(parts) != partitions:
                return False
            return bool(parts) and all(
                p.leader >= 0 and len(p.isrs) == (len(p.replicas) if size is None else size) for p in parts.values()
            )

        def describe() -> str:
            try:
                parts = self.topic_partitions(topic, timeout=5.0)
            except Exception as exc:
                return f"metadata for {topic!r} failed: {exc}"
            return f"{topic!r} wanted ISR size {size or 'all'}: " + ", ".join(
                f"p{p.id} leader={p.leader} replicas={p.replicas} isr={p.isrs}" for p in parts.values()
            )

        _wait(ok, timeout, describe, interval=0.25)

    def console_consume(
        self,
        topic: str,
        max_messages: int,
        timeout_ms: int = 10_000,
        properties: Mapping[str, str | bool] | None = None,
        *,
        consumer_properties: Mapping[str, str] | None = None,
        from_beginning: bool = True,
        isolation_level: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> list[str]:
        """Read ``topic`` with Kafka's Java ConsoleConsumer; return its output lines.

        ``properties`` go to the message formatter, e.g. ``{"print.key": True,
        "print.partition": True, "print.offset": True, "print.headers": True,
        "print.timestamp": True}`` (fields are tab-separated, value last). ``timeout_ms`` is
        the idle timeout after which the consumer gives up waiting for ``max_messages``.
        """
        new_flags = _version_tuple(self.version) >= (4, 2)  # KIP-1147 renamed the options in 4.2
        prop_flag = "--formatter-property" if new_flags else "--property"
        cprop_flag = "--command-property" if new_flags else "--consumer-property"
        args = [
            "--bootstrap-server",
            self.bootstrap_servers,
            "--topic",
            topic,
            "--max-messages",
            str(max_messages),
            "--timeout-ms",
            str(timeout_ms),
        ]
        if from_beginning:
            args.append("--from-beginning")
        if isolation_level:
            args += ["--isolation-level", isolation_level]
        for key, value in (properties or {}).items():
            args += [prop_flag, f"{key}={_prop(value)}"]
        for key, value in (consumer_properties or {}).items():
            args += [cprop_flag, f"{key}={value}"]
        args += list(extra_args)
        result = self.run_tool(CONSOLE_CONSUMER, *args, timeout=timeout_ms / 1000 + 60, check=True)
        return result.stdout.splitlines()

    def consume_all(
        self,
        topic: str,
        expected_count: int | None = None,
        timeout: float = 60.0,
        isolation_level: str = "read_uncommitted",
        config: Mapping[str, str | int | bool] | None = None,
    ) -> list[Message]:
        """``consume_all`` on this cluster."""
        return consume_all(self.bootstrap_servers, topic, expected_count, timeout, isolation_level, config=config)


def consume_all(
    bootstrap: str,
    topic: str,
    expected_count: int | None = None,
    timeout: float = 60.0,
    isolation_level: str = "read_uncommitted",
    *,
    config: Mapping[str, str | int | bool] | None = None,
) -> list[Message]:
    """Read every record of ``topic`` from the beginning with confluent-kafka's Consumer.

    All partitions are assigned explicitly (no consumer group coordination, so it is quick).
    Reading stops when every partition has reached its end (the high watermark, or the last
    stable offset with ``read_committed``) and, if ``expected_count`` is given, at least that
    many records were read; records still arriving are waited for until ``timeout``, then
    ``TimeoutError`` says what was found.  More records than expected are returned as they are
    (so a test can spot duplicates).  The result is sorted by (partition, offset).
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"josef-harness-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": isolation_level,
            "fetch.wait.max.ms": 50,
            **(config or {}),
        }
    )
    try:
        partitions: list[int] = []
        while not partitions:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"consume_all: topic {topic!r} not found on {bootstrap} within {timeout}s")
            md = consumer.list_topics(topic=topic, timeout=min(remaining, 5.0))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                partitions = sorted(t.partitions)
            else:
                time.sleep(0.1)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[Message] = []
        at_end: set[int] = set()
        all_parts = set(partitions)
        while not (at_end == all_parts and (expected_count is None or len(messages) >= expected_count)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                counts = {p: 0 for p in partitions}
                for m in messages:
                    counts[m.partition() or 0] += 1
                raise TimeoutError(
                    f"consume_all({topic!r}): read {len(messages)} records"
                    + (f", expected {expected_count}" if expected_count is not None else "")
                    + f", within {timeout}s; per partition {counts}; "
                    f"partitions at end: {sorted(at_end)} of {partitions}"
                )
            # consume() waits for the whole timeout unless it fills the batch: keep it short
            for msg in consumer.consume(num_messages=1000, timeout=min(remaining, 0.05)):
                err = msg.error()
                part = msg.partition() or 0
                if err is None:
                    messages.append(msg)
                    at_end.discard(part)
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(part)
                else:
                    raise KafkaException(err)
        messages.sort(key=lambda m: (m.partition() or 0, m.offset() or 0))
        return messages
    finally:
        consumer.close()


class ExternalKafka(KafkaEndpoint):
    """A cluster that runs elsewhere, known only by its bootstrap servers."""

    def __init__(self, bootstrap_servers: str, version: str | None = None) -> None:
        super().__init__()
        self._bootstrap = bootstrap_servers
        self.version = version or KAFKA_VERSION

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap

    def __repr__(self) -> str:
        return f"ExternalKafka({self._bootstrap!r})"


class TopicFactory:
    """Creates topics named ``<prefix>-<random>`` (the fixtures use the test's name as prefix)."""

    def __init__(self, cluster: KafkaEndpoint, prefix: str = "topic") -> None:
        self.cluster = cluster
        self.prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", prefix)[:120].strip("-.") or "topic"
        self.created: list[str] = []

    def __call__(
        self,
        partitions: int = 1,
        *,
        config: Mapping[str, str | int] | None = None,
        replication_factor: int | None = None,
        name: str | None = None,
    ) -> str:
        topic = name or f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        self.cluster.create_topic(topic, partitions, replication_factor, config)
        self.created.append(topic)
        return topic


# --------------------------------------------------------------------------- cluster


@dataclass
class _Node:
    node_id: int
    client_port: int
    controller_port: int
    dir: Path
    proc: subprocess.Popen[str] | None = None
    log_offset: int = 0  # where this launch's output starts in the log file

    @property
    def log(self) -> Path:
        return self.dir / "server.log"

    @property
    def properties(self) -> Path:
        return self.dir / "server.properties"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


_LIVE: set[KafkaCluster] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        clusters = list(_LIVE)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.stop(timeout=10.0)


atexit.register(_stop_all_at_exit)


class KafkaCluster(KafkaEndpoint):
    """N combined broker+controller nodes with a static controller quorum on 127.0.0.1.

    Node ids are 1..N. ``min_insync_replicas`` defaults to 1 for one or two nodes and 2 for
    three or more; internal topics use replication factor min(N, 3). ``broker_config`` entries
    are added to (and override) every node's ``server.properties``. ``transaction_version``
    formats the storage with ``--feature transaction.version=N`` (0 = the pre-KIP-890
    transaction protocol). ``workdir`` (kept after stop) defaults to a fresh temporary folder
    (removed on stop unless ``JOSEF_KAFKA_KEEP=1``).
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        min_insync_replicas: int | None = None,
        broker_config: Mapping[str, str | int | bool] | None = None,
        transaction_version: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        version: str | None = None,
        format_args: Sequence[str] = (),
        heap_opts: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.nodes = nodes
        self.version = version or KAFKA_VERSION
        self.replication_factor = min(nodes, 3)
        self.min_insync_replicas = min_insync_replicas if min_insync_replicas is not None else (2 if nodes >= 3 else 1)
        self.broker_config = {k: _prop(v) for k, v in (broker_config or {}).items()}
        self.transaction_version = transaction_version
        self.format_args = list(format_args)
        env_heap = os.environ.get("JOSEF_KAFKA_HEAP_OPTS")
        self.heap_opts = (
            list(heap_opts)
            if heap_opts is not None
            else (shlex.split(env_heap) if env_heap else list(DEFAULT_HEAP_OPTS))
        )
        self._given_workdir = Path(workdir) if workdir is not None else None
        self.workdir: Path | None = None
        self.cluster_id: str | None = None
        self.startup_seconds: float | None = None
        self._nodes: dict[int, _Node] = {}
        self._started = False

    # ----------------------------------------------------------------- info

    def __repr__(self) -> str:
        state = self.bootstrap_servers if self._started else "not started"
        return f"KafkaCluster(nodes={self.nodes}, version={self.version!r}, {state})"

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:p1,127.0.0.1:p2,..."`` (all nodes, whether running or not)."""
        if not self._nodes:
            raise KafkaHarnessError("the cluster has not been started")
        return ",".join(f"{HOST}:{n.client_port}" for n in self._nodes.values())

    @property
    def node_ids(self) -> list[int]:
        return list(self._nodes)

    @property
    def pids(self) -> dict[int, int]:
        """Node id -> JVM pid, for the nodes whose JVM is running (or paused)."""
        return {i: n.proc.pid for i, n in self._nodes.items() if n.proc is not None and n.alive()}

    def node_bootstrap(self, node_id: int) -> str:
        """``"127.0.0.1:port"`` of one node's client listener."""
        return f"{HOST}:{self._node(node_id).client_port}"

    def client_port(self, node_id: int) -> int:
        return self._node(node_id).client_port

    def log_path(self, node_id: int) -> Path:
        """The node's broker log (stdout+stderr of its JVM, appended across restarts)."""
        return self._node(node_id).log

    def log_tail(self, node_id: int, lines: int = 40) -> str:
        return _tail(self.log_path(node_id), lines)

    def is_running(self, node_id: int) -> bool:
        return self._node(node_id).alive()

    def _node(self, node_id: int) -> _Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KafkaHarnessError(f"no node {node_id} (nodes: {list(self._nodes)})") from None

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> KafkaCluster:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> KafkaCluster:
        """Format storage and start every node; return once all are ready.

        Ready = the node's client port accepts TCP connections and its log says
        ``Kafka Server started``. Fails fast (with the log tail) if a node exits or logs a
        fatal error.
        """
        if self._started:
            raise KafkaHarnessError("cluster already started")
        lib = ensure_jars(self.version)
        java_executable()
        began = time.monotonic()
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            for attempt in range(1, 4):
                self._prepare(lib)
                for node in self._nodes.values():
                    self._launch(node, lib)
                try:
                    self._wait_ready(list(self._nodes.values()), timeout - (time.monotonic() - began))
                    break
                except KafkaHarnessError:
                    port_clash = any(PORT_IN_USE in self._log_bytes(n) for n in self._nodes.values())
                    self._terminate(list(self._nodes.values()), timeout=5.0)
                    if not port_clash or attempt == 3:
                        raise
                    _log(f"port clash while starting (attempt {attempt}); retrying with new ports")
            self._started = True
        except BaseException:
            self._terminate(list(self._nodes.values()), timeout=5.0)
            self._cleanup_dir()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            raise
        self.startup_seconds = time.monotonic() - began
        _log(
            f"Kafka {self.version}: {self.nodes} node(s) ready at {self.bootstrap_servers} "
            f"in {self.startup_seconds:.1f}s (workdir {self.workdir})"
        )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every node at once, SIGKILL what is left after ``timeout``; remove the folder.

        The data is thrown away, so the SIGKILL fallback costs nothing; it caps teardown time on
        a busy machine (a 3-node cluster's last controller waits ~5 s for voters that are gone).
        """
        self._drop_admin()
        try:
            self._terminate(list(self._nodes.values()), timeout=timeout)
        finally:
            self._started = False
            self._cleanup_dir()
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def kill(self, node_id: int, sig: int = signal.SIGKILL, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Send ``sig`` to one node's JVM. For SIGKILL/SIGTERM/SIGINT with ``wait``, also wait
        until it has exited (SIGKILL follows SIGTERM/SIGINT after ``timeout``)."""
        node = self._node(node_id)
        if not node.alive() or node.proc is None:
            raise KafkaHarnessError(f"node {node_id} is not running")
        os.kill(node.proc.pid, sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.proc.pid, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
        if wait and sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            self._terminate([node], timeout=timeout, already_signalled=True)

    def stop_node(self, node_id: int, timeout: float = 60.0) -> None:
        """Gracefully stop one node (SIGTERM, SIGKILL after ``timeout``). Its data is kept."""
        self._terminate([self._node(node_id)], timeout=timeout)

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Restart a stopped or killed node with the same config, data and ports; wait until
        it answers again."""
        node = self._node(node_id)
        if node.alive():
            raise KafkaHarnessError(f"node {node_id} is still running")
        self._reap(node)
        self._launch(node, ensure_jars(self.version))
        try:
            self._wait_ready([node], timeout)
        except BaseException:
            self._terminate([node], timeout=5.0)
            raise

    def pause(self, node_id: int, timeout: float = 10.0) -> None:
        """Freeze one node's JVM (SIGSTOP): it keeps its sockets but answers nothing.
        Returns once the kernel reports the process as stopped."""
        pid = self._live_pid(node_id)
        os.kill(pid, signal.SIGSTOP)
        _wait(lambda: _proc_state(pid) in ("T", None), timeout, lambda: f"node {node_id} did not stop")

    def resume(self, node_id: int, timeout: float = 10.0) -> None:
        """Let a paused node run again (SIGCONT)."""
        pid = self._live_pid(node_id)
        os.kill(pid, signal.SIGCONT)
        _wait(lambda: _proc_state(pid) != "T", timeout, lambda: f"node {node_id} did not resume")

    def is_paused(self, node_id: int) -> bool:
        node = self._node(node_id)
        return node.proc is not None and node.alive() and _proc_state(node.proc.pid) == "T"

    def _live_pid(self, node_id: int) -> int:
        node = self._node(node_id)
        if node.proc is None or not node.alive():
            raise KafkaHarnessError(f"node {node_id} is not running")
        return node.proc.pid

    # ----------------------------------------------------------------- internals

    def _prepare(self, lib: Path) -> None:
        """Fresh folder, ports, properties and formatted storage for every node."""
        self._cleanup_dir()
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            root = _default_tmp_root()
            _remove_stale_workdirs(root)
            self.workdir = Path(tempfile.mkdtemp(prefix="josef-kafka-", dir=root))
            (self.workdir / "owner.pid").write_text(f"{os.getpid()}\n")
        ports = free_ports(2 * self.nodes)
        self._nodes = {
            i: _Node(i, ports[2 * (i - 1)], ports[2 * (i - 1) + 1], self.workdir / f"node{i}")
            for i in range(1, self.nodes + 1)
        }
        voters = ",".join(f"{i}@{HOST}:{n.controller_port}" for i, n in self._nodes.items())
        self.cluster_id = _random_cluster_id()
        for node in self._nodes.values():
            shutil.rmtree(node.dir, ignore_errors=True)
            (node.dir / "data").mkdir(parents=True)
            props = self._properties(node, voters)
            node.properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self._format(lib)

    def _properties(self, node: _Node, voters: str) -> dict[str, str]:
        rf = self.replication_factor
        internal_min_isr = min(self.min_insync_replicas, rf)
        listeners = f"PLAINTEXT://{HOST}:{node.client_port},CONTROLLER://{HOST}:{node.controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            # static quorum: the same voters line on every node, no quorum flag when formatting
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            # Kafka before 3.9 refuses a controller listener among a combined node's advertised ones
            "advertised.listeners": listeners if _version_tuple(self.version) >= (3, 9) else listeners.split(",")[0],
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.dir / "data"),
            # replication: the internal topics must fit the cluster or groups/transactions hang
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(self.min_insync_replicas),
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(internal_min_isr),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(internal_min_isr),
            # fast and light
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.num.partitions": "3",
            "num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(16 << 20),
        }
        props.update(self.broker_config)
        return props

    def _format(self, lib: Path) -> None:
        assert self.cluster_id is not None
        extra = list(self.format_args)
        if self.transaction_version is not None:
            extra += ["--feature", f"transaction.version={self.transaction_version}"]
        procs: list[tuple[_Node, subprocess.Popen[str]]] = []
        for node in self._nodes.values():
            cmd = _tool_command(
                STORAGE_TOOL,
                ["format", "--cluster-id", self.cluster_id, "--config", str(node.properties), *extra],
                self.version,
            )
            with open(node.dir / "format.log", "w") as out:
                procs.append((node, _popen(cmd, stdout=out.fileno(), stderr=subprocess.STDOUT)))
        failures = []
        for node, proc in procs:
            try:
                rc = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                failures.append(f"node {node.node_id} (exit {rc}):\n{_tail(node.dir / 'format.log')}")
        if failures:
            raise KafkaHarnessError("formatting storage failed for " + "\n".join(failures))

    def _launch(self, node: _Node, lib: Path) -> None:
        conf = _conf_file("log4j2-server.xml", SERVER_LOG4J2)
        cmd = [
            java_executable(),
            *self.heap_opts,
            *SERVER_JVM_OPTS,
            *shlex.split(os.environ.get("JOSEF_KAFKA_JVM_OPTS", "")),
            f"-Dlog4j2.configurationFile={conf}",
            "-cp",
            str(lib / "*"),
            "kafka.Kafka",
            str(node.properties),
        ]
        with open(node.log, "a") as log:
            node.log_offset = log.tell()
            log.write(f"===== josef harness: launching node {node.node_id}: {shlex.join(cmd)}\n")
            log.flush()
            node.proc = _popen(cmd, stdout=log.fileno(), stderr=subprocess.STDOUT)
        _record_pid(node.proc.pid, f"kafka node {node.node_id} {self.workdir}")

    def _log_bytes(self, node: _Node) -> bytes:
        try:
            with open(node.log, "rb") as f:
                f.seek(node.log_offset)
                return f.read()
        except OSError:
            return b""

    def _wait_ready(self, nodes: list[_Node], timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 1.0)
        pending = list(nodes)
        while pending:
            for node in list(pending):
                assert node.proc is not None
                out = self._log_bytes(node)
                rc = node.proc.poll()
                if rc is not None or FATAL_LINE in out:
                    why = f"exited with {rc}" if rc is not None else "logged a fatal error"
                    raise KafkaHarnessError(
                        f"Kafka node {node.node_id} {why} during startup; log {node.log}:\n{_tail(node.log)}"
                    )
                if READY_LINE in out and _port_open(node.client_port):
                    pending.remove(node)
            if not pending:
                return
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- node {n.node_id} ({n.log}):\n{_tail(n.log, 25)}" for n in pending)
                raise KafkaHarnessError(
                    f"Kafka node(s) {[n.node_id for n in pending]} not ready within {timeout:.0f}s\n{tails}"
                )
            time.sleep(0.1)

    def _terminate(self, nodes: list[_Node], timeout: float, already_signalled: bool = False) -> None:
        """SIGTERM (unless already signalled) all ``nodes`` at once, SIGKILL after ``timeout``."""
        live = [n for n in nodes if n.alive()]
        if not already_signalled:
            for node in live:
                assert node.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.proc.pid, signal.SIGTERM)
                    os.kill(node.proc.pid, signal.SIGCONT)  # in case it was paused
        deadline = time.monotonic() + timeout
        for node in live:
            assert node.proc is not None
            try:
                node.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log(f"node {node.node_id} (pid {node.proc.pid}) did not stop within {timeout}s: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
        for node in nodes:
            self._reap(node)

    def _reap(self, node: _Node) -> None:
        if node.proc is not None and node.proc.poll() is not None:
            _forget_pid(node.proc.pid)

    def _cleanup_dir(self) -> None:
        """Remove the temporary cluster folder (a folder passed as ``workdir`` is kept)."""
        if self.workdir is None:
            return
        if self._given_workdir is not None:
            pass
        elif os.environ.get("JOSEF_KAFKA_KEEP", "") not in ("", "0"):
            _log(f"kept cluster folder {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None


def _prop(value: str | int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------- CLI


def _parse_config(items: Sequence[str]) -> dict[str, str]:
    config = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected key=value, got {item!r}")
        config[key.strip()] = value.strip()
    return config


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


CLI_DESCRIPTION = "Run throw-away Apache Kafka clusters for josef's tests and benchmarks."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.kafka", description=CLI_DESCRIPTION)
    parser.add_argument(
        "--version",
        dest="kafka_version",
        default=None,
        help=f"Kafka version (default {KAFKA_VERSION}; env JOSEF_KAFKA_VERSION)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the Kafka jars into the cache (Maven)")
    start = sub.add_parser("start", help="run a cluster in the foreground until Ctrl-C")
    start.add_argument("nodes", nargs="?", type=int, default=1)
    start.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra broker property for every node (repeatable)",
    )
    start.add_argument("--min-insync-replicas", type=int, default=None)
    start.add_argument("--transaction-version", type=int, default=None)
    start.add_argument("--heap", default=None, help="broker heap, e.g. 1g (sets -Xms and -Xmx)")
    start.add_argument("--workdir", default=None, help="cluster folder (kept afterwards)")
    start.add_argument(
        "--bootstrap-file", default=None, help="write the bootstrap servers to this file once ready (removed on exit)"
    )
    start.add_argument("--timeout", type=float, default=120.0)
    tool = sub.add_parser("tool", help="run a Kafka tool: a main class or one of " + ", ".join(TOOL_ALIASES))
    tool.add_argument("main_class")
    tool.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    version = args.kafka_version or KAFKA_VERSION

    if args.command == "fetch":
        print(ensure_jars(version))
        return 0
    if args.command == "tool":
        cmd = _tool_command(args.main_class, args.args, version)
        return subprocess.call(cmd)

    heap = [f"-Xms{args.heap}", f"-Xmx{args.heap}"] if args.heap else None
    cluster = KafkaCluster(
        args.nodes,
        min_insync_replicas=args.min_insync_replicas,
        broker_config=_parse_config(args.config),
        transaction_version=args.transaction_version,
        workdir=args.workdir,
        version=version,
        heap_opts=heap,
    )
    bootstrap_file = Path(args.bootstrap_file) if args.bootstrap_file else None
    # Stop cleanly on Ctrl-C, SIGTERM and SIGHUP. SIGINT is set explicitly: a background job of a
    # non-interactive shell inherits it ignored, and then Python would never raise KeyboardInterrupt.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        cluster.start(timeout=args.timeout)
        print(cluster.bootstrap_servers, flush=True)
        if bootstrap_file is not None:
            bootstrap_file.write_text(cluster.bootstrap_servers + "\n")
        _log(f"pids {cluster.pids}; logs in {cluster.workdir}; Ctrl-C to stop")
        while True:
            time.sleep(1.0)
            dead = [i for i in cluster.node_ids if not cluster.is_running(i)]
            if dead:
                _log(f"node(s) {dead} exited; stopping")
                for i in dead:
                    print(cluster.log_tail(i), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        _log("stopping")
        return 0
    finally:
        cluster.stop()
        if bootstrap_file is not None:
            with contextlib.suppress(OSError):
                bootstrap_file.unlink()


if __name__ == "__main__":
    sys.exit(main())
