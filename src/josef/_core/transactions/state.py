"""The transaction state table, and what a coordinator error means for a transactional producer.

Pure data and functions: no I/O, no locks. The manager moves between these states; every move
is checked against :data:`TRANSITIONS`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from josef._core.protocol import ApiKey
from josef.errors import ErrorCode, IllegalStateError, ProducerFencedError, error_for_code


class TxnState(enum.Enum):
    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    READY = "ready"
    IN_TRANSACTION = "in transaction"
    COMMITTING = "committing"
    ABORTING = "aborting"
    ABORTABLE_ERROR = "abortable error"
    FATAL_ERROR = "fatal error"


_S = TxnState
# Every allowed move, from -> to. FATAL_ERROR is terminal.
TRANSITIONS: dict[TxnState, frozenset[TxnState]] = {
    _S.UNINITIALIZED: frozenset({_S.INITIALIZING, _S.FATAL_ERROR}),
    _S.INITIALIZING: frozenset({_S.READY, _S.FATAL_ERROR}),
    _S.READY: frozenset({_S.IN_TRANSACTION, _S.FATAL_ERROR}),
    _S.IN_TRANSACTION: frozenset({_S.COMMITTING, _S.ABORTING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    _S.COMMITTING: frozenset({_S.READY, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    # INITIALIZING: a transactions-v1 epoch bump after aborting a transaction that had failed
    # batches; ABORTABLE_ERROR: the abort itself met an abortable error (abort again).
    _S.ABORTING: frozenset({_S.READY, _S.INITIALIZING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR}),
    _S.ABORTABLE_ERROR: frozenset({_S.ABORTING, _S.FATAL_ERROR}),
    _S.FATAL_ERROR: frozenset(),
}

# Queued records of a transaction in these states are failed instead of sent.
FAIL_QUEUED = frozenset({_S.ABORTING, _S.ABORTABLE_ERROR, _S.FATAL_ERROR})
# Records may be sent (and partitions added) in these states.
DRAINABLE = frozenset({_S.IN_TRANSACTION, _S.COMMITTING})


def check_transition(source: TxnState, target: TxnState) -> None:
    if target not in TRANSITIONS[source]:
        raise IllegalStateError(
            f"invalid transaction state transition from {source.value} to {target.value}"
        )


# -- error classification -----------------------------------------------------------------------


class Verdict(enum.IntEnum):
    """What to do about a coordinator error, in increasing severity."""

    RETRY = 0
    REDISCOVER = 1  # find the coordinator again, then retry
    ABORTABLE = 2
    FATAL = 3
    FENCED = 4


E = ErrorCode
COORDINATOR_MOVED = frozenset({E.COORDINATOR_NOT_AVAILABLE, E.NOT_COORDINATOR})
_RETRY_CODES = frozenset({E.COORDINATOR_LOAD_IN_PROGRESS, E.CONCURRENT_TRANSACTIONS})
_FENCED_CODES = frozenset({E.INVALID_PRODUCER_EPOCH, E.PRODUCER_FENCED})
_FATAL_CODES = frozenset({
    E.CLUSTER_AUTHORIZATION_FAILED, E.UNSUPPORTED_VERSION, E.UNSUPPORTED_FOR_MESSAGE_FORMAT,
    E.INVALID_TXN_STATE, E.INVALID_PRODUCER_ID_MAPPING, E.INVALID_TRANSACTION_TIMEOUT,
    E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
})
_ABORTABLE_CODES = frozenset({E.TOPIC_AUTHORIZATION_FAILED, E.GROUP_AUTHORIZATION_FAILED, E.TRANSACTION_ABORTABLE})
# TxnOffsetCommit: the consumer was fenced by a rebalance or the group changed generation scheme.
_GROUP_FENCED = frozenset({
    E.ILLEGAL_GENERATION, E.UNKNOWN_MEMBER_ID, E.FENCED_INSTANCE_ID, E.FENCED_MEMBER_EPOCH,
    E.UNRELEASED_INSTANCE_ID,
})
# Errors of a failed produce batch that are fatal to a transactional producer.
FATAL_BATCH_ERRORS = frozenset({
    E.CLUSTER_AUTHORIZATION_FAILED, E.UNSUPPORTED_VERSION, E.INVALID_PRODUCER_ID_MAPPING,
    E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, E.PRODUCER_FENCED,
})


def classify(code: int, api: ApiKey) -> Verdict:
    """What a coordinator error code means for a transactional producer."""
    if code in COORDINATOR_MOVED:
        return Verdict.REDISCOVER
    if code == E.REQUEST_TIMED_OUT and api == ApiKey.TXN_OFFSET_COMMIT:
        return Verdict.REDISCOVER
    if code in _RETRY_CODES:
        return Verdict.RETRY
    if code in _FENCED_CODES:
        return Verdict.FENCED
    if code in _FATAL_CODES:
        return Verdict.FATAL
    if code in _ABORTABLE_CODES:
        return Verdict.ABORTABLE
    if api == ApiKey.TXN_OFFSET_COMMIT and code in _GROUP_FENCED:
        return Verdict.ABORTABLE
    error = error_for_code(code)
    return Verdict.RETRY if error.retriable else Verdict.FATAL


def fenced_error(code: int, what: str, message: str | None) -> ProducerFencedError:
    name = "PRODUCER_FENCED" if code == E.PRODUCER_FENCED else "INVALID_PRODUCER_EPOCH"
    return ProducerFencedError(
        f"{what}: {name}: another producer with the same transactional.id started (or the coordinator "
        f"aborted the transaction and bumped the epoch after transaction.timeout.ms); this producer "
        f"can only be closed" + (f" ({message})" if message else "")
    )


# -- per-transaction facts ------------------------------------------------------------------------


@dataclass
class TxnProgress:
    """What the current transaction has done so far (sender thread only)."""

    added: set[tuple[str, int]] = field(default_factory=set)  # v1: partitions in the transaction
    new_partitions: set[tuple[str, int]] = field(default_factory=set)  # v1: waiting for AddPartitionsToTxn
    touched: bool = False  # the coordinator knows of this transaction: EndTxn is needed
    # v1: a batch met INVALID_PRODUCER_EPOCH, so the coordinator has moved on (it timed the
    # transaction out, or a newer instance fenced us). EndTxn with our epoch is refused;
    # InitProducerId with it ends the transaction and bumps the epoch if we merely timed
    # out (KIP-588), and is refused as fenced if another instance took over.
    epoch_rejected: bool = False

    def reset(self) -> None:
        self.added.clear()
        self.new_partitions.clear()
        self.touched = False
        self.epoch_rejected = False
