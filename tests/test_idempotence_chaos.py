"""Idempotence under broker failures on a real 3-node cluster (#4).

Leaders are killed (-9) and restarted, or frozen (SIGSTOP) for 20 s, while keyed records
stream in. confluent-kafka's consumer then reads everything back: with idempotence every
acknowledged record is there exactly once and in send order per partition; without it the
same faults produce duplicates, which the test reports (that is what idempotence buys).
"""

from __future__ import annotations

import functools
import itertools
import json
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from josef import Producer
from josef.errors import DeliveryTimeoutError
from tests.harness.kafka import KafkaCluster
from tests.harness.proxy import ProxiedKafkaCluster, run_chaos

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PARTITIONS = 12
RECORDS = 300_000
DELIVERY_TIMEOUT_MS = 60_000
DELIVERY_MARGIN = 1.0  # seconds past delivery.timeout.ms an outcome may come (a loaded 2-core machine)


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(3, min_insync_replicas=2)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _leaders(bootstrap: str, topic: str) -> dict[int, int]:
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=20)
    return {p.id: p.leader for p in meta.topics[topic].partitions.values()}


def _busiest_leader(bootstrap: str, topic: str, alive: set[int]) -> int:
    """The broker leading the most partitions of the topic (the busiest one). Right after a
    restart metadata may show no leader for a moment: ask again until it does."""
    deadline = time.monotonic() + 60
    while True:
        counts = Counter(leader for leader in _leaders(bootstrap, topic).values() if leader in alive)
        if counts:
            return counts.most_common(1)[0][0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no partition of {topic} has a leader")
        time.sleep(0.2)  # polling the cluster's metadata: there is no event to wait for


def _chaos(cluster: KafkaCluster, topic: str, events: list[str], kills: int, freeze: float) -> None:
    bootstrap = cluster.bootstrap_servers
    nodes = {1, 2, 3}
    for _ in range(kills):
        leader = _busiest_leader(bootstrap, topic, nodes)
        events.append(f"kill -9 node {leader}")
        cluster.kill(leader, signal.SIGKILL)
        time.sleep(2)  # the broker stays down a while: this is the fault, not a wait for an event
        cluster.start_node(leader)
        events.append(f"node {leader} back")
    if freeze:
        leader = _busiest_leader(bootstrap, topic, nodes)
        events.append(f"SIGSTOP node {leader} for {freeze:.0f} s")
        cluster.pause(leader)
        time.sleep(freeze)  # the fault's duration
        cluster.resume(leader)
        events.append(f"node {leader} resumed")


def _run(
    cluster: KafkaCluster,
    idempotent: bool,
    kills: int = 5,
    freeze: float = 20.0,
    network_chaos: float = 0.0,
) -> dict[str, Any]:
    topic = f"chaos-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, PARTITIONS, replication_factor=3)
    bootstrap = cluster.bootstrap_servers
    if network_chaos:
        assert isinstance(cluster, ProxiedKafkaCluster)
        bootstrap = cluster.proxied_bootstrap_servers
    config = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": idempotent,
        "request.timeout.ms": 10_000,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "linger.ms": 5,
        "max.block.ms": 120_000,
    }
    if not idempotent:
        config["max.in.flight.requests.per.connection"] = 5
    events: list[str] = []
    chaos_errors: list[BaseException] = []
    if network_chaos:
        assert isinstance(cluster, ProxiedKafkaCluster)

        def cut_at_random() -> None:
            cuts = run_chaos(cluster.proxies, network_chaos, seed=7)
            events.append(f"{cuts} connection cuts in {network_chaos:.0f} s")

        chaos = threading.Thread(target=cut_at_random, daemon=True)
    else:
        def inject_faults() -> None:
            try:
                _chaos(cluster, topic, events, kills, freeze)
            except BaseException as exc:  # reported by the test, not lost in the thread
                chaos_errors.append(exc)

        chaos = threading.Thread(target=inject_faults, daemon=True)
    futures = []
    sent_at: list[float] = []
    resolved_at: dict[int, float] = {}

    def resolved(index: int, metadata: Any, error: Any) -> None:
        resolved_at[index] = time.monotonic()

    with Producer(config) as producer:
        chaos.start()
        i = 0
        # Full speed for the first RECORDS records, then a steady trickle until the faults are
        # over, so that every fault meets traffic.
        while i < RECORDS or chaos.is_alive():
            burst = 5000 if i < RECORDS else 200
            for _ in range(burst):
                sent_at.append(time.monotonic())
                futures.append(producer.send(topic, str(i).encode(), f"key-{i % 5000}".encode(),
                                             callback=functools.partial(resolved, i)))
                i += 1
            if i >= RECORDS:
                time.sleep(0.1)
        chaos.join()
        assert chaos_errors == [], f"the faults were not all injected: {chaos_errors}"
        expected_events = 1 if network_chaos else 2 * kills + (2 if freeze else 0)
        assert len(events) == expected_events, events
        assert producer.flush(300) == 0, "every record's future must resolve"
    sent = len(futures)
    succeeded: dict[int, int] = {}
    failures: list[BaseException] = []
    for index, future in enumerate(futures):
        error = future.exception(0)
        if error is None:
            succeeded[index] = future.result(0).partition
        else:
            failures.append(error)
    messages = cluster.consume_all(topic, len(succeeded), timeout=180)
    seen = Counter(int(m.value()) for m in messages)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    lost = [index for index in succeeded if index not in seen]
    order_violations = 0
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        by_partition[message.partition()].append(int(message.value()))
    for values in by_partition.values():
        order_violations += sum(1 for a, b in itertools.pairwise(values) if b <= a)
    # delivery.timeout.ms is a hard bound: how far past it did any record's outcome come?
    bound = DELIVERY_TIMEOUT_MS / 1000
    overruns = [resolved_at[i] - sent_at[i] - bound for i in range(sent)]
    return {
        "idempotent": idempotent,
        "outcome_unknown": sum(1 for e in failures if getattr(e, "outcome_unknown", False)),
        "resolved_late": sum(1 for o in overruns if o > DELIVERY_MARGIN),
        "max_time_to_outcome_s": round(max(overruns) + bound, 3),
        "sent": sent,
        "succeeded": len(succeeded),
        "failed": len(failures),
        "failure_types": sorted({type(e).__name__ for e in failures}),
        "read_back": len(messages),
        "duplicates": duplicates,
        "lost_acknowledged": len(lost),
        "order_violations": order_violations,
        "failed_but_present": sum(1 for i, f in enumerate(futures) if f.exception(0) and i in seen),
        "events": events,
        "failures": failures[:3],
    }


def _report(name: str, result: dict[str, Any]) -> None:
    shown = {k: v for k, v in result.items() if k != "failures"}
    print(f"\n{name}: {json.dumps(shown)}")


def test_leader_kills_idempotent(cluster: KafkaCluster) -> None:
    result = _run(cluster, idempotent=True)
    _report("leader kills, idempotent", result)
    assert result["succeeded"] + result["failed"] == result["sent"]
    assert result["resolved_late"] == 0, result["max_time_to_outcome_s"]
    assert result["duplicates"] == 0
    assert result["lost_acknowledged"] == 0
    assert result["order_violations"] == 0
    assert all(isinstance(e, DeliveryTimeoutError) for e in result["failures"]), result["failures"]
    assert result["failure_types"] in ([], ["DeliveryTimeoutError"])


def test_leader_kills_without_idempotence_for_comparison(cluster: KafkaCluster) -> None:
    """Same faults, enable.idempotence=false, acks=all, retries on: duplicates are reported,
    not asserted (they depend on where a kill lands); acknowledged records are still never lost."""
    result = _run(cluster, idempotent=False, kills=3, freeze=0)
    _report("leader kills, idempotence off", result)
    assert result["succeeded"] + result["failed"] == result["sent"]
    assert result["lost_acknowledged"] == 0


@pytest.fixture(scope="module")
def proxied() -> Iterator[ProxiedKafkaCluster]:
    cluster = ProxiedKafkaCluster(3, min_insync_replicas=2)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_flaky_network_idempotent(proxied: ProxiedKafkaCluster) -> None:
    """Every connection through a proxy is reset at random points, every 0.5-1.5 s for 60 s,
    including between a Produce request and its response."""
    result = _run(proxied, idempotent=True, network_chaos=60.0)
    _report("flaky network, idempotent", result)
    assert result["succeeded"] + result["failed"] == result["sent"]
    assert result["resolved_late"] == 0, result["max_time_to_outcome_s"]
    assert result["duplicates"] == 0
    assert result["lost_acknowledged"] == 0
    assert result["order_violations"] == 0
    assert result["failure_types"] in ([], ["DeliveryTimeoutError"])


def test_flaky_network_without_idempotence_for_comparison(proxied: ProxiedKafkaCluster) -> None:
    result = _run(proxied, idempotent=False, network_chaos=30.0)
    _report("flaky network, idempotence off", result)
    assert result["succeeded"] + result["failed"] == result["sent"]
    assert result["lost_acknowledged"] == 0
