"""Test helpers: :class:`MockCluster`, an embedded mock Kafka cluster with fault injection.

A test double, not a broker: it keeps everything in memory and simulates replication, so tests (josef's
and yours) can produce against "a cluster" with nothing installed and script the faults that are hard to
provoke on a real one::

    from josef import Producer
    from josef.testing import ApiKey, MockCluster

    with MockCluster(brokers=3, topics={"orders": 6}) as cluster:
        cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER")
        with Producer(bootstrap_servers=cluster.bootstrap_servers) as producer:
            producer.send_sync("orders", b"hello", partition=0)
        assert [r.value for r in cluster.records("orders", 0)] == [b"hello"]

With pytest, the ``mock_cluster`` fixture (from the ``josef`` pytest plugin) gives a fresh cluster per
test.  See ``docs/mock-cluster.md``.
"""

from josef._core.protocol import ApiKey
from josef.testing.cluster import MockCluster, PartitionInfo, RequestRecord
from josef.testing.faults import Fault, error_code
from josef.testing.handlers import Request

__all__ = ["ApiKey", "Fault", "MockCluster", "PartitionInfo", "Request", "RequestRecord", "error_code"]
