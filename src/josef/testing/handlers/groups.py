"""The group coordinator's APIs: JoinGroup (v0-v9), SyncGroup (v0-v5), Heartbeat (v0-v4), LeaveGroup
(v0-v5), OffsetCommit (v2-v10), OffsetFetch (v1-v10), DescribeGroups (v0-v6), ListGroups (v0-v5),
DeleteGroups (v0-v3) and OffsetDelete (v0).

The rebalance state machine lives in :mod:`josef.testing.groups`; these functions check the request
(coordinator, member, generation), feed it to the state machine and shape the answer.  A JoinGroup, and
a follower's SyncGroup, wait (a long poll) until the state machine answers them.

Simplifications: a static member (``group.instance.id``) that rejoins under a new member id replaces the
old one and triggers a rebalance; committed leader epochs are not kept (OffsetFetch answers -1);
OffsetDelete refuses with GROUP_SUBSCRIBED_TO_TOPIC whenever the group has members.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from josef.errors import ErrorCode
from josef.testing.groups import (
    Group,
    GroupState,
    Member,
    Ticket,
    complete_sync,
    maybe_complete_join,
    prepare_rebalance,
    remove_member,
)
from josef.testing.handlers.base import Reply, Request
from josef.testing.state import ClusterState

__all__ = [
    "group_coordinator_error",
    "handle_delete_groups",
    "handle_describe_groups",
    "handle_heartbeat",
    "handle_join_group",
    "handle_leave_group",
    "handle_list_groups",
    "handle_offset_commit",
    "handle_offset_delete",
    "handle_offset_fetch",
    "handle_sync_group",
]

_MAX_METADATA = 4096  # offset.metadata.max.bytes
_WAIT_MARGIN = 5.0  # a waiting join/sync is answered by the state machine well before this
CLIENT_HOST = "/127.0.0.1"


def group_coordinator_error(state: ClusterState, req: Request, group_id: str) -> int:
    """The error for a group request sent to ``req.broker``: injected, COORDINATOR_NOT_AVAILABLE,
    NOT_COORDINATOR or INVALID_GROUP_ID; 0 if this broker coordinates the group."""
    if req.error is not None:
        return req.error
    node = state.coordinator_for(0, group_id)
    if node < 0:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if node != req.broker:
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.NONE


def _waiting(req: Request, ticket: Ticket, timeout_ms: int,
             shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Reply:
    """A long poll answered when the state machine fills ``ticket`` (REBALANCE_IN_PROGRESS if it never does)."""

    def poll(force: bool) -> dict[str, Any] | None:
        if ticket.result is not None:
            return shape(ticket.result)
        if force:
            return shape({"error_code": ErrorCode.REBALANCE_IN_PROGRESS})
        return None

    return Reply(None, wait=poll, wait_until=req.now + timeout_ms / 1000 + _WAIT_MARGIN)


# -- JoinGroup -----------------------------------------------------------------------------------


def handle_join_group(state: ClusterState, req: Request) -> Reply:
    body = req.body
    group_id: str = body["group_id"]
    member_id: str = body["member_id"]
    instance_id: str | None = body.get("group_instance_id")
    protocols = [(p["name"], p["metadata"]) for p in body["protocols"]]
    session_ms = body["session_timeout_ms"]
    rebalance_ms = body.get("rebalance_timeout_ms", -1)
    if rebalance_ms < 0:
        rebalance_ms = session_ms
    v = req.version

    def shape(result: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"throttle_time_ms": req.throttle_ms, "generation_id": -1, "protocol_type": None,
               "protocol_name": None if v >= 7 else "", "leader": "", "member_id": member_id, "members": []}
        out.update(result)
        if v < 7 and out["protocol_name"] is None:
            out["protocol_name"] = ""
        return out

    def answer(code: int, **extra: Any) -> Reply:
        return Reply(shape({"error_code": code, **extra}))

    code = group_coordinator_error(state, req, group_id) if group_id else ErrorCode.INVALID_GROUP_ID
    if code:
        return answer(code)
    config = state.config
    if not config.group_min_session_timeout_ms <= session_ms <= config.group_max_session_timeout_ms:
        return answer(ErrorCode.INVALID_SESSION_TIMEOUT)
    group = state.groups.get(group_id)
    if group is None or group.state == GroupState.DEAD:
        if member_id:
            return answer(ErrorCode.UNKNOWN_MEMBER_ID)
        group = state.groups[group_id] = Group(group_id)
    protocol_type = body["protocol_type"]
    if not protocol_type or not protocols:
        return answer(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    others = [m for m in group.members.values() if m.member_id != member_id]
    if others and (group.protocol_type != protocol_type or not _common(others, protocols)):
        return answer(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    now = req.now

    def new_member(mid: str) -> Reply:
        member = Member(mid, instance_id, req.client_id or "", CLIENT_HOST, session_ms, rebalance_ms,
                        protocol_type, protocols, last_seen=now, awaiting_join=True)
        ticket = Ticket()
        member.join_tickets.append(ticket)
        group.members[mid] = member
        group.protocol_type = protocol_type
        if instance_id is not None:
            group.static[instance_id] = mid
        if group.state == GroupState.PREPARING_REBALANCE:
            maybe_complete_join(group, now)
        else:
            prepare_rebalance(group, now)
        return _waiting(req, ticket, rebalance_ms, shape)

    if not member_id:
        if instance_id is not None:
            old = group.static.get(instance_id)
            if old is not None:
                remove_member(group, old, now, ErrorCode.FENCED_INSTANCE_ID, rebalance=False)
            return new_member(group.new_member_id(req.client_id))
        if v >= 4:
            fresh = group.new_member_id(req.client_id)
            group.pending[fresh] = now + session_ms / 1000
            return answer(ErrorCode.MEMBER_ID_REQUIRED, member_id=fresh)
        return new_member(group.new_member_id(req.client_id))
    if member_id in group.pending:
        del group.pending[member_id]
        return new_member(member_id)
    member = group.members.get(member_id)
    if member is None:
        return answer(ErrorCode.UNKNOWN_MEMBER_ID)
    if instance_id is not None and group.static.get(instance_id) != member_id:
        return answer(ErrorCode.FENCED_INSTANCE_ID)
    member.last_seen = now
    changed = member.protocols != protocols
    member.protocols = protocols
    member.session_timeout_ms, member.rebalance_timeout_ms = session_ms, rebalance_ms
    if group.state == GroupState.COMPLETING_REBALANCE and not changed:
        return answer(**group.join_answer(member))
    if group.state == GroupState.STABLE and not changed and member_id != group.leader:
        return answer(**group.join_answer(member))
    ticket = Ticket()
    member.join_tickets.append(ticket)
    member.awaiting_join = True
    if group.state == GroupState.PREPARING_REBALANCE:
        maybe_complete_join(group, now)
    else:
        prepare_rebalance(group, now)
    return _waiting(req, ticket, rebalance_ms, shape)


def _common(members: list[Member], protocols: list[tuple[str, bytes]]) -> bool:
    names = {name for name, _ in protocols}
    for member in members:
        names &= {name for name, _ in member.protocols}
    return bool(names)


# -- SyncGroup, Heartbeat, LeaveGroup ------------------------------------------------------------


def _member_check(state: ClusterState, req: Request, group_id: str, member_id: str, generation: int,
                  instance_id: str | None) -> tuple[int, Group | None, Member | None]:
    """Coordinator, member, static instance and generation checks shared by SyncGroup and Heartbeat."""
    code = group_coordinator_error(state, req, group_id)
    if code:
        return code, None, None
    group = state.groups.get(group_id)
    member = group.members.get(member_id) if group is not None else None
    if group is None or member is None:
        return ErrorCode.UNKNOWN_MEMBER_ID, group, None
    if instance_id is not None and group.static.get(instance_id) != member_id:
        return ErrorCode.FENCED_INSTANCE_ID, group, None
    if generation != group.generation:
        return ErrorCode.ILLEGAL_GENERATION, group, member
    return ErrorCode.NONE, group, member


def handle_sync_group(state: ClusterState, req: Request) -> Reply:
    body = req.body

    def shape(result: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"throttle_time_ms": req.throttle_ms, "error_code": ErrorCode.NONE, "protocol_type": None,
               "protocol_name": None, "assignment": b""}
        out.update(result)
        return out

    code, group, member = _member_check(state, req, body["group_id"], body["member_id"], body["generation_id"],
                                        body.get("group_instance_id"))
    if code or group is None or member is None:
        return Reply(shape({"error_code": code}))
    if (body.get("protocol_type") not in (None, group.protocol_type)
            or body.get("protocol_name") not in (None, group.protocol)):
        return Reply(shape({"error_code": ErrorCode.INCONSISTENT_GROUP_PROTOCOL}))
    member.last_seen = req.now
    names = {"protocol_type": group.protocol_type, "protocol_name": group.protocol}
    if group.state == GroupState.STABLE:
        return Reply(shape({**names, "assignment": member.assignment}))
    if group.state != GroupState.COMPLETING_REBALANCE:
        return Reply(shape({"error_code": ErrorCode.REBALANCE_IN_PROGRESS}))
    if member.member_id == group.leader:
        complete_sync(group, {a["member_id"]: a["assignment"] for a in body["assignments"]}, req.now)
        return Reply(shape({**names, "assignment": member.assignment}))
    ticket = Ticket()
    member.sync_tickets.append(ticket)
    return _waiting(req, ticket, member.rebalance_timeout_ms,
                    lambda result: shape({**names, **result} if result["error_code"] == ErrorCode.NONE else result))


def handle_heartbeat(state: ClusterState, req: Request) -> Reply:
    body = req.body
    code, group, member = _member_check(state, req, body["group_id"], body["member_id"], body["generation_id"],
                                        body.get("group_instance_id"))
    if member is not None:
        member.last_seen = req.now
    if not code and group is not None and group.state == GroupState.PREPARING_REBALANCE:
        code = ErrorCode.REBALANCE_IN_PROGRESS
    return Reply({"throttle_time_ms": req.throttle_ms, "error_code": code})


def handle_leave_group(state: ClusterState, req: Request) -> Reply:
    body = req.body
    group_id = body["group_id"]
    code = group_coordinator_error(state, req, group_id)
    group = state.groups.get(group_id)
    if req.version < 3:
        if not code and (group is None or body["member_id"] not in group.members):
            code = ErrorCode.UNKNOWN_MEMBER_ID
        if not code and group is not None:
            remove_member(group, body["member_id"], req.now)
        return Reply({"throttle_time_ms": req.throttle_ms, "error_code": code})
    results = []
    for identity in body["members"] if not code else []:
        member_id, instance_id = identity["member_id"], identity["group_instance_id"]
        target = member_id
        if group is not None and not member_id and instance_id is not None:
            target = group.static.get(instance_id, "")
        c = ErrorCode.NONE
        if group is None or target not in group.members:
            c = ErrorCode.UNKNOWN_MEMBER_ID
        elif instance_id is not None and group.static.get(instance_id) != target:
            c = ErrorCode.FENCED_INSTANCE_ID
        else:
            remove_member(group, target, req.now)
        results.append({"member_id": member_id, "group_instance_id": instance_id, "error_code": c})
    return Reply({"throttle_time_ms": req.throttle_ms, "error_code": code, "members": results})


# -- offsets ---------------------------------------------------------------------------------------


def _topic_of(state: ClusterState, entry: dict[str, Any], version: int, from_version: int) -> str:
    """The topic an offsets request entry names: by id from ``from_version``, else by name ("" if unknown)."""
    if version >= from_version:
        topic = state.topics_by_id.get(entry["topic_id"])
        return topic.name if topic is not None else ""
    name: str = entry["name"]
    return name


def handle_offset_commit(state: ClusterState, req: Request) -> Reply:
    body = req.body
    group_id = body["group_id"]
    generation = body.get("generation_id_or_member_epoch", -1)
    member_id = body.get("member_id", "")
    code = group_coordinator_error(state, req, group_id) if group_id else ErrorCode.INVALID_GROUP_ID
    group = state.groups.get(group_id)
    if not code:
        if generation < 0 and (group is None or not group.members):
            if group is None:
                group = state.groups[group_id] = Group(group_id)
        elif group is None or member_id not in group.members:
            code = ErrorCode.UNKNOWN_MEMBER_ID
        elif generation != group.generation:
            code = ErrorCode.ILLEGAL_GENERATION
        elif group.state == GroupState.COMPLETING_REBALANCE:
            code = ErrorCode.REBALANCE_IN_PROGRESS
        else:
            group.members[member_id].last_seen = req.now
    offsets = state.group_offsets.setdefault(group_id, {}) if not code else {}
    topics = []
    for t in body["topics"]:
        name = _topic_of(state, t, req.version, 10)
        parts = []
        for p in t["partitions"]:
            index = p["partition_index"]
            c = req.error_for(name, index)
            if c is None:
                c = code
            if not c:
                if state.partition(name, index) is None:
                    c = ErrorCode.UNKNOWN_TOPIC_ID if req.version >= 10 and not name else \
                        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif len((p["committed_metadata"] or "").encode()) > _MAX_METADATA:
                    c = ErrorCode.OFFSET_METADATA_TOO_LARGE
                else:
                    offsets[(name, index)] = (p["committed_offset"], p["committed_metadata"])
            parts.append({"partition_index": index, "error_code": c})
        topics.append({"name": name, "topic_id": t.get("topic_id"), "partitions": parts})
    return Reply({"throttle_time_ms": req.throttle_ms, "topics": topics})


def _unstable(state: ClusterState, group_id: str, tp: tuple[str, int]) -> bool:
    """Whether an open transaction holds an offset for ``tp`` not committed yet (for require_stable)."""
    return any(tp in txn.pending_offsets.get(group_id, {}) for txn in state.transactions.values())


def _fetch_group(state: ClusterState, req: Request, group_id: str, topics: list[dict[str, Any]] | None,
                 require_stable: bool, by_id: bool) -> tuple[int, list[dict[str, Any]]]:
    code = group_coordinator_error(state, req, group_id)
    offsets = state.group_offsets.get(group_id, {})
    if topics is None:
        wanted: dict[str, list[int]] = {}
        for name, index in sorted(offsets):
            wanted.setdefault(name, []).append(index)
        named = [(name, None, indexes) for name, indexes in wanted.items()]
    else:
        named = [(_topic_of(state, t, 10 if by_id else 0, 10), t.get("topic_id"), t["partition_indexes"])
                 for t in topics]
    out = []
    for name, topic_id, indexes in named:
        parts = []
        for index in indexes:
            offset, metadata = offsets.get((name, index), (-1, ""))
            c = code
            if not c and require_stable and _unstable(state, group_id, (name, index)):
                c = ErrorCode.UNSTABLE_OFFSET_COMMIT
            if c:
                offset, metadata = -1, ""
            parts.append({"partition_index": index, "committed_offset": offset, "committed_leader_epoch": -1,
                          "metadata": metadata, "error_code": c})
        topic = state.topics.get(name)
        if topic_id is None:
            topic_id = topic.topic_id if topic is not None else uuid.UUID(int=0)
        out.append({"name": name, "topic_id": topic_id, "partitions": parts})
    return code, out


def handle_offset_fetch(state: ClusterState, req: Request) -> Reply:
    body = req.body
    stable = body.get("require_stable", False)
    if req.version < 8:
        code, topics = _fetch_group(state, req, body["group_id"], body["topics"], stable, False)
        for t in topics:
            del t["topic_id"]  # the v0-v7 topics have names only
        if req.version < 2 and code:
            for t in topics:
                for p in t["partitions"]:
                    p["error_code"] = code
        return Reply({"throttle_time_ms": req.throttle_ms, "topics": topics, "error_code": code})
    groups = []
    for g in body["groups"]:
        code, topics = _fetch_group(state, req, g["group_id"], g["topics"], stable, req.version >= 10)
        groups.append({"group_id": g["group_id"], "topics": topics, "error_code": code})
    return Reply({"throttle_time_ms": req.throttle_ms, "groups": groups})


def handle_offset_delete(state: ClusterState, req: Request) -> Reply:
    body = req.body
    group_id = body["group_id"]
    code = group_coordinator_error(state, req, group_id)
    group = state.groups.get(group_id)
    if not code and group is None and group_id not in state.group_offsets:
        code = ErrorCode.GROUP_ID_NOT_FOUND
    offsets = state.group_offsets.get(group_id, {})
    topics = []
    for t in body["topics"] if not code else []:
        parts = []
        for p in t["partitions"]:
            c = ErrorCode.NONE
            if state.partition(t["name"], p["partition_index"]) is None:
                c = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif group is not None and group.members:
                c = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            else:
                offsets.pop((t["name"], p["partition_index"]), None)
            parts.append({"partition_index": p["partition_index"], "error_code": c})
        topics.append({"name": t["name"], "partitions": parts})
    return Reply({"error_code": code, "throttle_time_ms": req.throttle_ms, "topics": topics})


# -- describing and deleting groups ----------------------------------------------------------------


def _listed(state: ClusterState, req: Request) -> list[Group]:
    """The groups this broker coordinates (as a broker lists only its own)."""
    return [g for g in state.groups.values()
            if g.state != GroupState.DEAD and state.coordinator_for(0, g.group_id) == req.broker]


def handle_describe_groups(state: ClusterState, req: Request) -> Reply:
    out = []
    for group_id in req.body["groups"]:
        entry: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None, "group_id": group_id,
                                 "group_state": "Dead", "protocol_type": "", "protocol_data": "", "members": []}
        out.append(entry)
        code = group_coordinator_error(state, req, group_id)
        group = state.groups.get(group_id)
        if code:
            entry["error_code"] = code
            continue
        if group is None:
            if req.version >= 6:
                entry.update(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=f"group {group_id} not found")
            continue
        stable = group.state == GroupState.STABLE
        entry.update(group_state=group.state.value, protocol_type=group.protocol_type,
                     protocol_data=(group.protocol or "") if stable else "")
        entry["members"] = [
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
             "client_host": m.client_host, "member_metadata": m.metadata(group.protocol) if stable else b"",
             "member_assignment": m.assignment if stable else b""}
            for m in group.members.values()
        ]
    return Reply({"throttle_time_ms": req.throttle_ms, "groups": out})


def handle_list_groups(state: ClusterState, req: Request) -> Reply:
    body = req.body
    states = {s.lower() for s in body.get("states_filter") or []}
    types = {t.lower() for t in body.get("types_filter") or []}
    groups = []
    if req.error is None:
        for g in _listed(state, req):
            if states and g.state.value.lower() not in states:
                continue
            if types and "classic" not in types:
                continue
            groups.append({"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.state.value,
                           "group_type": "classic"})
    return Reply({"throttle_time_ms": req.throttle_ms, "error_code": req.error or ErrorCode.NONE, "groups": groups})


def handle_delete_groups(state: ClusterState, req: Request) -> Reply:
    results = []
    for group_id in req.body["groups_names"]:
        code = group_coordinator_error(state, req, group_id)
        group = state.groups.get(group_id)
        if not code:
            if group is None and group_id not in state.group_offsets:
                code = ErrorCode.GROUP_ID_NOT_FOUND
            elif group is not None and group.members:
                code = ErrorCode.NON_EMPTY_GROUP
            else:
                state.groups.pop(group_id, None)
                state.group_offsets.pop(group_id, None)
        results.append({"group_id": group_id, "error_code": code, "error_message": None})
    return Reply({"throttle_time_ms": req.throttle_ms, "results": results})
