"""Transactions: atomic writes across partitions and topics, and consumed offsets committed
with them (exactly-once consume-transform-produce).

* :mod:`~josef._core.transactions.types`: the public value types and input forms;
* :mod:`~josef._core.transactions.state`: the state table and the error classification;
* :mod:`~josef._core.transactions.requests`: one class per coordinator request kind;
* :mod:`~josef._core.transactions.queue`, :mod:`~josef._core.transactions.core`,
  :mod:`~josef._core.transactions.manager`: the manager (see its docstring for the protocol).
"""

from __future__ import annotations

from josef._core.transactions.manager import TransactionManager, wait_for
from josef._core.transactions.state import TxnState, check_transition
from josef._core.transactions.types import (
    ConsumerGroupMetadata,
    OffsetAndMetadata,
    TxnResult,
    normalize_group_metadata,
    normalize_offsets,
)
from josef.errors import TransactionAbortedError, TransactionAbortRequiredError
from josef.types import TopicPartition

__all__ = [
    "ConsumerGroupMetadata",
    "OffsetAndMetadata",
    "TopicPartition",
    "TransactionAbortRequiredError",
    "TransactionAbortedError",
    "TransactionManager",
    "TxnResult",
    "TxnState",
    "check_transition",
    "normalize_group_metadata",
    "normalize_offsets",
    "wait_for",
]
