"""The classic consumer-group protocol's coordinator state: groups, members, generations, rebalances.

This is the state machine a Kafka group coordinator runs for JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
kept apart from the wire handlers (:mod:`josef.testing.handlers.groups`) so it can be read on its own.
The coordinator never chooses assignments: the group leader (a client) does, in SyncGroup, so eager and
cooperative clients both work unchanged.

States, as Kafka names them::

    Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
    CompletingRebalance --leader's SyncGroup--> Stable --join, leave, session timeout--> PreparingRebalance

* A rebalance completes when every member has rejoined (and every member id handed out with
  MEMBER_ID_REQUIRED has joined or expired), or when the longest rebalance timeout runs out; members that
  did not rejoin are dropped.  Completing bumps the generation, picks the protocol every member supports
  (by vote), keeps the leader if it stayed, and answers every waiting JoinGroup; only the leader gets
  the member list.
* A member that sends nothing for its session timeout is removed (a member whose JoinGroup or SyncGroup
  is waiting is alive).  So is a leader that does not send SyncGroup within the rebalance timeout.
* Requests that wait (JoinGroup, a follower's SyncGroup) hold a :class:`Ticket` that the state machine
  fills in; the handler's long poll returns once it is.

Nothing here does I/O or reads the clock: ``now`` (monotonic seconds) is passed in.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from josef.errors import ErrorCode

__all__ = ["Group", "GroupState", "Member", "Ticket", "complete_join", "expire", "prepare_rebalance",
           "remove_member"]


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


class Ticket:
    """A waiting JoinGroup or SyncGroup: ``result`` is set (an error code plus what to answer) once decided."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: dict[str, Any] | None = None


@dataclass
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    last_seen: float = 0.0
    assignment: bytes = b""
    awaiting_join: bool = False
    join_tickets: list[Ticket] = field(default_factory=list)
    sync_tickets: list[Ticket] = field(default_factory=list)

    def metadata(self, protocol: str | None) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        return b""

    def alive_at(self, now: float) -> bool:
        waiting = bool(self.join_tickets or self.sync_tickets)
        return waiting or now - self.last_seen <= self.session_timeout_ms / 1000


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    # Member ids handed out with MEMBER_ID_REQUIRED, not joined yet -> when they expire.
    pending: dict[str, float] = field(default_factory=dict)
    # Static membership: group.instance.id -> member id.
    static: dict[str, str] = field(default_factory=dict)
    rebalance_deadline: float = 0.0
    sync_deadline: float = 0.0

    def new_member_id(self, client_id: str | None) -> str:
        return f"{client_id or 'member'}-{uuid.uuid4()}"

    def common_protocols(self, extra: list[tuple[str, bytes]] | None = None) -> set[str]:
        """Protocol names every member (and ``extra``, a joining member's list) supports."""
        lists = [m.protocols for m in self.members.values()] + ([extra] if extra is not None else [])
        if not lists:
            return set()
        common = {name for name, _ in lists[0]}
        for protocols in lists[1:]:
            common &= {name for name, _ in protocols}
        return common

    def join_answer(self, member: Member) -> dict[str, Any]:
        """What a JoinGroup of ``member`` gets for the current generation."""
        leader = member.member_id == self.leader
        members = [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                    "metadata": m.metadata(self.protocol)} for m in self.members.values()] if leader else []
        return {"error_code": ErrorCode.NONE, "generation_id": self.generation, "protocol_type": self.protocol_type,
                "protocol_name": self.protocol, "leader": self.leader or "", "member_id": member.member_id,
                "members": members}


def _vote(group: Group) -> str | None:
    candidates = group.common_protocols()
    votes: dict[str, int] = {}
    order: list[str] = []
    for member in group.members.values():
        for name, _ in member.protocols:
            if name in candidates:
                votes[name] = votes.get(name, 0) + 1
                if name not in order:
                    order.append(name)
                break
    if not votes:
        return None
    return max(order, key=lambda name: votes[name])


def _resolve(tickets: list[Ticket], result: dict[str, Any]) -> None:
    for ticket in tickets:
        if ticket.result is None:
            ticket.result = dict(result)
    tickets.clear()


def prepare_rebalance(group: Group, now: float) -> None:
    """Start (or keep) a rebalance: every member must rejoin before the longest rebalance timeout."""
    if group.state == GroupState.COMPLETING_REBALANCE:
        for member in group.members.values():
            _resolve(member.sync_tickets, {"error_code": ErrorCode.REBALANCE_IN_PROGRESS})
    if group.state != GroupState.PREPARING_REBALANCE:
        group.state = GroupState.PREPARING_REBALANCE
        longest = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        group.rebalance_deadline = now + longest / 1000
    maybe_complete_join(group, now)


def maybe_complete_join(group: Group, now: float) -> None:
    if group.state == GroupState.PREPARING_REBALANCE and not group.pending and all(
        m.awaiting_join for m in group.members.values()
    ):
        complete_join(group, now)


def complete_join(group: Group, now: float) -> None:
    """End the join phase: drop members that did not rejoin, start the next generation, answer the joins."""
    for member in [m for m in group.members.values() if not m.awaiting_join]:
        remove_member(group, member.member_id, now, ErrorCode.UNKNOWN_MEMBER_ID, rebalance=False)
    group.pending.clear()
    group.generation += 1
    if not group.members:
        group.state = GroupState.EMPTY
        group.protocol = None
        group.leader = None
        return
    group.protocol = _vote(group)
    if group.leader not in group.members:
        group.leader = next(iter(group.members))
    group.state = GroupState.COMPLETING_REBALANCE
    group.sync_deadline = now + max(m.rebalance_timeout_ms for m in group.members.values()) / 1000
    for member in group.members.values():
        member.awaiting_join = False
        member.assignment = b""
        member.last_seen = now
        _resolve(member.join_tickets, group.join_answer(member))


def complete_sync(group: Group, assignments: dict[str, bytes], now: float) -> None:
    """The leader's SyncGroup: store every member's assignment and answer the waiting followers."""
    group.state = GroupState.STABLE
    for member in group.members.values():
        member.assignment = assignments.get(member.member_id, b"")
        member.last_seen = now
        _resolve(member.sync_tickets, {"error_code": ErrorCode.NONE, "assignment": member.assignment})


def remove_member(group: Group, member_id: str, now: float, code: int = ErrorCode.UNKNOWN_MEMBER_ID,
                  *, rebalance: bool = True) -> None:
    """Remove a member (it left, expired, or was fenced); its waiting requests get ``code``."""
    member = group.members.pop(member_id, None)
    if member is None:
        return
    _resolve(member.join_tickets, {"error_code": code})
    _resolve(member.sync_tickets, {"error_code": code})
    if member.group_instance_id is not None and group.static.get(member.group_instance_id) == member_id:
        del group.static[member.group_instance_id]
    if not rebalance:
        return
    if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
        prepare_rebalance(group, now)
    else:
        maybe_complete_join(group, now)


def expire(group: Group, now: float) -> None:
    """Apply the timeouts: pending member ids, silent members, a late rebalance or a leader that never synced."""
    for member_id, deadline in list(group.pending.items()):
        if now > deadline:
            del group.pending[member_id]
            maybe_complete_join(group, now)
    for member in list(group.members.values()):
        if not member.alive_at(now):
            remove_member(group, member.member_id, now)
    if group.state == GroupState.PREPARING_REBALANCE and now >= group.rebalance_deadline:
        complete_join(group, now)
    elif group.state == GroupState.COMPLETING_REBALANCE and now >= group.sync_deadline:
        leader = group.leader
        if leader is not None:
            remove_member(group, leader, now)
