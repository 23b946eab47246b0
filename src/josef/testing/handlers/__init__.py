"""Request handlers of the mock cluster: one function per API key, grouped in a few modules.

A handler is ``handler(state, request) -> Reply``.  It runs on the server thread, may change ``state``,
and never touches sockets or the clock (``request.now`` is given).  The server encodes the reply's body
with the request's version, adds delays and applies the faults scripted for the request.

Supported APIs and versions (:data:`SUPPORTED`) are those of :mod:`josef._core.protocol` (whose codec the mock
shares with the producer), except EndTxn, which stops at v4: v5 belongs to transactions v2 (KIP-890),
which the mock does not advertise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from josef._core.protocol import CLIENT_VERSIONS, ApiKey
from josef._core.protocol.types import AddPartitionsToTxnRequest
from josef.testing.handlers import admin, cluster_info, fetch, groups, produce, transactions
from josef.testing.handlers.base import Reply, Request
from josef.testing.state import ClusterState

__all__ = ["HANDLERS", "SUPPORTED", "Handler", "Reply", "Request", "partitions_named"]


Handler = Callable[[ClusterState, Request], Reply]

HANDLERS: dict[int, Handler] = {
    ApiKey.PRODUCE: produce.handle_produce,
    ApiKey.FETCH: fetch.handle_fetch,
    ApiKey.LIST_OFFSETS: fetch.handle_list_offsets,
    ApiKey.METADATA: cluster_info.handle_metadata,
    ApiKey.API_VERSIONS: cluster_info.handle_api_versions,
    ApiKey.FIND_COORDINATOR: cluster_info.handle_find_coordinator,
    ApiKey.CREATE_TOPICS: admin.handle_create_topics,
    ApiKey.INIT_PRODUCER_ID: transactions.handle_init_producer_id,
    ApiKey.ADD_PARTITIONS_TO_TXN: transactions.handle_add_partitions_to_txn,
    ApiKey.ADD_OFFSETS_TO_TXN: transactions.handle_add_offsets_to_txn,
    ApiKey.END_TXN: transactions.handle_end_txn,
    ApiKey.TXN_OFFSET_COMMIT: transactions.handle_txn_offset_commit,
    ApiKey.JOIN_GROUP: groups.handle_join_group,
    ApiKey.SYNC_GROUP: groups.handle_sync_group,
    ApiKey.HEARTBEAT: groups.handle_heartbeat,
    ApiKey.LEAVE_GROUP: groups.handle_leave_group,
    ApiKey.OFFSET_COMMIT: groups.handle_offset_commit,
    ApiKey.OFFSET_FETCH: groups.handle_offset_fetch,
    ApiKey.OFFSET_DELETE: groups.handle_offset_delete,
    ApiKey.DESCRIBE_GROUPS: groups.handle_describe_groups,
    ApiKey.LIST_GROUPS: groups.handle_list_groups,
    ApiKey.DELETE_GROUPS: groups.handle_delete_groups,
    ApiKey.DELETE_TOPICS: admin.handle_delete_topics,
    ApiKey.CREATE_PARTITIONS: admin.handle_create_partitions,
    ApiKey.DESCRIBE_CONFIGS: admin.handle_describe_configs,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: admin.handle_incremental_alter_configs,
    ApiKey.DESCRIBE_CLUSTER: admin.handle_describe_cluster,
    ApiKey.DELETE_RECORDS: admin.handle_delete_records,
}

#: The versions the mock advertises in ApiVersions, per API key (a cluster can narrow them).
SUPPORTED: dict[int, tuple[int, int]] = {key: CLIENT_VERSIONS[ApiKey(key)] for key in HANDLERS}
SUPPORTED[ApiKey.END_TXN] = (SUPPORTED[ApiKey.END_TXN][0], 4)


_BY_NAME_AND_INDEX = (ApiKey.TXN_OFFSET_COMMIT, ApiKey.DELETE_RECORDS, ApiKey.OFFSET_COMMIT)


def partitions_named(state: ClusterState, api_key: int, version: int, body: dict[str, Any]) -> list[tuple[str, int]]:
    """The topic partitions a request is about (for faults scoped to one partition)."""
    out: list[tuple[str, int]] = []
    if api_key == ApiKey.PRODUCE:
        for t in body["topic_data"]:
            name = produce.topic_name(state, t, version)
            out.extend((name, p["index"]) for p in t["partition_data"])
    elif api_key == ApiKey.FETCH:
        for t in body["topics"]:
            name = fetch.fetch_topic_name(state, t, version)
            out.extend((name, p["partition"]) for p in t["partitions"])
    elif api_key == ApiKey.LIST_OFFSETS:
        for t in body["topics"]:
            out.extend((t["name"], p["partition_index"]) for p in t["partitions"])
    elif api_key == ApiKey.ADD_PARTITIONS_TO_TXN:
        for t in transactions.requested_topics(cast(AddPartitionsToTxnRequest, body), version):
            out.extend((t["name"], p) for p in t["partitions"])
    elif api_key in _BY_NAME_AND_INDEX and not (api_key == ApiKey.OFFSET_COMMIT and version >= 10):
        for t in body["topics"]:
            out.extend((t["name"], p["partition_index"]) for p in t["partitions"])
    return out
