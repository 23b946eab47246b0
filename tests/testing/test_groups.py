"""The mock's group coordinator at the protocol level: joins, generations, rebalances, timeouts, offsets,
and describing, listing and deleting groups."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from josef._core.protocol import ApiKey
from josef.errors import ErrorCode
from josef.testing import MockCluster
from tests.testing.wire import Wire

JOIN_V, SYNC_V, HB_V, LEAVE_V, COMMIT_V, FETCH_V = 7, 5, 4, 5, 9, 9
GROUP = "g"


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=3, topics={"t": 2}) as c:
        yield c
        assert c.internal_errors == []


def coordinator(cluster: MockCluster, group: str = GROUP) -> Wire:
    return Wire(cluster.brokers[cluster.coordinator(group, kind="group")])


def join_body(member_id: str = "", session_ms: int = 10_000, rebalance_ms: int = 10_000,
              protocols: tuple[str, ...] = ("range",)) -> dict[str, Any]:
    return {"group_id": GROUP, "session_timeout_ms": session_ms, "rebalance_timeout_ms": rebalance_ms,
            "member_id": member_id, "group_instance_id": None, "protocol_type": "consumer",
            "protocols": [{"name": p, "metadata": p.encode()} for p in protocols], "reason": None}


def join(wire: Wire, **kwargs: Any) -> dict[str, Any]:
    """MEMBER_ID_REQUIRED, then the real join (which may wait for the rest of the group)."""
    first = wire.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(**kwargs))
    assert first["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
    return wire.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(first["member_id"], **kwargs))


def sync(wire: Wire, member_id: str, generation: int, assignments: dict[str, bytes] | None = None) -> dict[str, Any]:
    return wire.call(ApiKey.SYNC_GROUP, SYNC_V, {
        "group_id": GROUP, "generation_id": generation, "member_id": member_id, "group_instance_id": None,
        "protocol_type": "consumer", "protocol_name": "range",
        "assignments": [{"member_id": m, "assignment": a} for m, a in (assignments or {}).items()]})


def heartbeat(wire: Wire, member_id: str, generation: int) -> int:
    body = wire.call(ApiKey.HEARTBEAT, HB_V, {"group_id": GROUP, "generation_id": generation, "member_id": member_id,
                                              "group_instance_id": None})
    code: int = body["error_code"]
    return code


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_join_sync_heartbeat_and_generation_checks(cluster: MockCluster) -> None:
    with coordinator(cluster) as wire:
        joined = join(wire)
        assert joined["error_code"] == 0 and joined["generation_id"] == 1
        member = joined["member_id"]
        assert joined["leader"] == member and joined["protocol_name"] == "range"
        assert [m["member_id"] for m in joined["members"]] == [member]
        synced = sync(wire, member, 1, {member: b"mine"})
        assert synced["error_code"] == 0 and synced["assignment"] == b"mine"
        assert heartbeat(wire, member, 1) == 0
        assert heartbeat(wire, member, 0) == ErrorCode.ILLEGAL_GENERATION
        assert heartbeat(wire, "stranger", 1) == ErrorCode.UNKNOWN_MEMBER_ID
    assert cluster.group(GROUP) == {"state": "Stable", "generation": 1, "protocol_type": "consumer",
                                    "protocol": "range", "leader": member,
                                    "members": {member: {"client_id": "josef-mock-test", "group_instance_id": None,
                                                         "assignment": b"mine"}}}
    other = cluster.coordinator(GROUP, kind="group") % 3 + 1
    with Wire(cluster.brokers[other]) as wire:
        assert heartbeat(wire, member, 1) == ErrorCode.NOT_COORDINATOR


def test_a_second_member_triggers_a_rebalance_both_rejoin(cluster: MockCluster) -> None:
    with coordinator(cluster) as a, coordinator(cluster) as b:
        first = join(a)
        member_a = first["member_id"]
        sync(a, member_a, 1, {member_a: b"all"})
        pending = b.call(ApiKey.JOIN_GROUP, JOIN_V, join_body())
        b.send(ApiKey.JOIN_GROUP, JOIN_V, join_body(pending["member_id"]))  # waits for a to rejoin
        assert heartbeat(a, member_a, 1) == ErrorCode.REBALANCE_IN_PROGRESS
        rejoined = a.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(member_a))
        joined_b = b.receive(ApiKey.JOIN_GROUP, JOIN_V)
        assert rejoined["generation_id"] == joined_b["generation_id"] == 2
        assert rejoined["leader"] == member_a and len(rejoined["members"]) == 2 and joined_b["members"] == []
        b.send(ApiKey.SYNC_GROUP, SYNC_V, {"group_id": GROUP, "generation_id": 2, "member_id": joined_b["member_id"],
                                           "group_instance_id": None, "protocol_type": None, "protocol_name": None,
                                           "assignments": []})  # the follower waits for the leader
        sync(a, member_a, 2, {member_a: b"half-a", joined_b["member_id"]: b"half-b"})
        assert b.receive(ApiKey.SYNC_GROUP, SYNC_V)["assignment"] == b"half-b"
        # The leader leaves: the follower becomes the leader of generation 3 on its own.
        left = a.call(ApiKey.LEAVE_GROUP, LEAVE_V, {"group_id": GROUP, "members": [
            {"member_id": member_a, "group_instance_id": None, "reason": "bye"}]})
        assert left["error_code"] == 0 and left["members"][0]["error_code"] == 0
        assert heartbeat(b, joined_b["member_id"], 2) == ErrorCode.REBALANCE_IN_PROGRESS
        again = b.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(joined_b["member_id"]))
        assert again["generation_id"] == 3 and again["leader"] == joined_b["member_id"]


def test_inconsistent_protocols_are_refused(cluster: MockCluster) -> None:
    with coordinator(cluster) as a, coordinator(cluster) as b:
        join(a, protocols=("range",))
        refused = b.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(protocols=("cooperative-sticky",)))
        assert refused["error_code"] == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_silent_member_expires_after_its_session_timeout(cluster: MockCluster) -> None:
    with coordinator(cluster) as wire:
        joined = join(wire, session_ms=1000)
        sync(wire, joined["member_id"], 1)
    wait_for(lambda: cluster.group(GROUP)["state"] == "Empty")  # type: ignore[index]
    assert cluster.group(GROUP)["generation"] == 2  # type: ignore[index]


def test_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout(cluster: MockCluster) -> None:
    with coordinator(cluster) as a, coordinator(cluster) as b:
        first = join(a, rebalance_ms=1000)
        sync(a, first["member_id"], 1)
        start = time.monotonic()
        joined_b = join(b, rebalance_ms=1000)  # a keeps quiet: b's join completes without it
        assert time.monotonic() - start >= 0.9
        assert joined_b["generation_id"] == 2 and joined_b["leader"] == joined_b["member_id"]
        assert heartbeat(a, first["member_id"], 1) == ErrorCode.UNKNOWN_MEMBER_ID


def test_too_short_session_timeout_is_refused(cluster: MockCluster) -> None:
    with coordinator(cluster) as wire:
        body = wire.call(ApiKey.JOIN_GROUP, JOIN_V, join_body(session_ms=10))
    assert body["error_code"] == ErrorCode.INVALID_SESSION_TIMEOUT


def commit(wire: Wire, offsets: dict[tuple[str, int], int], generation: int = -1, member: str = "",
           metadata: str = "m") -> dict[tuple[str, int], int]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), offset in offsets.items():
        topics.setdefault(topic, []).append({"partition_index": partition, "committed_offset": offset,
                                             "committed_leader_epoch": -1, "committed_metadata": metadata})
    body = wire.call(ApiKey.OFFSET_COMMIT, COMMIT_V, {
        "group_id": GROUP, "generation_id_or_member_epoch": generation, "member_id": member,
        "group_instance_id": None, "topics": [{"name": t, "partitions": p} for t, p in topics.items()]})
    return {(t["name"], p["partition_index"]): p["error_code"] for t in body["topics"] for p in t["partitions"]}


def test_offsets_commit_and_fetch(cluster: MockCluster) -> None:
    with coordinator(cluster) as wire:
        assert commit(wire, {("t", 0): 5, ("t", 1): 7, ("nope", 0): 1}) == {
            ("t", 0): 0, ("t", 1): 0, ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
        assert commit(wire, {("t", 0): 6}, metadata="x" * 5000) == {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE}
        fetched = wire.call(ApiKey.OFFSET_FETCH, FETCH_V, {"groups": [
            {"group_id": GROUP, "member_id": None, "member_epoch": -1, "topics": None}], "require_stable": False})
        partitions = fetched["groups"][0]["topics"][0]["partitions"]
        assert {(p["partition_index"], p["committed_offset"], p["metadata"]) for p in partitions} == {
            (0, 5, "m"), (1, 7, "m")}
        old = wire.call(ApiKey.OFFSET_FETCH, 5, {"group_id": GROUP, "topics": [
            {"name": "t", "partition_indexes": [0, 1]}, {"name": "t2", "partition_indexes": [0]}]})
        assert [[p["committed_offset"] for p in t["partitions"]] for t in old["topics"]] == [[5, 7], [-1]]
        # Once the group has members, commits need the member id and the current generation.
        joined = join(wire)
        member = joined["member_id"]
        assert commit(wire, {("t", 0): 9}) == {("t", 0): ErrorCode.UNKNOWN_MEMBER_ID}
        assert commit(wire, {("t", 0): 9}, 1, member) == {("t", 0): ErrorCode.REBALANCE_IN_PROGRESS}
        sync(wire, member, 1)
        assert commit(wire, {("t", 0): 9}, 0, member) == {("t", 0): ErrorCode.ILLEGAL_GENERATION}
        assert commit(wire, {("t", 0): 9}, 1, member) == {("t", 0): 0}
    assert cluster.committed_offsets(GROUP) == {("t", 0): 9, ("t", 1): 7}


def test_describe_list_and_delete_groups(cluster: MockCluster) -> None:
    cluster.set_coordinator("missing", cluster.coordinator(GROUP, kind="group"), kind="group")
    with coordinator(cluster) as wire:
        joined = join(wire)
        member = joined["member_id"]
        sync(wire, member, 1, {member: b"assignment"})
        described = wire.call(ApiKey.DESCRIBE_GROUPS, 6, {"groups": [GROUP, "missing"],
                                                          "include_authorized_operations": False})["groups"]
        assert described[0]["group_state"] == "Stable" and described[0]["protocol_data"] == "range"
        assert described[0]["members"][0]["member_assignment"] == b"assignment"
        assert described[1]["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
        listed = wire.call(ApiKey.LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})["groups"]
        assert listed == [{"group_id": GROUP, "protocol_type": "consumer", "group_state": "Stable",
                           "group_type": "classic"}]
        assert wire.call(ApiKey.LIST_GROUPS, 5, {"states_filter": ["Empty"], "types_filter": []})["groups"] == []

        def delete() -> int:
            body = wire.call(ApiKey.DELETE_GROUPS, 2, {"groups_names": [GROUP]})
            code: int = body["results"][0]["error_code"]
            return code

        assert delete() == ErrorCode.NON_EMPTY_GROUP
        wire.call(ApiKey.LEAVE_GROUP, 2, {"group_id": GROUP, "member_id": member})
        assert delete() == 0
        assert delete() == ErrorCode.GROUP_ID_NOT_FOUND
    assert cluster.group(GROUP) is None
