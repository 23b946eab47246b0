"""Produce requests in flight per partition: what max.in.flight.requests.per.connection allows.

With idempotence the broker's sequence checks keep order across retries, so up to five batches
of a partition go at once. Without it, order across retries needs one at a time, and as in the
Java client that is what ``max.in.flight.requests.per.connection=1`` asks for; with more, the
batches of a partition are pipelined (a retried one may land after those behind it)."""

from __future__ import annotations

from typing import Any

import pytest

from josef import Producer
from josef.testing import MockCluster


@pytest.mark.parametrize(
    ("config", "most"),
    [
        ({"acks": 1, "max.in.flight.requests.per.connection": 5}, 5),
        ({"acks": 1, "max.in.flight.requests.per.connection": 1}, 1),
        ({"acks": "all", "enable.idempotence": True}, 5),
    ],
)
def test_batches_of_one_partition_in_flight_at_once(config: dict[str, Any], most: int) -> None:
    with MockCluster(brokers=1, topics={"t": 1}) as cluster:
        cluster.set_rtt(0.05)  # every answer takes a while: later batches find earlier ones in flight
        with Producer(bootstrap_servers=cluster.bootstrap_servers, batch_size=300, linger_ms=0, **config) as producer:
            producer.partitions_for("t")
            seen: list[int] = []
            sender = producer._sender
            sender.on_request = lambda node, batches: seen.append(len(sender.in_flight.get(batches[0].tp, [])))
            futures = [producer.send("t", bytes(100), partition=0) for _ in range(60)]
            assert producer.flush(30) == 0
        assert [f.result(0).offset for f in futures] == list(range(60))
        assert max(seen) == most, seen
