"""The schemas of every API josef speaks, one request/response pair per API.

The schema language is described in :mod:`josef._core.protocol.schema`.  Field names are Kafka's own (from the
public message specs) in snake_case; versions are those of Kafka 4.x.  ``versions`` on each API is what
josef implements, which may start above 0 where Kafka 4 dropped the old versions (KIP-896).
"""

from __future__ import annotations

import enum

from josef._core.protocol.schema import Api, parse_fields

__all__ = ["APIS", "CLIENT_VERSIONS", "ApiKey"]


class ApiKey(enum.IntEnum):
    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    TXN_OFFSET_COMMIT = 28
    DESCRIBE_CONFIGS = 32
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    INCREMENTAL_ALTER_CONFIGS = 44
    OFFSET_DELETE = 47
    DESCRIBE_CLUSTER = 60


def _api(key: ApiKey, versions: str, flexible: int | None, request: str, response: str) -> Api:
    lo, _, hi = versions.partition("-")
    name = key.name.title().replace("_", "")
    return Api(key, name, int(lo), int(hi), flexible, parse_fields(request), parse_fields(response))


# v9+ flexible.  v13 names topics by id (KIP-516) instead of by name.  Exactly one record batch per partition.
PRODUCE = _api(
    ApiKey.PRODUCE, "3-13", 9,
    """
    transactional_id     string  null
    acks                 int16            # -1 all in-sync replicas, 1 leader only, 0 no response
    timeout_ms           int32
    topic_data           []
      name               string  v0-12
      topic_id           uuid    v13+
      partition_data     []
        index            int32
        records          records null     # one RecordBatch v2
    """,
    """
    responses            []
      name               string  v0-12
      topic_id           uuid    v13+
      partition_responses []
        index            int32
        error_code       int16
        base_offset      int64
        log_append_time_ms int64 =-1      # -1 unless the topic uses LogAppendTime
        log_start_offset int64   v5+ =-1
        record_errors    []      v8+      # records that made the broker drop the batch
          batch_index    int32
          batch_index_error_message string null
        error_message    string  v8+ null
        current_leader   {}      v10+ tag0  # KIP-951 hint on NOT_LEADER_OR_FOLLOWER
          leader_id      int32   =-1
          leader_epoch   int32   =-1
    throttle_time_ms     int32
    node_endpoints       []      v10+ tag0  # endpoints of the leaders named in current_leader
      node_id            int32
      host               string
      port               int32
      rack               string  null
    """,
)  # fmt: skip

# v9+ flexible; v10+ topic ids; v12 topics by id (name null); v13 top-level error_code (KIP-1102).
# ``topics`` defaults to [] (no topics); pass None explicitly to ask for every topic.
METADATA = _api(
    ApiKey.METADATA, "1-13", 9,
    """
    topics               []      null =[]
      topic_id           uuid    v10+
      name               string  null10+
    allow_auto_topic_creation bool v4+ =True
    include_cluster_authorized_operations bool v8-10
    include_topic_authorized_operations bool v8+
    """,
    """
    throttle_time_ms     int32   v3+
    brokers              []
      node_id            int32
      host               string
      port               int32
      rack               string  null
    cluster_id           string  v2+ null
    controller_id        int32   =-1
    topics               []
      error_code         int16
      name               string  null12+
      topic_id           uuid    v10+
      is_internal        bool
      partitions         []
        error_code       int16
        partition_index  int32
        leader_id        int32
        leader_epoch     int32   v7+ =-1
        replica_nodes    []int32
        isr_nodes        []int32
        offline_replicas []int32 v5+
      topic_authorized_operations int32 v8+ =-2147483648
    cluster_authorized_operations int32 v8-10 =-2147483648
    error_code           int16   v13+
    """,
)  # fmt: skip

# v3+ flexible, but the response header is always v0.  A broker that does not know the requested
# version answers in v0 format with UNSUPPORTED_VERSION (see framing.decode_response).
API_VERSIONS = _api(
    ApiKey.API_VERSIONS, "0-4", 3,
    """
    client_software_name string  v3+
    client_software_version string v3+
    """,
    """
    error_code           int16
    api_keys             []
      api_key            int16
      min_version        int16
      max_version        int16
    throttle_time_ms     int32   v1+
    supported_features   []      v3+ tag0
      name               string
      min_version        int16
      max_version        int16
    finalized_features_epoch int64 v3+ tag1 =-1
    finalized_features   []      v3+ tag2   # e.g. transaction.version, metadata.version
      name               string
      max_version_level  int16
      min_version_level  int16
    zk_migration_ready   bool    v3+ tag3
    """,
)  # fmt: skip

# v3+ flexible; v4+ batches keys; key_type 0 = group, 1 = transaction.
FIND_COORDINATOR = _api(
    ApiKey.FIND_COORDINATOR, "0-6", 3,
    """
    key                  string  v0-3
    key_type             int8    v1+
    coordinator_keys     []string v4+
    """,
    """
    throttle_time_ms     int32   v1+
    error_code           int16   v0-3
    error_message        string  v1-3 null
    node_id              int32   v0-3
    host                 string  v0-3
    port                 int32   v0-3
    coordinators         []      v4+
      key                string
      node_id            int32
      host               string
      port               int32
      error_code         int16
      error_message      string  null
    """,
)  # fmt: skip

# v2+ flexible; v3+ carries the current id/epoch so the coordinator can bump the epoch (KIP-360).
INIT_PRODUCER_ID = _api(
    ApiKey.INIT_PRODUCER_ID, "0-5", 2,
    """
    transactional_id     string  null
    transaction_timeout_ms int32
    producer_id          int64   v3+ =-1
    producer_epoch       int16   v3+ =-1
    """,
    """
    throttle_time_ms     int32
    error_code           int16
    producer_id          int64   =-1
    producer_epoch       int16
    """,
)  # fmt: skip

# v3+ flexible; v4+ is the batched broker-to-broker form (clients use v3 and below).
ADD_PARTITIONS_TO_TXN = _api(
    ApiKey.ADD_PARTITIONS_TO_TXN, "0-5", 3,
    """
    transactions         []      v4+
      transactional_id   string
      producer_id        int64
      producer_epoch     int16
      verify_only        bool
      topics             []
        name             string
        partitions       []int32
    v3_and_below_transactional_id string v0-3
    v3_and_below_producer_id int64 v0-3
    v3_and_below_producer_epoch int16 v0-3
    v3_and_below_topics  []      v0-3
      name               string
      partitions         []int32
    """,
    """
    throttle_time_ms     int32
    error_code           int16   v4+
    results_by_transaction [] v4+
      transactional_id   string
      topic_results      []
        name             string
        results_by_partition []
          partition_index int32
          partition_error_code int16
    results_by_topic_v3_and_below [] v0-3
      name               string
      results_by_partition []
        partition_index  int32
        partition_error_code int16
    """,
)  # fmt: skip

ADD_OFFSETS_TO_TXN = _api(
    ApiKey.ADD_OFFSETS_TO_TXN, "0-4", 3,
    """
    transactional_id     string
    producer_id          int64
    producer_epoch       int16
    group_id             string
    """,
    """
    throttle_time_ms     int32
    error_code           int16
    """,
)  # fmt: skip

# v3+ flexible; v5 (transactions v2) returns the producer id/epoch to use next.
END_TXN = _api(
    ApiKey.END_TXN, "0-5", 3,
    """
    transactional_id     string
    producer_id          int64
    producer_epoch       int16
    committed            bool
    """,
    """
    throttle_time_ms     int32
    error_code           int16
    producer_id          int64   v5+ =-1
    producer_epoch       int16   v5+ =-1
    """,
)  # fmt: skip

# v3+ flexible and carries the group generation (or member epoch); v5 is the transactions-v2 form.
TXN_OFFSET_COMMIT = _api(
    ApiKey.TXN_OFFSET_COMMIT, "0-5", 3,
    """
    transactional_id     string
    group_id             string
    producer_id          int64
    producer_epoch       int16
    generation_id_or_member_epoch int32 v3+ =-1  # GenerationId in older specs
    member_id            string  v3+
    group_instance_id    string  v3+ null
    topics               []
      name               string
      partitions         []
        partition_index  int32
        committed_offset int64
        committed_leader_epoch int32 v2+ =-1
        committed_metadata string null
    """,
    """
    throttle_time_ms     int32
    topics               []
      name               string
      partitions         []
        partition_index  int32
        error_code       int16
    """,
)  # fmt: skip

# v5+ flexible; v7 returns topic ids.  num_partitions / replication_factor -1 = broker default.
CREATE_TOPICS = _api(
    ApiKey.CREATE_TOPICS, "2-7", 5,
    """
    topics               []
      name               string
      num_partitions     int32
      replication_factor int16
      assignments        []
        partition_index  int32
        broker_ids       []int32
      configs            []
        name             string
        value            string  null
    timeout_ms           int32   =60000
    validate_only        bool
    """,
    """
    throttle_time_ms     int32
    topics               []
      name               string
      topic_id           uuid    v7+
      error_code         int16
      error_message      string  null
      topic_config_error_code int16 v5+ tag0
      num_partitions     int32   v5+ =-1
      replication_factor int16   v5+ =-1
      configs            []      v5+ null
        name             string
        value            string  null
        read_only        bool
        config_source    int8    =-1
        is_sensitive     bool
    """,
)  # fmt: skip

SASL_HANDSHAKE = _api(
    ApiKey.SASL_HANDSHAKE, "0-1", None,
    """
    mechanism            string
    """,
    """
    error_code           int16
    mechanisms           []string
    """,
)  # fmt: skip

# v1+ returns session_lifetime_ms (KIP-368 re-authentication).
SASL_AUTHENTICATE = _api(
    ApiKey.SASL_AUTHENTICATE, "0-2", 2,
    """
    auth_bytes           bytes
    """,
    """
    error_code           int16
    error_message        string  null
    auth_bytes           bytes
    session_lifetime_ms  int64   v1+
    """,
)  # fmt: skip

# v6+ flexible.  replica_id defaults to -1 (a client, not a follower broker).
LIST_OFFSETS = _api(
    ApiKey.LIST_OFFSETS, "1-9", 6,
    """
    replica_id           int32   =-1
    isolation_level      int8    v2+
    topics               []
      name               string
      partitions         []
        partition_index  int32
        current_leader_epoch int32 v4+ =-1
        timestamp        int64              # -1 latest, -2 earliest, -3 max timestamp, ...
    """,
    """
    throttle_time_ms     int32   v2+
    topics               []
      name               string
      partitions         []
        partition_index  int32
        error_code       int16
        timestamp        int64   =-1
        offset           int64   =-1
        leader_epoch     int32   v4+ =-1
    """,
)  # fmt: skip

# v12+ flexible; v13+ topics by id; v15 moves replica_id into the tagged replica_state.
FETCH = _api(
    ApiKey.FETCH, "4-17", 12,
    """
    cluster_id           string  v12+ null tag0 =None
    replica_id           int32   v0-14 =-1
    replica_state        {}      v15+ tag1
      replica_id         int32   =-1
      replica_epoch      int64   =-1
    max_wait_ms          int32
    min_bytes            int32
    max_bytes            int32   =0x7fffffff
    isolation_level      int8
    session_id           int32   v7+
    session_epoch        int32   v7+ =-1
    topics               []
      topic              string  v0-12
      topic_id           uuid    v13+
      partitions         []
        partition        int32
        current_leader_epoch int32 v9+ =-1
        fetch_offset     int64
        last_fetched_epoch int32 v12+ =-1
        log_start_offset int64   v5+ =-1
        partition_max_bytes int32
        replica_directory_id uuid v17+ tag0
    forgotten_topics_data [] v7+
      topic              string  v7-12
      topic_id           uuid    v13+
      partitions         []int32
    rack_id              string  v11+
    """,
    """
    throttle_time_ms     int32
    error_code           int16   v7+
    session_id           int32   v7+
    responses            []
      topic              string  v0-12
      topic_id           uuid    v13+
      partitions         []
        partition_index  int32
        error_code       int16
        high_watermark   int64
        last_stable_offset int64 =-1
        log_start_offset int64   v5+ =-1
        diverging_epoch  {}      v12+ tag0
          epoch          int32   =-1
          end_offset     int64   =-1
        current_leader   {}      v12+ tag1
          leader_id      int32   =-1
          leader_epoch   int32   =-1
        snapshot_id      {}      v12+ tag2
          end_offset     int64   =-1
          epoch          int32   =-1
        aborted_transactions [] null
          producer_id    int64
          first_offset   int64
        preferred_read_replica int32 v11+ =-1
        records          records null
    node_endpoints       []      v16+ tag0
      node_id            int32
      host               string
      port               int32
      rack               string  null
    """,
)  # fmt: skip

# -- Consumer groups and administration ---------------------------------------------------------------
# Spoken by the mock cluster (josef.testing) so consumers and admin tools work against it; the producer
# does not send them.  Field lists and versions from Kafka 4.4's message specs; KIP-896 removed the
# versions below each range's start.

JOIN_GROUP = _api(
    ApiKey.JOIN_GROUP, "0-9", 6,
    """
    group_id              string
    session_timeout_ms    int32
    rebalance_timeout_ms  int32    v1+ =-1
    member_id             string
    group_instance_id     string   v5+ null
    protocol_type         string
    protocols             []
      name                string
      metadata            bytes
    reason                string   v8+ null
    """,
    """
    throttle_time_ms      int32    v2+
    error_code            int16
    generation_id         int32    =-1
    protocol_type         string   v7+ null
    protocol_name         string   null7+
    leader                string
    skip_assignment       bool     v9+
    member_id             string
    members               []
      member_id           string
      group_instance_id   string   v5+ null
      metadata            bytes
    """,
)  # fmt: skip

SYNC_GROUP = _api(
    ApiKey.SYNC_GROUP, "0-5", 4,
    """
    group_id              string
    generation_id         int32
    member_id             string
    group_instance_id     string   v3+ null
    protocol_type         string   v5+ null
    protocol_name         string   v5+ null
    assignments           []
      member_id           string
      assignment          bytes
    """,
    """
    throttle_time_ms      int32    v1+
    error_code            int16
    protocol_type         string   v5+ null
    protocol_name         string   v5+ null
    assignment            bytes
    """,
)  # fmt: skip

HEARTBEAT = _api(
    ApiKey.HEARTBEAT, "0-4", 4,
    """
    group_id              string
    generation_id         int32
    member_id             string
    group_instance_id     string   v3+ null
    """,
    """
    throttle_time_ms      int32    v1+
    error_code            int16
    """,
)  # fmt: skip

LEAVE_GROUP = _api(
    ApiKey.LEAVE_GROUP, "0-5", 4,
    """
    group_id              string
    member_id             string   v0-2
    members               []       v3+
      member_id           string   v3+
      group_instance_id   string   v3+ null
      reason              string   v5+ null
    """,
    """
    throttle_time_ms      int32    v1+
    error_code            int16
    members               []       v3+
      member_id           string   v3+
      group_instance_id   string   v3+ null
      error_code          int16    v3+
    """,
)  # fmt: skip

OFFSET_COMMIT = _api(
    ApiKey.OFFSET_COMMIT, "2-10", 8,
    """
    group_id              string
    generation_id_or_member_epoch int32 =-1
    member_id             string
    group_instance_id     string   v7+ null
    retention_time_ms     int64    v2-4 =-1
    topics                []
      name                string   v0-9
      topic_id            uuid     v10+
      partitions          []
        partition_index   int32
        committed_offset  int64
        committed_leader_epoch int32 v6+ =-1
        committed_metadata string  null
    """,
    """
    throttle_time_ms      int32    v3+
    topics                []
      name                string   v0-9
      topic_id            uuid     v10+
      partitions          []
        partition_index   int32
        error_code        int16
    """,
)  # fmt: skip

OFFSET_FETCH = _api(
    ApiKey.OFFSET_FETCH, "1-10", 6,
    """
    group_id              string   v0-7
    topics                []       v0-7 null2-7
      name                string   v0-7
      partition_indexes   []int32  v0-7
    groups                []       v8+
      group_id            string   v8+
      member_id           string   v9+ null
      member_epoch        int32    v9+ =-1
      topics              []       v8+ null
        name              string   v8-9
        topic_id          uuid     v10+
        partition_indexes []int32  v8+
    require_stable        bool     v7+
    """,
    """
    throttle_time_ms      int32    v3+
    topics                []       v0-7
      name                string   v0-7
      partitions          []       v0-7
        partition_index   int32    v0-7
        committed_offset  int64    v0-7
        committed_leader_epoch int32 v5-7 =-1
        metadata          string   v0-7 null0-7
        error_code        int16    v0-7
    error_code            int16    v2-7
    groups                []       v8+
      group_id            string   v8+
      topics              []       v8+
        name              string   v8-9
        topic_id          uuid     v10+
        partitions        []       v8+
          partition_index int32    v8+
          committed_offset int64   v8+
          committed_leader_epoch int32 v8+ =-1
          metadata        string   v8+ null
          error_code      int16    v8+
      error_code          int16    v8+
    """,
)  # fmt: skip

DESCRIBE_GROUPS = _api(
    ApiKey.DESCRIBE_GROUPS, "0-6", 5,
    """
    groups                []string
    include_authorized_operations bool v3+
    """,
    """
    throttle_time_ms      int32    v1+
    groups                []
      error_code          int16
      error_message       string   v6+ null
      group_id            string
      group_state         string
      protocol_type       string
      protocol_data       string
      members             []
        member_id         string
        group_instance_id string   v4+ null
        client_id         string
        client_host       string
        member_metadata   bytes
        member_assignment bytes
      authorized_operations int32  v3+ =-2147483648
    """,
)  # fmt: skip

LIST_GROUPS = _api(
    ApiKey.LIST_GROUPS, "0-5", 3,
    """
    states_filter         []string v4+
    types_filter          []string v5+
    """,
    """
    throttle_time_ms      int32    v1+
    error_code            int16
    groups                []
      group_id            string
      protocol_type       string
      group_state         string   v4+
      group_type          string   v5+
    """,
)  # fmt: skip

DELETE_GROUPS = _api(
    ApiKey.DELETE_GROUPS, "0-3", 2,
    """
    groups_names          []string
    """,
    """
    throttle_time_ms      int32
    results               []
      group_id            string
      error_code          int16
      error_message       string   v3+ null
    """,
)  # fmt: skip

OFFSET_DELETE = _api(
    ApiKey.OFFSET_DELETE, "0-0", None,
    """
    group_id              string
    topics                []
      name                string
      partitions          []
        partition_index   int32
    """,
    """
    error_code            int16
    throttle_time_ms      int32
    topics                []
      name                string
      partitions          []
        partition_index   int32
        error_code        int16
    """,
)  # fmt: skip

DELETE_TOPICS = _api(
    ApiKey.DELETE_TOPICS, "1-6", 4,
    """
    topics                []       v6+
      name                string   v6+ null
      topic_id            uuid     v6+
    topic_names           []string v0-5
    timeout_ms            int32
    """,
    """
    throttle_time_ms      int32
    responses             []
      name                string   null6+
      topic_id            uuid     v6+
      error_code          int16
      error_message       string   v5+ null
    """,
)  # fmt: skip

CREATE_PARTITIONS = _api(
    ApiKey.CREATE_PARTITIONS, "0-3", 2,
    """
    topics                []
      name                string
      count               int32
      assignments         []       null
        broker_ids        []int32
    timeout_ms            int32
    validate_only         bool
    """,
    """
    throttle_time_ms      int32
    results               []
      name                string
      error_code          int16
      error_message       string   null
    """,
)  # fmt: skip

DESCRIBE_CONFIGS = _api(
    ApiKey.DESCRIBE_CONFIGS, "1-4", 4,
    """
    resources             []
      resource_type       int8
      resource_name       string
      configuration_keys  []string null
    include_synonyms      bool
    include_documentation bool     v3+
    """,
    """
    throttle_time_ms      int32
    results               []
      error_code          int16
      error_message       string   null
      resource_type       int8
      resource_name       string
      configs             []
        name              string
        value             string   null
        read_only         bool
        config_source     int8     =-1
        is_sensitive      bool
        synonyms          []
          name            string
          value           string   null
          source          int8
        config_type       int8     v3+
        documentation     string   v3+ null
    """,
)  # fmt: skip

INCREMENTAL_ALTER_CONFIGS = _api(
    ApiKey.INCREMENTAL_ALTER_CONFIGS, "0-1", 1,
    """
    resources             []
      resource_type       int8
      resource_name       string
      configs             []
        name              string
        config_operation  int8
        value             string   null
    validate_only         bool
    """,
    """
    throttle_time_ms      int32
    responses             []
      error_code          int16
      error_message       string   null
      resource_type       int8
      resource_name       string
    """,
)  # fmt: skip

DESCRIBE_CLUSTER = _api(
    ApiKey.DESCRIBE_CLUSTER, "0-2", 0,
    """
    include_cluster_authorized_operations bool
    endpoint_type         int8     v1+ =1
    include_fenced_brokers bool    v2+
    """,
    """
    throttle_time_ms      int32
    error_code            int16
    error_message         string   null
    endpoint_type         int8     v1+ =1
    cluster_id            string
    controller_id         int32    =-1
    brokers               []
      broker_id           int32
      host                string
      port                int32
      rack                string   null
      is_fenced           bool     v2+
    cluster_authorized_operations int32 =-2147483648
    """,
)  # fmt: skip

DELETE_RECORDS = _api(
    ApiKey.DELETE_RECORDS, "0-2", 2,
    """
    topics                []
      name                string
      partitions          []
        partition_index   int32
        offset            int64
    timeout_ms            int32
    """,
    """
    throttle_time_ms      int32
    topics                []
      name                string
      partitions          []
        partition_index   int32
        low_watermark     int64
        error_code        int16
    """,
)  # fmt: skip


APIS: dict[int, Api] = {
    api.key: api
    for api in (
        PRODUCE, FETCH, LIST_OFFSETS, METADATA, FIND_COORDINATOR, SASL_HANDSHAKE, API_VERSIONS,
        CREATE_TOPICS, INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN,
        TXN_OFFSET_COMMIT, SASL_AUTHENTICATE,
        JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP, OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE_GROUPS,
        LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE, DELETE_TOPICS, CREATE_PARTITIONS, DESCRIBE_CONFIGS,
        INCREMENTAL_ALTER_CONFIGS, DESCRIBE_CLUSTER, DELETE_RECORDS,
    )
}  # fmt: skip

#: The (min, max) versions josef implements per API.
CLIENT_VERSIONS: dict[ApiKey, tuple[int, int]] = {
    ApiKey(key): (api.min_version, api.max_version) for key, api in APIS.items()
}
