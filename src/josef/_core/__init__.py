"""The sender-thread machinery: accumulator, sender, network, protocol, records, transactions.

Private: nothing here is public API. What users need is re-exported from :mod:`josef` and its
public modules (producer, aio, errors, config, serialization, future, prometheus, testing, cli).
"""
