"""MockCluster as a broker, at the protocol level: what it answers, and what scripted faults do (issue 7)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from josef._core.protocol import ApiKey, decode_response
from josef.testing import MockCluster
from tests.testing.wire import Wire, batch, fetch_body, produce_body, produce_result, raw_frame

PRODUCE_V, FETCH_V, METADATA_V = 9, 12, 9


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}) as c:
        yield c
        assert c.internal_errors == []


def leader_wire(cluster: MockCluster, topic: str = "t", partition: int = 0) -> Wire:
    return Wire(cluster.brokers[cluster.leader(topic, partition)])


def produce(wire: Wire, records: bytes | None, partition: int = 0, acks: int = -1) -> tuple[int, int]:
    return produce_result(wire.call(ApiKey.PRODUCE, PRODUCE_V, produce_body("t", partition, records, acks=acks)))


# -- cluster shape and discovery ---------------------------------------------------------------------


def test_bootstrap_servers_lists_every_broker_on_loopback(cluster: MockCluster) -> None:
    servers = cluster.bootstrap_servers.split(",")
    assert len(servers) == 3
    assert all(s.startswith("127.0.0.1:") for s in servers)


def test_api_versions_advertises_the_codec_ranges(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.API_VERSIONS, 4, {"client_software_name": "t", "client_software_version": "1"})
    ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in response["api_keys"]}
    assert response["error_code"] == 0
    assert ranges[ApiKey.PRODUCE] == (3, 13)
    assert ranges[ApiKey.END_TXN] == (0, 4)  # v5 is transactions v2, not advertised


def test_too_new_api_versions_gets_v0_answer_with_its_own_range(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as wire:
        wire.sock.sendall(raw_frame(ApiKey.API_VERSIONS, 99, 7))
        correlation_id, body = decode_response(ApiKey.API_VERSIONS, 0, wire.frame())
    assert correlation_id == 7
    assert body["error_code"] == 35
    assert body["api_keys"] == [{"api_key": 18, "min_version": 0, "max_version": 4}]


def test_narrowed_api_versions_play_an_older_broker() -> None:
    old: dict[int, tuple[int, int] | None] = {ApiKey.PRODUCE: (3, 7), ApiKey.END_TXN: None}
    with MockCluster(brokers=1, api_versions=old) as cluster, Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.API_VERSIONS, 3, {})
        ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in response["api_keys"]}
        assert ranges[ApiKey.PRODUCE] == (3, 7)
        assert ApiKey.END_TXN not in ranges
        wire.send(ApiKey.PRODUCE, 9, produce_body("t", 0, batch(b"x")))
        assert wire.is_closed()  # a version the broker does not speak closes the connection


def test_metadata_describes_brokers_leaders_and_autocreates(cluster: MockCluster) -> None:
    with Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.METADATA, 12, {"topics": [{"name": "t"}, {"name": "fresh"}, {"name": "bad/name"}]})
    assert sorted(b["node_id"] for b in response["brokers"]) == [1, 2, 3]
    topics = {t["name"]: t for t in response["topics"]}
    assert [p["leader_id"] for p in topics["t"]["partitions"]] == [cluster.leader("t", 0), cluster.leader("t", 1)]
    assert topics["t"]["partitions"][0]["replica_nodes"] == cluster.partition("t", 0).replicas
    assert topics["fresh"]["error_code"] == 0 and len(topics["fresh"]["partitions"]) == 1
    assert topics["bad/name"]["error_code"] == 17
    assert "fresh" in cluster.topics()


def test_metadata_without_auto_create_answers_unknown_topic() -> None:
    with MockCluster(brokers=1, auto_create_topics=False) as cluster, Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.METADATA, METADATA_V, {"topics": [{"name": "nope"}]})
    assert response["topics"][0]["error_code"] == 3


def test_create_topics_validates(cluster: MockCluster) -> None:
    body = {"topics": [
        {"name": "new", "num_partitions": 4, "replication_factor": 2, "assignments": [], "configs": []},
        {"name": "t", "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []},
        {"name": "toomany", "num_partitions": 1, "replication_factor": 4, "assignments": [], "configs": []},
        {"name": "zero", "num_partitions": 0, "replication_factor": 1, "assignments": [], "configs": []},
    ]}
    with Wire(cluster.bootstrap_servers) as wire:
        response = wire.call(ApiKey.CREATE_TOPICS, 7, body)
    codes = {t["name"]: t["error_code"] for t in response["topics"]}
    assert codes == {"new": 0, "t": 36, "toomany": 38, "zero": 37}
    assert cluster.partition("new", 3).replicas.__len__() == 2


# -- produce and fetch -------------------------------------------------------------------------------


def test_produce_then_fetch_returns_the_batch_with_offsets(cluster: MockCluster) -> None:
    with leader_wire(cluster) as wire:
        assert produce(wire, batch(b"a", b"b")) == (0, 0)
        assert produce(wire, batch(b"c")) == (0, 2)
        response = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 1))
    part = response["responses"][0]["partitions"][0]
    assert part["error_code"] == 0 and part["high_watermark"] == 3
    from josef._core.records import decode_batches

    values = [(r.offset, r.value) for b in decode_batches(part["records"]) for r in b.records]
    assert values == [(0, b"a"), (1, b"b"), (2, b"c")]  # whole batches from the one holding offset 1
    assert [r.value for r in cluster.records("t", 0)] == [b"a", b"b", b"c"]


def test_produce_and_fetch_by_topic_id(cluster: MockCluster) -> None:
    topic_id = cluster.create_topic("ids", 1, replication_factor=1)
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 1000,
            "topic_data": [{"topic_id": topic_id, "partition_data": [{"index": 0, "records": batch(b"x")}]}]}
    with Wire(cluster.brokers[cluster.leader("ids", 0)]) as wire:
        response = wire.call(ApiKey.PRODUCE, 13, body)
        assert response["responses"][0]["partition_responses"][0]["error_code"] == 0
        fetch: dict[str, Any] = {"max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
                 "topics": [{"topic_id": topic_id, "partitions": [{"partition": 0, "fetch_offset": 0,
                                                                   "partition_max_bytes": 1 << 20}]}]}
        response = wire.call(ApiKey.FETCH, 17, fetch)
        assert response["responses"][0]["partitions"][0]["records"]
        fetch["topics"][0]["topic_id"] = uuid.uuid4()
        response = wire.call(ApiKey.FETCH, 17, fetch)
        assert response["responses"][0]["partitions"][0]["error_code"] == 100  # UNKNOWN_TOPIC_ID


def test_fetch_long_polls_until_data_arrives(cluster: MockCluster) -> None:
    address = cluster.brokers[cluster.leader("t", 0)]
    with Wire(address) as consumer, Wire(address) as producer:
        consumer.send(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 0, max_wait_ms=3000))
        time.sleep(0.2)
        start = time.monotonic()
        assert produce(producer, batch(b"late")) == (0, 0)
        response = consumer.receive(ApiKey.FETCH, FETCH_V)
        assert time.monotonic() - start < 1.0
        assert response["responses"][0]["partitions"][0]["records"]
        _, waited = consumer.timed_call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 1, max_wait_ms=300))
        assert 0.25 < waited < 2.0


def test_fetch_out_of_range_and_list_offsets(cluster: MockCluster) -> None:
    with leader_wire(cluster) as wire:
        produce(wire, batch(b"a", b"b", b"c"))
        part = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 9))["responses"][0]["partitions"][0]
        assert part["error_code"] == 1
        body: dict[str, Any] = {"isolation_level": 0, "topics": [{"name": "t", "partitions": [
            {"partition_index": 0, "timestamp": -2}]}]}
        assert wire.call(ApiKey.LIST_OFFSETS, 7, body)["topics"][0]["partitions"][0]["offset"] == 0
        body["topics"][0]["partitions"][0]["timestamp"] = -1
        assert wire.call(ApiKey.LIST_OFFSETS, 7, body)["topics"][0]["partitions"][0]["offset"] == 3


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda b: b[:30] + bytes([b[30] ^ 0xFF]) + b[31:], 2),  # CRC mismatch
        (lambda b: b + b, 87),  # two batches in one partition
        (lambda b: b[:-1], 2),  # length runs past the data
        (lambda b: b[:16] + b"\x01" + b[17:], 87),  # magic 1
        (lambda b: b"", 87),  # no records
    ],
    ids=["crc", "two-batches", "truncated", "magic", "empty"],
)
def test_produce_rejects_invalid_batches(cluster: MockCluster, mangle: object, code: int) -> None:
    good = batch(b"a", b"b")
    with leader_wire(cluster) as wire:
        assert produce(wire, mangle(good))[0] == code  # type: ignore[operator]
        assert produce(wire, good) == (0, 0)  # nothing was appended by the bad one
    assert cluster.internal_errors == []


def test_record_count_must_match_the_records(cluster: MockCluster) -> None:
    import struct

    from crc32c import crc32c

    data = bytearray(batch(b"a", b"b"))
    struct.pack_into(">i", data, 57, 3)  # record count 3 ...
    struct.pack_into(">i", data, 23, 2)  # ... and last offset delta 2, but 2 records
    struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
    with leader_wire(cluster) as wire:
        assert produce(wire, bytes(data))[0] == 87


def test_non_leader_answers_not_leader_with_a_hint(cluster: MockCluster) -> None:
    leader = cluster.leader("t", 0)
    other = next(b for b in cluster.brokers if b != leader)
    with Wire(cluster.brokers[other]) as wire:
        response = wire.call(ApiKey.PRODUCE, 10, produce_body("t", 0, batch(b"a")))
    part = response["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 6
    assert part["current_leader"]["leader_id"] == leader
    assert [n["node_id"] for n in response["node_endpoints"]] == [leader]


# -- idempotence -------------------------------------------------------------------------------------


def test_duplicate_within_the_last_five_batches_gets_the_original_offset(cluster: MockCluster) -> None:
    with leader_wire(cluster) as wire:
        init = wire.call(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": None, "transaction_timeout_ms": 1})
        pid, epoch = init["producer_id"], init["producer_epoch"]
        offsets = [produce(wire, batch(b"%d" % i, pid=pid, epoch=epoch, seq=i))[1] for i in range(6)]
        assert offsets == [0, 1, 2, 3, 4, 5]
        assert produce(wire, batch(b"1", pid=pid, epoch=epoch, seq=1)) == (0, 1)  # in the window: a duplicate
        assert produce(wire, batch(b"0", pid=pid, epoch=epoch, seq=0))[0] == 45  # fell out of the window
        assert produce(wire, batch(b"7", pid=pid, epoch=epoch, seq=7))[0] == 45  # a gap
        assert produce(wire, batch(b"5", pid=pid, epoch=epoch + 1, seq=3))[0] == 45  # new epoch must start at 0
        assert produce(wire, batch(b"n", pid=pid, epoch=epoch + 1, seq=0))[0] == 0  # bumped epoch (KIP-360)
        assert produce(wire, batch(b"o", pid=pid, epoch=epoch, seq=7))[0] == 47  # the old epoch is fenced
        assert produce(wire, batch(b"u", pid=424242, epoch=0, seq=5))[0] == 59  # never issued
    assert [r.value for r in cluster.records("t", 0)] == [b"0", b"1", b"2", b"3", b"4", b"5", b"n"]


def test_unknown_state_on_a_partition_accepts_any_first_sequence(cluster: MockCluster) -> None:
    with leader_wire(cluster) as wire:
        pid = wire.call(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": None,
                                                     "transaction_timeout_ms": 1})["producer_id"]
        assert produce(wire, batch(b"a", pid=pid, epoch=0, seq=17)) == (0, 0)
        assert produce(wire, batch(b"b", pid=pid, epoch=0, seq=18)) == (0, 1)


# -- replication -------------------------------------------------------------------------------------


def test_acks_all_needs_min_insync_replicas() -> None:
    with MockCluster(brokers=3, topics={"t": {"partitions": 1, "configs": {"min.insync.replicas": 2}}}) as cluster:
        leader = cluster.leader("t", 0)
        cluster.set_isr("t", 0, [leader])
        with leader_wire(cluster) as wire:
            assert produce(wire, batch(b"a"))[0] == 19  # NOT_ENOUGH_REPLICAS
            assert produce(wire, batch(b"a"), acks=1) == (0, 0)
            cluster.broker_down(next(b for b in cluster.brokers if b != leader))
            cluster.set_isr("t", 0, cluster.partition("t", 0).replicas)
            assert produce(wire, batch(b"b")) == (0, 1)


def test_acks_all_waits_for_simulated_replication() -> None:
    with MockCluster(brokers=3, topics={"t": 1}, replication_delay=0.3) as cluster, leader_wire(cluster) as wire:
        response, waited = wire.timed_call(ApiKey.PRODUCE, PRODUCE_V, produce_body("t", 0, batch(b"a")))
        assert produce_result(response) == (0, 0) and waited >= 0.28
        response, waited = wire.timed_call(ApiKey.PRODUCE, PRODUCE_V, produce_body("t", 0, batch(b"b"), acks=1))
        assert waited < 0.2
        assert cluster.partition("t", 0).high_watermark == 1  # the follower has not copied it yet
        time.sleep(0.4)
        assert cluster.partition("t", 0).high_watermark == 2


def test_broker_down_moves_leadership_and_refuses_connections(cluster: MockCluster) -> None:
    leader = cluster.leader("t", 0)
    address = cluster.brokers[leader]
    wire = Wire(address)
    cluster.broker_down(leader)
    assert wire.is_closed()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    info = cluster.partition("t", 0)
    assert info.leader != leader and leader not in info.isr and info.leader_epoch == 1
    with Wire(cluster.brokers[info.leader]) as other:
        brokers = other.call(ApiKey.METADATA, METADATA_V, {"topics": None})["brokers"]
        assert leader not in [b["node_id"] for b in brokers]
    cluster.broker_up(leader)
    with Wire(address) as again:
        assert again.call(ApiKey.API_VERSIONS, 3, {})["error_code"] == 0
    assert leader in cluster.partition("t", 0).isr


def test_move_leader_fences_old_leader_epoch(cluster: MockCluster) -> None:
    old = cluster.leader("t", 0)
    new = next(b for b in cluster.brokers if b != old)
    cluster.move_leader("t", 0, to=new)
    with Wire(cluster.brokers[new]) as wire:
        body = fetch_body("t", 0, 0)
        body["topics"][0]["partitions"][0]["current_leader_epoch"] = 0
        part = wire.call(ApiKey.FETCH, FETCH_V, body)["responses"][0]["partitions"][0]
        assert part["error_code"] == 74  # FENCED_LEADER_EPOCH
        assert produce(wire, batch(b"a")) == (0, 0)
    with Wire(cluster.brokers[old]) as wire:
        assert produce(wire, batch(b"a"))[0] == 6


def test_retention_bounds_memory() -> None:
    with MockCluster(brokers=1, topics={"t": 1}, retention_bytes=2000) as cluster, leader_wire(cluster) as wire:
        for i in range(50):
            produce(wire, batch(b"x" * 100, b"%d" % i))
        info = cluster.partition("t", 0)
        assert info.log_start_offset > 0 and info.log_end_offset == 100
        part = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 0))["responses"][0]["partitions"][0]
        assert part["error_code"] == 1
        assert part["log_start_offset"] == info.log_start_offset


# -- faults ------------------------------------------------------------------------------------------


def test_push_errors_apply_in_order_then_stop(cluster: MockCluster) -> None:
    cluster.push_errors(ApiKey.PRODUCE, "NOT_LEADER_OR_FOLLOWER", 0, 19)
    with leader_wire(cluster) as wire:
        assert produce(wire, batch(b"a"))[0] == 6
        assert produce(wire, batch(b"b")) == (0, 0)
        assert produce(wire, batch(b"c"))[0] == 19
        assert produce(wire, batch(b"d")) == (0, 1)
    assert [r.value for r in cluster.records("t", 0)] == [b"b", b"d"]


def test_partition_scoped_error_spares_the_other_partitions(cluster: MockCluster) -> None:
    cluster.move_leader("t", 1, to=cluster.leader("t", 0))
    fault = cluster.inject(ApiKey.PRODUCE, error="KAFKA_STORAGE_ERROR", topic="t", partition=1, times=2)
    body = produce_body("t", 0, batch(b"p0"))
    body["topic_data"][0]["partition_data"].append({"index": 1, "records": batch(b"p1")})
    with leader_wire(cluster) as wire:
        parts = wire.call(ApiKey.PRODUCE, PRODUCE_V, body)["responses"][0]["partition_responses"]
    assert [(p["index"], p["error_code"]) for p in parts] == [(0, 0), (1, 56)]
    assert fault.hits == 1


def test_errors_scoped_to_a_broker(cluster: MockCluster) -> None:
    leader = cluster.leader("t", 0)
    other = next(b for b in cluster.brokers if b != leader)
    cluster.inject(ApiKey.METADATA, error=7, broker=other, times=None)
    with Wire(cluster.brokers[leader]) as wire:
        assert wire.call(ApiKey.METADATA, METADATA_V, {"topics": [{"name": "t"}]})["topics"][0]["error_code"] == 0
    with Wire(cluster.brokers[other]) as wire:
        for _ in range(3):
            assert wire.call(ApiKey.METADATA, METADATA_V, {"topics": [{"name": "t"}]})["topics"][0]["error_code"] == 7
    cluster.clear_faults()
    with Wire(cluster.brokers[other]) as wire:
        assert wire.call(ApiKey.METADATA, METADATA_V, {"topics": [{"name": "t"}]})["topics"][0]["error_code"] == 0


def test_drop_before_handling_appends_nothing(cluster: MockCluster) -> None:
    cluster.drop_connection(ApiKey.PRODUCE, when="before")
    with leader_wire(cluster) as wire:
        wire.send(ApiKey.PRODUCE, PRODUCE_V, produce_body("t", 0, batch(b"a")))
        with pytest.raises(ConnectionError):
            wire.receive(ApiKey.PRODUCE, PRODUCE_V)
    assert cluster.records("t", 0) == []


def test_drop_after_handling_loses_only_the_response(cluster: MockCluster) -> None:
    cluster.drop_connection(ApiKey.PRODUCE, when="after")
    with leader_wire(cluster) as wire:
        wire.send(ApiKey.PRODUCE, PRODUCE_V, produce_body("t", 0, batch(b"a")))
        with pytest.raises(ConnectionError):
            wire.receive(ApiKey.PRODUCE, PRODUCE_V)
    assert [r.value for r in cluster.records("t", 0)] == [b"a"]


def test_delay_holds_the_response(cluster: MockCluster) -> None:
    cluster.delay(ApiKey.METADATA, 0.3)
    with Wire(cluster.bootstrap_servers) as wire:
        _, waited = wire.timed_call(ApiKey.METADATA, METADATA_V, {"topics": []})
        assert waited >= 0.28
        _, waited = wire.timed_call(ApiKey.METADATA, METADATA_V, {"topics": []})
        assert waited < 0.2


def test_rtt_applies_to_one_broker(cluster: MockCluster) -> None:
    cluster.set_rtt(0.2, broker=1)
    with Wire(cluster.brokers[1]) as slow, Wire(cluster.brokers[2]) as fast:
        assert slow.timed_call(ApiKey.API_VERSIONS, 3, {})[1] >= 0.18
        assert fast.timed_call(ApiKey.API_VERSIONS, 3, {})[1] < 0.15


def test_throttle_reports_and_mutes_the_connection(cluster: MockCluster) -> None:
    cluster.throttle(ApiKey.METADATA, 300)
    with Wire(cluster.bootstrap_servers) as wire:
        response, waited = wire.timed_call(ApiKey.METADATA, METADATA_V, {"topics": []})
        assert response["throttle_time_ms"] == 300 and waited < 0.2
        response, waited = wire.timed_call(ApiKey.METADATA, METADATA_V, {"topics": []})
        assert response["throttle_time_ms"] == 0 and waited >= 0.2


def test_control_replaces_the_answer_until_it_returns_none(cluster: MockCluster) -> None:
    seen = []

    def respond(request: object) -> dict[str, object] | None:
        seen.append(request)
        if len(seen) > 1:
            return None
        return {"throttle_time_ms": 0, "error_code": 15, "producer_id": -1, "producer_epoch": -1}

    cluster.control(ApiKey.INIT_PRODUCER_ID, respond)
    with Wire(cluster.bootstrap_servers) as wire:
        body = {"transactional_id": None, "transaction_timeout_ms": 1}
        assert wire.call(ApiKey.INIT_PRODUCER_ID, 4, body)["error_code"] == 15
        assert wire.call(ApiKey.INIT_PRODUCER_ID, 4, body)["error_code"] == 0
    assert len(seen) == 2


def test_error_names_and_classes_are_accepted(cluster: MockCluster) -> None:
    from josef.errors import NotEnoughReplicasError
    from josef.testing import error_code

    assert error_code("not_enough_replicas") == 19
    assert error_code(NotEnoughReplicasError) == 19
    with pytest.raises(ValueError):
        error_code("NO_SUCH_ERROR")


def test_requests_are_logged(cluster: MockCluster) -> None:
    with Wire(cluster.brokers[2]) as wire:
        wire.call(ApiKey.API_VERSIONS, 3, {})
    entries = cluster.requests(ApiKey.API_VERSIONS, broker=2)
    assert [(r.api_key, r.version, r.client_id) for r in entries] == [(ApiKey.API_VERSIONS, 3, "josef-mock-test")]


@pytest.mark.mock_cluster(brokers=1, topics={"fixture": 4})
def test_pytest_fixture_takes_marker_arguments(mock_cluster: MockCluster) -> None:
    assert mock_cluster.topics() == {"fixture": 4}
    assert list(mock_cluster.brokers) == [1]


def test_stop_is_idempotent_and_closes_ports() -> None:
    cluster = MockCluster(brokers=1)
    address = cluster.brokers[1]
    cluster.stop()
    cluster.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    with pytest.raises(RuntimeError):
        cluster.topics()


# -- transactions at the protocol level ---------------------------------------------------------------

TXN_V = {"init": 4, "add": 3, "end": 3}


def begin(wire: Wire, txn_id: str, timeout_ms: int = 60000) -> tuple[int, int]:
    init = wire.call(ApiKey.INIT_PRODUCER_ID, TXN_V["init"], {"transactional_id": txn_id,
                                                               "transaction_timeout_ms": timeout_ms})
    assert init["error_code"] == 0
    return init["producer_id"], init["producer_epoch"]


def add_partition(wire: Wire, txn_id: str, pid: int, epoch: int, partition: int = 0) -> int:
    body = {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
            "v3_and_below_producer_epoch": epoch,
            "v3_and_below_topics": [{"name": "t", "partitions": [partition]}]}
    response = wire.call(ApiKey.ADD_PARTITIONS_TO_TXN, TXN_V["add"], body)
    code: int = response["results_by_topic_v3_and_below"][0]["results_by_partition"][0]["partition_error_code"]
    return code


def end(wire: Wire, txn_id: str, pid: int, epoch: int, commit: bool) -> int:
    body = {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "committed": commit}
    code: int = wire.call(ApiKey.END_TXN, TXN_V["end"], body)["error_code"]
    return code


@pytest.fixture
def txn_cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=1, topics={"t": 1}) as c:  # one broker: leader and coordinator
        yield c
        assert c.internal_errors == []


def test_open_transaction_holds_the_last_stable_offset(txn_cluster: MockCluster) -> None:
    with Wire(txn_cluster.bootstrap_servers) as wire:
        assert produce(wire, batch(b"plain")) == (0, 0)
        pid, epoch = begin(wire, "tx")
        assert add_partition(wire, "tx", pid, epoch) == 0
        body = produce_body("t", 0, batch(b"t1", b"t2", pid=pid, epoch=epoch, seq=0, transactional=True),
                            transactional_id="tx")
        assert produce_result(wire.call(ApiKey.PRODUCE, PRODUCE_V, body)) == (0, 1)
        part = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 0, committed=True))["responses"][0]["partitions"][0]
        assert part["last_stable_offset"] == 1 and part["high_watermark"] == 3
        from josef._core.records import decode_batches

        assert [r.value for b in decode_batches(part["records"]) for r in b.records] == [b"plain"]
        assert end(wire, "tx", pid, epoch, commit=False) == 0
        part = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 0, committed=True))["responses"][0]["partitions"][0]
        assert part["last_stable_offset"] == 4  # the abort marker at offset 3 is stable too
        assert part["aborted_transactions"] == [{"producer_id": pid, "first_offset": 1}]
        batches = decode_batches(part["records"])
        marker = batches[-1]
        assert marker.control and marker.transactional and marker.records[0].key == b"\x00\x00\x00\x00"  # ABORT
        uncommitted = wire.call(ApiKey.FETCH, FETCH_V, fetch_body("t", 0, 0))["responses"][0]["partitions"][0]
        assert uncommitted["aborted_transactions"] is None
    assert [r.value for r in txn_cluster.records("t", 0, isolation="read_committed")] == [b"plain"]


def test_transactional_batch_needs_its_partition_added(txn_cluster: MockCluster) -> None:
    with Wire(txn_cluster.bootstrap_servers) as wire:
        pid, epoch = begin(wire, "tx")
        body = produce_body("t", 0, batch(b"t", pid=pid, epoch=epoch, seq=0, transactional=True), transactional_id="tx")
        assert produce_result(wire.call(ApiKey.PRODUCE, PRODUCE_V, body))[0] == 48  # INVALID_TXN_STATE


def test_end_txn_retry_after_lost_response_gets_the_same_answer(txn_cluster: MockCluster) -> None:
    with Wire(txn_cluster.bootstrap_servers) as wire:
        pid, epoch = begin(wire, "tx")
        assert add_partition(wire, "tx", pid, epoch) == 0
    txn_cluster.drop_connection(ApiKey.END_TXN, when="after")
    with Wire(txn_cluster.bootstrap_servers) as wire:
        wire.send(ApiKey.END_TXN, TXN_V["end"], {"transactional_id": "tx", "producer_id": pid,
                                                 "producer_epoch": epoch, "committed": True})
        with pytest.raises(ConnectionError):
            wire.receive(ApiKey.END_TXN, TXN_V["end"])
    with Wire(txn_cluster.bootstrap_servers) as wire:
        assert end(wire, "tx", pid, epoch, commit=True) == 0  # the commit happened: same answer
        assert end(wire, "tx", pid, epoch, commit=False) == 48  # but not the opposite decision
    assert txn_cluster.transaction("tx") == {"producer_id": pid, "producer_epoch": epoch, "state": "CompleteCommit",
                                             "partitions": [], "groups": []}


def test_new_instance_fences_the_old_and_aborts_its_transaction(txn_cluster: MockCluster) -> None:
    with Wire(txn_cluster.bootstrap_servers) as wire:
        pid, epoch = begin(wire, "tx")
        add_partition(wire, "tx", pid, epoch)
        body = produce_body("t", 0, batch(b"zombie", pid=pid, epoch=epoch, seq=0, transactional=True),
                            transactional_id="tx")
        wire.call(ApiKey.PRODUCE, PRODUCE_V, body)
        pid2, epoch2 = begin(wire, "tx")
        assert (pid2, epoch2) == (pid, epoch + 1)
        assert end(wire, "tx", pid, epoch, commit=True) == 90  # PRODUCER_FENCED
        assert add_partition(wire, "tx", pid, epoch) == 90
        body = produce_body("t", 0, batch(b"late", pid=pid, epoch=epoch, seq=1, transactional=True),
                            transactional_id="tx")
        assert produce_result(wire.call(ApiKey.PRODUCE, PRODUCE_V, body))[0] == 47
    assert txn_cluster.records("t", 0, isolation="read_committed") == []
    assert txn_cluster.partition("t", 0).last_stable_offset == txn_cluster.partition("t", 0).high_watermark


def test_transaction_timeout_aborts_and_bumps_the_epoch(txn_cluster: MockCluster) -> None:
    with Wire(txn_cluster.bootstrap_servers) as wire:
        pid, epoch = begin(wire, "tx", timeout_ms=200)
        add_partition(wire, "tx", pid, epoch)
        time.sleep(0.4)
        assert end(wire, "tx", pid, epoch, commit=True) == 90
    state = txn_cluster.transaction("tx")
    assert state is not None and state["state"] == "CompleteAbort" and state["producer_epoch"] == epoch + 1


def test_coordinator_checks(cluster: MockCluster) -> None:
    coordinator = cluster.coordinator("tx")
    other = next(b for b in cluster.brokers if b != coordinator)
    with Wire(cluster.brokers[other]) as wire:
        body = {"transactional_id": "tx", "transaction_timeout_ms": 1000}
        assert wire.call(ApiKey.INIT_PRODUCER_ID, 4, body)["error_code"] == 16  # NOT_COORDINATOR
        found = wire.call(ApiKey.FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": ["tx"]})
        assert found["coordinators"][0]["node_id"] == coordinator
    cluster.set_coordinator("tx", other)
    with Wire(cluster.brokers[other]) as wire:
        assert wire.call(ApiKey.INIT_PRODUCER_ID, 4, body)["error_code"] == 0
    cluster.broker_down(other)
    assert cluster.coordinator("tx") == -1
