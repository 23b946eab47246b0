"""Hostile sequences over the group and admin APIs: random interleavings of joins, syncs, heartbeats,
leaves, commits, fetches, topic creation, growth and deletion, config changes and record deletion, from
several connections, with member ids and generations that are sometimes right and often wrong.

The rule is the one of test_hostile.py: the mock never records an internal error, and it still answers
a fresh connection afterwards.  (Schema-valid bodies with random values for every API and version,
the new ones included, are in test_hostile.py.)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from josef._core.protocol import ApiKey, FrameReader, decode_response, encode_request
from josef.errors import ProtocolError
from josef.testing import MockCluster
from tests.testing.wire import Wire, batch, produce_body

pytestmark = pytest.mark.timeout(300)

GROUPS = ["g", "h"]
TOPICS = ["t", "u", "gone"]
OPS = ["join", "join", "sync", "sync", "heartbeat", "leave", "commit", "fetch_offsets", "describe", "list",
       "delete_group", "create_topic", "grow", "delete_topic", "alter", "delete_records", "produce"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=1, topics={"t": 2}) as c:
        yield c


def request(cluster: MockCluster, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any] | None:
    """One request on a fresh connection; None if no answer came quickly (a join or sync left waiting)."""
    sock = socket.create_connection(cluster.brokers[1], timeout=0.05)
    reader = FrameReader()
    try:
        sock.sendall(encode_request(api_key, version, 1, "hostile", body))
        while (frame := reader.next_frame()) is None:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return None
            reader.feed(chunk)
        return decode_response(api_key, version, frame)[1]
    except (TimeoutError, ConnectionResetError, ProtocolError):
        return None
    finally:
        sock.close()


op = st.tuples(st.sampled_from(OPS), st.sampled_from(GROUPS), st.sampled_from(TOPICS), st.integers(0, 5),
               st.integers(-1, 4), st.integers(-2, 5), st.booleans())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_random_group_and_admin_sequences(cluster: MockCluster, ops: list[tuple[Any, ...]]) -> None:
    members: list[str] = ["", "stranger"]
    for name, group, topic, pick, generation, number, flag in ops:
        member = members[pick % len(members)]
        protocols = [{"name": "range" if flag else "roundrobin", "metadata": b"m"}]
        if name == "join":
            version = 9 if flag else 3
            body = {"group_id": group, "session_timeout_ms": 1000 + 500 * pick, "rebalance_timeout_ms": 1000,
                    "member_id": member, "group_instance_id": f"i{pick}" if number == 5 else None,
                    "protocol_type": "consumer", "protocols": protocols, "reason": None}
            response = request(cluster, ApiKey.JOIN_GROUP, version, body)
        elif name == "sync":
            body = {"group_id": group, "generation_id": generation, "member_id": member, "group_instance_id": None,
                    "protocol_type": None, "protocol_name": None,
                    "assignments": [{"member_id": m, "assignment": b"a"} for m in members]}
            response = request(cluster, ApiKey.SYNC_GROUP, 5, body)
        elif name == "heartbeat":
            response = request(cluster, ApiKey.HEARTBEAT, 4, {"group_id": group, "generation_id": generation,
                                                               "member_id": member, "group_instance_id": None})
        elif name == "leave":
            response = request(cluster, ApiKey.LEAVE_GROUP, 5 if flag else 1, {
                "group_id": group, "member_id": member,
                "members": [{"member_id": member, "group_instance_id": None if flag else f"i{pick}",
                             "reason": None}]})
        elif name == "commit":
            response = request(cluster, ApiKey.OFFSET_COMMIT, 9, {
                "group_id": group, "generation_id_or_member_epoch": generation, "member_id": member,
                "group_instance_id": None, "topics": [{"name": topic, "partitions": [
                    {"partition_index": number, "committed_offset": pick, "committed_leader_epoch": -1,
                     "committed_metadata": None}]}]})
        elif name == "fetch_offsets":
            response = request(cluster, ApiKey.OFFSET_FETCH, 8 if flag else 3, {
                "group_id": group, "topics": None, "require_stable": flag,
                "groups": [{"group_id": group, "topics": None if flag else [
                    {"name": topic, "partition_indexes": [number]}]}]})
        elif name == "describe":
            response = request(cluster, ApiKey.DESCRIBE_GROUPS, 6, {"groups": [group]})
        elif name == "list":
            response = request(cluster, ApiKey.LIST_GROUPS, 5, {"states_filter": ["Stable"] if flag else []})
        elif name == "delete_group":
            response = request(cluster, ApiKey.DELETE_GROUPS, 2, {"groups_names": [group]})
        elif name == "create_topic":
            response = request(cluster, ApiKey.CREATE_TOPICS, 7, {"topics": [{
                "name": topic, "num_partitions": number, "replication_factor": generation, "assignments": [],
                "configs": [{"name": "retention.ms", "value": str(number * 1000)}]}], "validate_only": flag})
        elif name == "grow":
            response = request(cluster, ApiKey.CREATE_PARTITIONS, 3, {"topics": [
                {"name": topic, "count": number + pick, "assignments": None}], "validate_only": flag})
        elif name == "delete_topic":
            response = request(cluster, ApiKey.DELETE_TOPICS, 5, {"topic_names": [topic]})
        elif name == "alter":
            response = request(cluster, ApiKey.INCREMENTAL_ALTER_CONFIGS, 1, {"resources": [{
                "resource_type": 2 if flag else 4, "resource_name": topic, "configs": [
                    {"name": "retention.bytes" if flag else "cleanup.policy", "config_operation": pick % 4,
                     "value": str(number * 100) if flag else "compact"}]}], "validate_only": False})
        elif name == "delete_records":
            response = request(cluster, ApiKey.DELETE_RECORDS, 2, {"topics": [{"name": topic, "partitions": [
                {"partition_index": number, "offset": generation}]}]})
        else:
            response = request(cluster, ApiKey.PRODUCE, 9, produce_body(topic, number, batch(b"v")))
        if response is not None:
            learned = response.get("member_id")
            if isinstance(learned, str) and learned and learned not in members:
                members.append(learned)
    assert cluster.internal_errors == []
    with Wire(cluster.brokers[1]) as wire:
        assert wire.call(ApiKey.DESCRIBE_GROUPS, 6, {"groups": GROUPS})["groups"][0]["group_id"] == "g"
