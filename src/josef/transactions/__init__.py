"""Transactions: atomic writes across partitions and topics, and consumed offsets committed
with them (exactly-once consume-transform-produce).

* :mod:`~josef.transactions.types`: the public value types and input forms;
* :mod:`~josef.transactions.state`: the state table and the error classification;
* :mod:`~josef.transactions.requests`: one class per coordinator request kind;
* :mod:`~josef.transactions.queue`, :mod:`~josef.transactions.core`,
  :mod:`~josef.transactions.manager`: the manager (see its docstring for the protocol).
"""

from __future__ import annotations

from josef.errors import TransactionAbortedError, TransactionAbortRequiredError
from josef.transactions.manager import TransactionManager, wait_for
from josef.transactions.state import TxnState, check_transition
from josef.transactions.types import (
    ConsumerGroupMetadata,
    OffsetAndMetadata,
    TxnResult,
    normalize_group_metadata,
    normalize_offsets,
)
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
