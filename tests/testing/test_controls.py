"""Test controls: holding requests until released, inspecting what was received, unsupported requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from josef import Producer
from josef._core.protocol import ApiKey
from josef.testing import MockCluster
from tests.testing.wire import Wire, batch, produce_body, produce_result, raw_frame


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}) as c:
        yield c
        assert c.internal_errors == []


def test_hold_parks_matching_requests_until_released(cluster: MockCluster) -> None:
    leader = cluster.leader("t", 0)
    with Wire(cluster.brokers[leader]) as wire, cluster.hold(
        ApiKey.PRODUCE, when=lambda req: req.body["acks"] == -1
    ) as held:
        wire.send(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"held")))
        held.wait(1)
        assert cluster.partition("t", 0).log_end_offset == 0  # parked before it was handled
        assert held.held == 1
        held.release()
        assert produce_result(wire.receive(ApiKey.PRODUCE, 9)) == (0, 0)
        assert held.held == 0 and held.total == 1
        # acks=1 does not match the predicate: handled at once.
        assert produce_result(wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"free"), acks=1))) == (0, 1)
    with Wire(cluster.brokers[leader]) as wire:  # the hold stopped with its block
        assert produce_result(wire.call(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"after")))) == (0, 2)


def test_hold_end_txn_sees_the_transaction_still_open(cluster: MockCluster) -> None:
    with Producer(bootstrap_servers=cluster.bootstrap_servers, transactional_id="tx") as producer:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send("t", b"v", partition=0)
        with cluster.hold(ApiKey.END_TXN, times=1) as held:
            committing = threading.Thread(target=producer.commit_transaction)
            committing.start()
            held.wait()
            assert cluster.transaction("tx")["state"] == "Ongoing"  # type: ignore[index]
            assert cluster.records("t", 0, isolation="read_committed") == []
            held.release()
            committing.join(10)
        assert not committing.is_alive()
    assert [r.value for r in cluster.records("t", 0, isolation="read_committed")] == [b"v"]


def test_hold_release_some_in_order_and_wait_times_out(cluster: MockCluster) -> None:
    with cluster.hold(ApiKey.METADATA) as held:
        wires = [Wire(cluster.bootstrap_servers) for _ in range(3)]
        for wire in wires:
            wire.send(ApiKey.METADATA, 9, {"topics": [{"name": "t"}]})
        held.wait(3)
        held.release(1)
        assert wires[0].receive(ApiKey.METADATA, 9)["topics"][0]["name"] == "t"
        assert held.held == 2
        with pytest.raises(TimeoutError):
            held.wait(3, timeout=0.2)
    for wire in wires[1:]:
        assert wire.receive(ApiKey.METADATA, 9)["topics"][0]["name"] == "t"  # released on exit
        wire.close()
    wires[0].close()


def test_requests_are_recorded_per_connection_with_bodies(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as first, Wire(cluster.bootstrap_servers) as second:
        first.call(ApiKey.METADATA, 9, {"topics": [{"name": "t"}]})
        second.call(ApiKey.METADATA, 9, {"topics": None})
        second.call(ApiKey.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"})
    records = cluster.requests()
    assert [(r.api_key, r.connection) for r in records] == [
        (ApiKey.METADATA, 1), (ApiKey.METADATA, 2), (ApiKey.API_VERSIONS, 2)]
    assert records[0].body is not None and records[0].body["topics"] == [{"name": "t"}]
    assert [r.api_key for r in cluster.requests(connection=2)] == [ApiKey.METADATA, ApiKey.API_VERSIONS]
    assert len(cluster.requests(ApiKey.METADATA)) == 2


def test_unsupported_api_closes_the_connection_and_is_recorded(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as wire:
        wire.sock.sendall(raw_frame(68, 0, 5))  # ConsumerGroupHeartbeat (KIP-848): not advertised
        assert wire.is_closed()
    (record,) = cluster.unsupported_requests
    assert (record.api_key, record.version, record.client_id) == (68, 0, None)
    with Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"})
    assert 68 not in {k["api_key"] for k in response["api_keys"]}
    cluster.clear_requests()
