"""Shared pytest fixtures: real Kafka clusters started from the harness.

* ``kafka``: one node, started on first use, shared by the whole session. Set
  ``JOSEF_BOOTSTRAP=host:port,...`` to use a cluster that is already running instead (e.g. one
  from ``python -m tests.harness.kafka start``), which saves the start-up time while iterating.
* ``kafka3``: three nodes (replication factor 3, min.insync.replicas=2), started only if a test
  asks for it; tests that use it are marked ``cluster3`` automatically. Always a cluster of its
  own (tests kill and restart its nodes).
* ``kafka_no_autocreate``: one node with ``auto.create.topics.enable=false``, session-wide,
  started only if a test asks for it.
* ``kafka_factory(nodes=1, *, min_insync_replicas, broker_config, transaction_version)``:
  private clusters for one test (to stop, kill or reconfigure freely); all are stopped when
  the test ends.
* ``new_topic`` / ``new_topic3``: create a uniquely named topic on ``kafka`` / ``kafka3``.

Clusters are stopped at the end of the session, also when tests fail; should the test process
itself die, its JVMs die with it (see ``tests/harness/kafka.py``).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Mapping

import pytest

from tests.harness.kafka import ExternalKafka, KafkaCluster, KafkaEndpoint, TopicFactory


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaEndpoint]:
    """A single-node Kafka cluster for the session (or ``JOSEF_BOOTSTRAP``'s)."""
    external = os.environ.get("JOSEF_BOOTSTRAP")
    if external:
        yield ExternalKafka(external)
        return
    with KafkaCluster(1) as cluster:  # stopped on the way out, also after failures
        yield cluster


@pytest.fixture(scope="session")
def kafka3() -> Iterator[KafkaCluster]:
    """A three-node Kafka cluster for the session: RF 3, min.insync.replicas=2."""
    with KafkaCluster(3, min_insync_replicas=2) as cluster:  # stopped on the way out, also after failures
        yield cluster


@pytest.fixture(scope="session")
def kafka_no_autocreate() -> Iterator[KafkaCluster]:
    """A single-node cluster that does not create topics on first use."""
    with KafkaCluster(
        1, broker_config={"auto.create.topics.enable": False}
    ) as cluster:  # stopped on the way out, also after failures
        yield cluster


class ClusterFactory:
    """Starts private clusters for one test and remembers them for teardown."""

    def __init__(self) -> None:
        self.clusters: list[KafkaCluster] = []

    def __call__(
        self,
        nodes: int = 1,
        *,
        min_insync_replicas: int | None = None,
        broker_config: Mapping[str, str | int | bool] | None = None,
        transaction_version: int | None = None,
    ) -> KafkaCluster:
        cluster = KafkaCluster(
            nodes,
            min_insync_replicas=min_insync_replicas,
            broker_config=broker_config,
            transaction_version=transaction_version,
        )
        self.clusters.append(cluster)
        return cluster.start()

    def stop_all(self) -> None:
        for cluster in self.clusters:
            cluster.stop()


@pytest.fixture
def kafka_factory() -> Iterator[ClusterFactory]:
    """Start private clusters for one test: ``kafka_factory(nodes=1, broker_config=...)``;
    they are stopped when the test ends."""
    factory = ClusterFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def new_topic(kafka: KafkaEndpoint, request: pytest.FixtureRequest) -> TopicFactory:
    """``new_topic(partitions=1, config=None, replication_factor=None) -> name`` on ``kafka``."""
    return TopicFactory(kafka, request.node.name)


@pytest.fixture
def new_topic3(kafka3: KafkaCluster, request: pytest.FixtureRequest) -> TopicFactory:
    """Like ``new_topic``, on the three-node ``kafka3`` cluster (RF 3 by default)."""
    return TopicFactory(kafka3, request.node.name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that use ``kafka3`` as ``cluster3`` and run them last, so that the three
    extra JVMs are only alive (and only compete for the 2 cores) at the end of the session."""
    uses_cluster3 = {id(item) for item in items if "kafka3" in getattr(item, "fixturenames", ())}
    for item in items:
        if id(item) in uses_cluster3:
            item.add_marker(pytest.mark.cluster3)
    items.sort(key=lambda item: id(item) in uses_cluster3)  # stable: keeps the order otherwise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed test that used a managed cluster, attach the tail of each broker's log."""
    report: pytest.TestReport = yield
    if report.failed and call.when == "call":
        funcargs = getattr(item, "funcargs", {})
        clusters: list[tuple[str, object]] = [
            (name, funcargs.get(name)) for name in ("kafka", "kafka3", "kafka_no_autocreate")
        ]
        factory = funcargs.get("kafka_factory")
        if isinstance(factory, ClusterFactory):
            clusters += [(f"kafka_factory[{i}]", c) for i, c in enumerate(factory.clusters)]
        for name, cluster in clusters:
            if isinstance(cluster, KafkaCluster) and cluster.workdir is not None:
                for node_id in cluster.node_ids:
                    report.sections.append((f"{name} node {node_id} log (last lines)", cluster.log_tail(node_id, 30)))
    return report
