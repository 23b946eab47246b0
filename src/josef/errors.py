"""Every exception josef raises, and one class per Kafka error code.

::

    KafkaError                          root; ``retriable`` says whether trying again may succeed
    ├── ProtocolError                   the peer sent bytes we cannot parse or broke the protocol
    ├── KafkaConnectionError            socket-level failure (retriable)
    ├── SslAuthenticationError          TLS handshake refused: untrusted or mismatched certificate (not retriable)
    ├── KafkaTimeoutError               a client-side deadline passed (retriable)
    │   ├── BufferExhaustedError        send() got no buffer memory within max.block.ms
    │   ├── MetadataTimeoutError        topic/partition not in metadata within max.block.ms
    │   └── DeliveryTimeoutError        record not acknowledged within delivery.timeout.ms
    ├── RecordTooLargeError             record or batch too large (client check or broker code 10)
    ├── SerializationError              a key/value serializer failed
    ├── ProducerClosedError             the producer is closed
    │   └── SenderStoppedError          its sender thread stopped on an error it could not survive
    ├── IllegalStateError               API misuse, e.g. a transactional call in the wrong state
    │   └── ProducerForkedError         a producer used in a child process after os.fork()
    ├── TransactionAbortedError         the record was not sent: its transaction was aborted
    ├── TransactionAbortRequiredError   the transaction cannot commit: abort_transaction(), then go on
    └── BrokerError                     a broker answered with an error code (code, name, description, ...)
        ├── InvalidMetadataError        stale metadata: refresh, then retry (3, 5, 6, 13, 56, 74, 100, ...)
        ├── CoordinatorError            find the coordinator again, then retry (14, 15, 16)
        ├── AuthorizationError          an ACL denied the operation (29, 30, 31, 53, 65)
        ├── AuthenticationError         SASL failed (33, 34, 58)
        ├── IdempotenceError            producer id / epoch / sequence state (45, 46, 47, 59)
        ├── TransactionError            transaction coordinator verdicts (48-52, 90, 105, 120)
        ├── GroupError                  consumer-group codes (22-27, 68, 69, 79, 81, 82, 86, 110-113, 134)
        ├── MessageTooLargeError        code 10; also a RecordTooLargeError
        ├── UnknownBrokerError          a code this version of josef does not know
        └── ...                         one class per remaining code, e.g. NotEnoughReplicasError (19)

``ErrorCode`` names every code (``ErrorCode.INVALID_TXN_STATE == 48``), so no module spells one as a number.
``error_for_code(code, message)`` builds the right instance for a code read off the wire.  The classes'
``retriable`` and ``invalid_metadata`` flags follow the Java client's classification (``RetriableException``
and ``InvalidMetadataException``), so CORRUPT_MESSAGE is retriable and MESSAGE_TOO_LARGE is not.

The per-code classes below the ``BEGIN GENERATED`` marker come from the table in ``tools/gen_errors.py``;
edit the table and rerun the tool rather than editing them by hand.
"""

from __future__ import annotations

import enum
from typing import Any

_BY_CODE: dict[int, type[BrokerError]] = {}


class KafkaError(Exception):
    """Root of every josef exception."""

    retriable: bool = False


class ProtocolError(KafkaError):
    """The peer sent bytes we cannot parse, or otherwise violated the Kafka protocol."""


class KafkaConnectionError(KafkaError):
    """A socket-level failure: connect refused, reset, TLS failure, unexpected EOF."""

    retriable = True


class SslAuthenticationError(KafkaError):
    """The TLS handshake failed for a reason trying again will not fix: the broker's certificate is
    not trusted or does not name the host, or the broker refused the client certificate."""


class KafkaTimeoutError(KafkaError):
    """A client-side deadline passed; trying again later may succeed."""

    retriable = True


class BufferExhaustedError(KafkaTimeoutError):
    """``send()`` could not get buffer memory within ``max.block.ms``."""


class MetadataTimeoutError(KafkaTimeoutError):
    """The topic or partition did not appear in metadata within ``max.block.ms``."""


class DeliveryTimeoutError(KafkaTimeoutError):
    """The record was not acknowledged within ``delivery.timeout.ms``.

    ``outcome_unknown`` is True when the record had been sent and no answer came in time: it
    may have been written (and will then be read by consumers), or not. False: it was never
    sent, or the broker said it was not written."""

    def __init__(self, message: str = "", *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown

    def __reduce__(self) -> tuple[Any, ...]:
        return (_delivery_timeout, (str(self), self.outcome_unknown))


def _delivery_timeout(message: str, outcome_unknown: bool) -> DeliveryTimeoutError:
    return DeliveryTimeoutError(message, outcome_unknown=outcome_unknown)


class RecordTooLargeError(KafkaError):
    """A record is too large: the client-side check against ``max.request.size`` / ``buffer.memory``, or
    the broker's MESSAGE_TOO_LARGE (:class:`MessageTooLargeError`) for a batch that cannot be split."""


class SerializationError(KafkaError):
    """A key, value or header could not be turned into bytes; ``field`` says which when known
    ("key", "value" or "headers")."""

    field: str | None = None


class ProducerClosedError(KafkaError):
    """The operation needs an open producer."""


class IllegalStateError(KafkaError):
    """The API was used in a state that does not allow it (e.g. commit without a transaction)."""


class SenderStoppedError(ProducerClosedError):
    """The producer's sender thread stopped for a reason it could not survive (the message says
    which): every pending record failed with this error, and the producer cannot send any more."""


class ProducerForkedError(IllegalStateError):
    """A producer was used in a child process after ``os.fork()``: its sender thread and
    connections live only in the parent. Create a new producer in the child."""


class BrokerError(KafkaError):
    """A broker answered with a non-zero error code.

    ``code``, ``name``, ``description``, ``retriable`` and ``invalid_metadata`` are class attributes;
    ``message`` is the broker's own ``error_message`` field when the response carried one.
    """

    code: int = -1
    name: str = "UNKNOWN"
    description: str = ""
    invalid_metadata: bool = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _BY_CODE:
                raise TypeError(f"error code {cls.code} defined twice")
            _BY_CODE[cls.code] = cls

    def __str__(self) -> str:
        return f"{self.name} ({self.code}): {self.message or self.description}"


class UnknownBrokerError(BrokerError):
    """An error code this version of josef does not know; ``code`` is the instance's own."""

    name = "UNKNOWN_ERROR_CODE"
    description = "An error code this version of josef does not know."

    def __init__(self, code: int, message: str | None = None) -> None:
        # args = (code, message) so that pickling rebuilds the instance with its code.
        KafkaError.__init__(self, code, message)
        self.message = message
        self.code = code


class InvalidMetadataError(BrokerError):
    """The client's metadata is stale: refresh it before retrying."""

    retriable = True
    invalid_metadata = True


class CoordinatorError(BrokerError):
    """The group/transaction coordinator moved or is loading: look it up again and retry."""

    retriable = True


class AuthorizationError(BrokerError):
    """An ACL denied the operation."""


class AuthenticationError(BrokerError):
    """SASL authentication failed or was used wrongly."""


class IdempotenceError(BrokerError):
    """The broker disagrees with the producer's id, epoch or sequence numbers."""


class TransactionError(BrokerError):
    """A transaction coordinator (or a partition leader verifying a transaction) refused the request."""


class GroupError(BrokerError):
    """Consumer-group errors (seen by producers in TxnOffsetCommit)."""


def error_for_code(code: int, message: str | None = None) -> BrokerError:
    """The exception for a broker error ``code`` (non-zero), carrying the broker's ``message`` if any.

    Codes josef does not know give an :class:`UnknownBrokerError` that keeps the code.
    """
    cls = _BY_CODE.get(code)
    if cls is None:
        return UnknownBrokerError(code, message)
    return cls(message)


class TransactionAbortedError(KafkaError):
    """The record was never sent: its transaction was aborted first."""


class TransactionAbortRequiredError(KafkaError):
    """The current transaction hit an error and can no longer commit: call
    ``abort_transaction()``, then start again. ``cause`` is the error that caused it."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


# --- BEGIN GENERATED by tools/gen_errors.py: do not edit by hand ---


class ErrorCode(enum.IntEnum):
    """Every Kafka error code by its wire name; ``NONE`` (0) is success."""

    NONE = 0
    UNKNOWN_SERVER_ERROR = -1
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    STALE_CONTROLLER_EPOCH = 11
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTION_COORDINATOR_FENCED = 52
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    LOG_DIR_NOT_FOUND = 57
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    DELEGATION_TOKEN_AUTH_DISABLED = 61
    DELEGATION_TOKEN_NOT_FOUND = 62
    DELEGATION_TOKEN_OWNER_MISMATCH = 63
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65
    DELEGATION_TOKEN_EXPIRED = 66
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    LISTENER_NOT_FOUND = 72
    TOPIC_DELETION_DISABLED = 73
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    STALE_BROKER_EPOCH = 77
    OFFSET_NOT_AVAILABLE = 78
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    UNSTABLE_OFFSET_COMMIT = 88
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    INCONSISTENT_VOTER_SET = 94
    INVALID_UPDATE_VERSION = 95
    FEATURE_UPDATE_FAILED = 96
    PRINCIPAL_DESERIALIZATION_FAILURE = 97
    SNAPSHOT_NOT_FOUND = 98
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_TOPIC_ID = 103
    INCONSISTENT_CLUSTER_ID = 104
    TRANSACTIONAL_ID_NOT_FOUND = 105
    FETCH_SESSION_TOPIC_ID_ERROR = 106
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    OFFSET_MOVED_TO_TIERED_STORAGE = 109
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    MISMATCHED_ENDPOINT_TYPE = 114
    UNSUPPORTED_ENDPOINT_TYPE = 115
    UNKNOWN_CONTROLLER_ID = 116
    UNKNOWN_SUBSCRIPTION_ID = 117
    TELEMETRY_TOO_LARGE = 118
    INVALID_REGISTRATION = 119
    TRANSACTION_ABORTABLE = 120
    INVALID_RECORD_STATE = 121
    SHARE_SESSION_NOT_FOUND = 122
    INVALID_SHARE_SESSION_EPOCH = 123
    FENCED_STATE_EPOCH = 124
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127
    INVALID_REGULAR_EXPRESSION = 128
    REBOOTSTRAP_REQUIRED = 129
    STREAMS_INVALID_TOPOLOGY = 130
    STREAMS_INVALID_TOPOLOGY_EPOCH = 131
    STREAMS_TOPOLOGY_FENCED = 132
    SHARE_SESSION_LIMIT_REACHED = 133
    GROUP_DELETION_FAILED = 134
    STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED = 135
    CONTROLLER_ID_NOT_REGISTERED = 136


class UnknownServerError(BrokerError):
    """The broker hit an unexpected error; the outcome may be unknown."""

    code = -1
    name = "UNKNOWN_SERVER_ERROR"
    description = "The broker hit an unexpected error; the outcome may be unknown."


class OffsetOutOfRangeError(BrokerError):
    """The requested offset is outside the log's range."""

    code = 1
    name = "OFFSET_OUT_OF_RANGE"
    description = "The requested offset is outside the log's range."


class CorruptMessageError(BrokerError):
    """The batch failed its CRC check or is malformed."""

    code = 2
    name = "CORRUPT_MESSAGE"
    description = "The batch failed its CRC check or is malformed."
    retriable = True


class UnknownTopicOrPartitionError(InvalidMetadataError):
    """The broker does not host this topic-partition (yet)."""

    code = 3
    name = "UNKNOWN_TOPIC_OR_PARTITION"
    description = "The broker does not host this topic-partition (yet)."


class InvalidFetchSizeError(BrokerError):
    """The requested fetch size is not valid."""

    code = 4
    name = "INVALID_FETCH_SIZE"
    description = "The requested fetch size is not valid."


class LeaderNotAvailableError(InvalidMetadataError):
    """The partition has no leader right now (election in progress)."""

    code = 5
    name = "LEADER_NOT_AVAILABLE"
    description = "The partition has no leader right now (election in progress)."


class NotLeaderOrFollowerError(InvalidMetadataError):
    """The broker is not the leader (or a replica) for this partition."""

    code = 6
    name = "NOT_LEADER_OR_FOLLOWER"
    description = "The broker is not the leader (or a replica) for this partition."


class RequestTimedOutError(BrokerError):
    """The broker timed out; the data may or may not be written."""

    code = 7
    name = "REQUEST_TIMED_OUT"
    description = "The broker timed out; the data may or may not be written."
    retriable = True


class BrokerNotAvailableError(BrokerError):
    """The broker is not available."""

    code = 8
    name = "BROKER_NOT_AVAILABLE"
    description = "The broker is not available."


class ReplicaNotAvailableError(InvalidMetadataError):
    """The replica is not available for this partition."""

    code = 9
    name = "REPLICA_NOT_AVAILABLE"
    description = "The replica is not available for this partition."


class MessageTooLargeError(RecordTooLargeError, BrokerError):
    """The batch is larger than the topic accepts."""

    code = 10
    name = "MESSAGE_TOO_LARGE"
    description = "The batch is larger than the topic accepts."


class StaleControllerEpochError(BrokerError):
    """The controller epoch is older than the broker's."""

    code = 11
    name = "STALE_CONTROLLER_EPOCH"
    description = "The controller epoch is older than the broker's."


class OffsetMetadataTooLargeError(BrokerError):
    """The offset commit metadata string is too long."""

    code = 12
    name = "OFFSET_METADATA_TOO_LARGE"
    description = "The offset commit metadata string is too long."


class NetworkError(InvalidMetadataError):
    """The connection to a broker was lost before a response arrived."""

    code = 13
    name = "NETWORK_EXCEPTION"
    description = "The connection to a broker was lost before a response arrived."


class CoordinatorLoadInProgressError(CoordinatorError):
    """The coordinator is still loading its state."""

    code = 14
    name = "COORDINATOR_LOAD_IN_PROGRESS"
    description = "The coordinator is still loading its state."


class CoordinatorNotAvailableError(CoordinatorError):
    """The coordinator is not available."""

    code = 15
    name = "COORDINATOR_NOT_AVAILABLE"
    description = "The coordinator is not available."


class NotCoordinatorError(CoordinatorError):
    """This broker is not the coordinator for the key."""

    code = 16
    name = "NOT_COORDINATOR"
    description = "This broker is not the coordinator for the key."


class InvalidTopicError(BrokerError):
    """The topic name is not valid or the topic is internal."""

    code = 17
    name = "INVALID_TOPIC_EXCEPTION"
    description = "The topic name is not valid or the topic is internal."


class RecordListTooLargeError(BrokerError):
    """The batch is larger than the log segment size."""

    code = 18
    name = "RECORD_LIST_TOO_LARGE"
    description = "The batch is larger than the log segment size."


class NotEnoughReplicasError(BrokerError):
    """Too few in-sync replicas; nothing was written."""

    code = 19
    name = "NOT_ENOUGH_REPLICAS"
    description = "Too few in-sync replicas; nothing was written."
    retriable = True


class NotEnoughReplicasAfterAppendError(BrokerError):
    """Written by the leader but not replicated in time."""

    code = 20
    name = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
    description = "Written by the leader but not replicated in time."
    retriable = True


class InvalidRequiredAcksError(BrokerError):
    """acks must be -1, 0 or 1."""

    code = 21
    name = "INVALID_REQUIRED_ACKS"
    description = "acks must be -1, 0 or 1."


class IllegalGenerationError(GroupError):
    """The group generation id is not current."""

    code = 22
    name = "ILLEGAL_GENERATION"
    description = "The group generation id is not current."


class InconsistentGroupProtocolError(GroupError):
    """The member's protocols do not match the group's."""

    code = 23
    name = "INCONSISTENT_GROUP_PROTOCOL"
    description = "The member's protocols do not match the group's."


class InvalidGroupIdError(GroupError):
    """The group id is not valid."""

    code = 24
    name = "INVALID_GROUP_ID"
    description = "The group id is not valid."


class UnknownMemberIdError(GroupError):
    """The coordinator does not know this member id."""

    code = 25
    name = "UNKNOWN_MEMBER_ID"
    description = "The coordinator does not know this member id."


class InvalidSessionTimeoutError(GroupError):
    """The session timeout is outside the broker's allowed range."""

    code = 26
    name = "INVALID_SESSION_TIMEOUT"
    description = "The session timeout is outside the broker's allowed range."


class RebalanceInProgressError(GroupError):
    """The group is rebalancing."""

    code = 27
    name = "REBALANCE_IN_PROGRESS"
    description = "The group is rebalancing."


class InvalidCommitOffsetSizeError(BrokerError):
    """The offset commit was rejected because of its size."""

    code = 28
    name = "INVALID_COMMIT_OFFSET_SIZE"
    description = "The offset commit was rejected because of its size."


class TopicAuthorizationFailedError(AuthorizationError):
    """Not authorized to access the topic."""

    code = 29
    name = "TOPIC_AUTHORIZATION_FAILED"
    description = "Not authorized to access the topic."


class GroupAuthorizationFailedError(AuthorizationError):
    """Not authorized to access the group."""

    code = 30
    name = "GROUP_AUTHORIZATION_FAILED"
    description = "Not authorized to access the group."


class ClusterAuthorizationFailedError(AuthorizationError):
    """Not authorized for this cluster-level operation."""

    code = 31
    name = "CLUSTER_AUTHORIZATION_FAILED"
    description = "Not authorized for this cluster-level operation."


class InvalidTimestampError(BrokerError):
    """A record timestamp is outside the broker's accepted window."""

    code = 32
    name = "INVALID_TIMESTAMP"
    description = "A record timestamp is outside the broker's accepted window."


class UnsupportedSaslMechanismError(AuthenticationError):
    """The broker does not enable the requested SASL mechanism."""

    code = 33
    name = "UNSUPPORTED_SASL_MECHANISM"
    description = "The broker does not enable the requested SASL mechanism."


class IllegalSaslStateError(AuthenticationError):
    """The request is not valid in the current SASL state."""

    code = 34
    name = "ILLEGAL_SASL_STATE"
    description = "The request is not valid in the current SASL state."


class UnsupportedVersionError(BrokerError):
    """The API version is not supported."""

    code = 35
    name = "UNSUPPORTED_VERSION"
    description = "The API version is not supported."


class TopicAlreadyExistsError(BrokerError):
    """The topic already exists."""

    code = 36
    name = "TOPIC_ALREADY_EXISTS"
    description = "The topic already exists."


class InvalidPartitionsError(BrokerError):
    """The number of partitions is not valid."""

    code = 37
    name = "INVALID_PARTITIONS"
    description = "The number of partitions is not valid."


class InvalidReplicationFactorError(BrokerError):
    """The replication factor is not valid."""

    code = 38
    name = "INVALID_REPLICATION_FACTOR"
    description = "The replication factor is not valid."


class InvalidReplicaAssignmentError(BrokerError):
    """The replica assignment is not valid."""

    code = 39
    name = "INVALID_REPLICA_ASSIGNMENT"
    description = "The replica assignment is not valid."


class InvalidConfigError(BrokerError):
    """The configuration is not valid."""

    code = 40
    name = "INVALID_CONFIG"
    description = "The configuration is not valid."


class NotControllerError(BrokerError):
    """This broker is not the active controller."""

    code = 41
    name = "NOT_CONTROLLER"
    description = "This broker is not the active controller."
    retriable = True


class InvalidRequestError(BrokerError):
    """The request is malformed or violates the protocol."""

    code = 42
    name = "INVALID_REQUEST"
    description = "The request is malformed or violates the protocol."


class UnsupportedForMessageFormatError(BrokerError):
    """The broker's message format does not support this."""

    code = 43
    name = "UNSUPPORTED_FOR_MESSAGE_FORMAT"
    description = "The broker's message format does not support this."


class PolicyViolationError(BrokerError):
    """The request violates a configured policy."""

    code = 44
    name = "POLICY_VIOLATION"
    description = "The request violates a configured policy."


class OutOfOrderSequenceNumberError(IdempotenceError):
    """The broker received an unexpected sequence number."""

    code = 45
    name = "OUT_OF_ORDER_SEQUENCE_NUMBER"
    description = "The broker received an unexpected sequence number."


class DuplicateSequenceNumberError(IdempotenceError):
    """The batch was already written; its offset is unknown."""

    code = 46
    name = "DUPLICATE_SEQUENCE_NUMBER"
    description = "The batch was already written; its offset is unknown."


class InvalidProducerEpochError(IdempotenceError):
    """The producer epoch is older than the broker's."""

    code = 47
    name = "INVALID_PRODUCER_EPOCH"
    description = "The producer epoch is older than the broker's."


class InvalidTxnStateError(TransactionError):
    """The request is not valid in the transaction's current state."""

    code = 48
    name = "INVALID_TXN_STATE"
    description = "The request is not valid in the transaction's current state."


class InvalidProducerIdMappingError(TransactionError):
    """The producer id does not match the transactional id."""

    code = 49
    name = "INVALID_PRODUCER_ID_MAPPING"
    description = "The producer id does not match the transactional id."


class InvalidTransactionTimeoutError(TransactionError):
    """The transaction timeout exceeds the broker's maximum."""

    code = 50
    name = "INVALID_TRANSACTION_TIMEOUT"
    description = "The transaction timeout exceeds the broker's maximum."


class ConcurrentTransactionsError(TransactionError):
    """A previous transaction of this producer is still completing."""

    code = 51
    name = "CONCURRENT_TRANSACTIONS"
    description = "A previous transaction of this producer is still completing."
    retriable = True


class TransactionCoordinatorFencedError(TransactionError):
    """A newer transaction coordinator has taken over."""

    code = 52
    name = "TRANSACTION_COORDINATOR_FENCED"
    description = "A newer transaction coordinator has taken over."


class TransactionalIdAuthorizationFailedError(AuthorizationError):
    """Not authorized to use this transactional id."""

    code = 53
    name = "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
    description = "Not authorized to use this transactional id."


class SecurityDisabledError(BrokerError):
    """Security features are disabled on the broker."""

    code = 54
    name = "SECURITY_DISABLED"
    description = "Security features are disabled on the broker."


class OperationNotAttemptedError(BrokerError):
    """Not attempted because another part of the request failed."""

    code = 55
    name = "OPERATION_NOT_ATTEMPTED"
    description = "Not attempted because another part of the request failed."


class KafkaStorageError(InvalidMetadataError):
    """The partition's log directory is offline."""

    code = 56
    name = "KAFKA_STORAGE_ERROR"
    description = "The partition's log directory is offline."


class LogDirNotFoundError(BrokerError):
    """The log directory was not found in the broker configuration."""

    code = 57
    name = "LOG_DIR_NOT_FOUND"
    description = "The log directory was not found in the broker configuration."


class SaslAuthenticationFailedError(AuthenticationError):
    """SASL authentication failed."""

    code = 58
    name = "SASL_AUTHENTICATION_FAILED"
    description = "SASL authentication failed."


class UnknownProducerIdError(IdempotenceError):
    """The broker has no state for this producer id."""

    code = 59
    name = "UNKNOWN_PRODUCER_ID"
    description = "The broker has no state for this producer id."


class ReassignmentInProgressError(BrokerError):
    """A partition reassignment is in progress."""

    code = 60
    name = "REASSIGNMENT_IN_PROGRESS"
    description = "A partition reassignment is in progress."


class DelegationTokenAuthDisabledError(BrokerError):
    """Delegation-token authentication is disabled."""

    code = 61
    name = "DELEGATION_TOKEN_AUTH_DISABLED"
    description = "Delegation-token authentication is disabled."


class DelegationTokenNotFoundError(BrokerError):
    """The delegation token was not found."""

    code = 62
    name = "DELEGATION_TOKEN_NOT_FOUND"
    description = "The delegation token was not found."


class DelegationTokenOwnerMismatchError(BrokerError):
    """The principal does not own the delegation token."""

    code = 63
    name = "DELEGATION_TOKEN_OWNER_MISMATCH"
    description = "The principal does not own the delegation token."


class DelegationTokenRequestNotAllowedError(BrokerError):
    """Delegation-token requests are not allowed here."""

    code = 64
    name = "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"
    description = "Delegation-token requests are not allowed here."


class DelegationTokenAuthorizationFailedError(AuthorizationError):
    """Not authorized for the token operation."""

    code = 65
    name = "DELEGATION_TOKEN_AUTHORIZATION_FAILED"
    description = "Not authorized for the token operation."


class DelegationTokenExpiredError(BrokerError):
    """The delegation token has expired."""

    code = 66
    name = "DELEGATION_TOKEN_EXPIRED"
    description = "The delegation token has expired."


class InvalidPrincipalTypeError(BrokerError):
    """The principal type is not supported."""

    code = 67
    name = "INVALID_PRINCIPAL_TYPE"
    description = "The principal type is not supported."


class NonEmptyGroupError(GroupError):
    """The group is not empty."""

    code = 68
    name = "NON_EMPTY_GROUP"
    description = "The group is not empty."


class GroupIdNotFoundError(GroupError):
    """The group id does not exist."""

    code = 69
    name = "GROUP_ID_NOT_FOUND"
    description = "The group id does not exist."


class FetchSessionIdNotFoundError(BrokerError):
    """The fetch session id was not found."""

    code = 70
    name = "FETCH_SESSION_ID_NOT_FOUND"
    description = "The fetch session id was not found."
    retriable = True


class InvalidFetchSessionEpochError(BrokerError):
    """The fetch session epoch is not valid."""

    code = 71
    name = "INVALID_FETCH_SESSION_EPOCH"
    description = "The fetch session epoch is not valid."
    retriable = True


class ListenerNotFoundError(InvalidMetadataError):
    """The leader has no endpoint on this listener."""

    code = 72
    name = "LISTENER_NOT_FOUND"
    description = "The leader has no endpoint on this listener."


class TopicDeletionDisabledError(BrokerError):
    """Topic deletion is disabled."""

    code = 73
    name = "TOPIC_DELETION_DISABLED"
    description = "Topic deletion is disabled."


class FencedLeaderEpochError(InvalidMetadataError):
    """The leader epoch in the request is older than the broker's."""

    code = 74
    name = "FENCED_LEADER_EPOCH"
    description = "The leader epoch in the request is older than the broker's."


class UnknownLeaderEpochError(BrokerError):
    """The leader epoch in the request is newer than the broker's."""

    code = 75
    name = "UNKNOWN_LEADER_EPOCH"
    description = "The leader epoch in the request is newer than the broker's."
    retriable = True


class UnsupportedCompressionTypeError(BrokerError):
    """The compression type needs a newer request version."""

    code = 76
    name = "UNSUPPORTED_COMPRESSION_TYPE"
    description = "The compression type needs a newer request version."


class StaleBrokerEpochError(BrokerError):
    """The broker epoch is stale."""

    code = 77
    name = "STALE_BROKER_EPOCH"
    description = "The broker epoch is stale."


class OffsetNotAvailableError(BrokerError):
    """The leader's high watermark has not caught up yet."""

    code = 78
    name = "OFFSET_NOT_AVAILABLE"
    description = "The leader's high watermark has not caught up yet."
    retriable = True


class MemberIdRequiredError(GroupError):
    """The group member must rejoin with the member id it was given."""

    code = 79
    name = "MEMBER_ID_REQUIRED"
    description = "The group member must rejoin with the member id it was given."


class PreferredLeaderNotAvailableError(InvalidMetadataError):
    """The preferred leader is not available."""

    code = 80
    name = "PREFERRED_LEADER_NOT_AVAILABLE"
    description = "The preferred leader is not available."


class GroupMaxSizeReachedError(GroupError):
    """The group has reached its maximum size."""

    code = 81
    name = "GROUP_MAX_SIZE_REACHED"
    description = "The group has reached its maximum size."


class FencedInstanceIdError(GroupError):
    """Another member with the same group.instance.id took over."""

    code = 82
    name = "FENCED_INSTANCE_ID"
    description = "Another member with the same group.instance.id took over."


class EligibleLeadersNotAvailableError(InvalidMetadataError):
    """No replica eligible for leadership is available."""

    code = 83
    name = "ELIGIBLE_LEADERS_NOT_AVAILABLE"
    description = "No replica eligible for leadership is available."


class ElectionNotNeededError(InvalidMetadataError):
    """The leader election is not needed."""

    code = 84
    name = "ELECTION_NOT_NEEDED"
    description = "The leader election is not needed."


class NoReassignmentInProgressError(BrokerError):
    """No partition reassignment is in progress."""

    code = 85
    name = "NO_REASSIGNMENT_IN_PROGRESS"
    description = "No partition reassignment is in progress."


class GroupSubscribedToTopicError(GroupError):
    """The group is subscribed to the topic."""

    code = 86
    name = "GROUP_SUBSCRIBED_TO_TOPIC"
    description = "The group is subscribed to the topic."


class InvalidRecordError(BrokerError):
    """A record failed broker validation."""

    code = 87
    name = "INVALID_RECORD"
    description = "A record failed broker validation."


class UnstableOffsetCommitError(BrokerError):
    """Offsets await a transaction's completion."""

    code = 88
    name = "UNSTABLE_OFFSET_COMMIT"
    description = "Offsets await a transaction's completion."
    retriable = True


class ThrottlingQuotaExceededError(BrokerError):
    """The throttling quota was exceeded."""

    code = 89
    name = "THROTTLING_QUOTA_EXCEEDED"
    description = "The throttling quota was exceeded."
    retriable = True


class ProducerFencedError(TransactionError):
    """A newer producer with the same transactional id fenced this one."""

    code = 90
    name = "PRODUCER_FENCED"
    description = "A newer producer with the same transactional id fenced this one."


class ResourceNotFoundError(BrokerError):
    """The resource does not exist."""

    code = 91
    name = "RESOURCE_NOT_FOUND"
    description = "The resource does not exist."


class DuplicateResourceError(BrokerError):
    """The resource appears more than once in the request."""

    code = 92
    name = "DUPLICATE_RESOURCE"
    description = "The resource appears more than once in the request."


class UnacceptableCredentialError(BrokerError):
    """The credential does not meet the broker's requirements."""

    code = 93
    name = "UNACCEPTABLE_CREDENTIAL"
    description = "The credential does not meet the broker's requirements."


class InconsistentVoterSetError(BrokerError):
    """The voter set is inconsistent with the receiver's."""

    code = 94
    name = "INCONSISTENT_VOTER_SET"
    description = "The voter set is inconsistent with the receiver's."


class InvalidUpdateVersionError(BrokerError):
    """The update version is not valid."""

    code = 95
    name = "INVALID_UPDATE_VERSION"
    description = "The update version is not valid."


class FeatureUpdateFailedError(BrokerError):
    """The feature update could not be applied."""

    code = 96
    name = "FEATURE_UPDATE_FAILED"
    description = "The feature update could not be applied."


class PrincipalDeserializationFailureError(BrokerError):
    """The forwarded principal could not be deserialized."""

    code = 97
    name = "PRINCIPAL_DESERIALIZATION_FAILURE"
    description = "The forwarded principal could not be deserialized."


class SnapshotNotFoundError(BrokerError):
    """The snapshot was not found."""

    code = 98
    name = "SNAPSHOT_NOT_FOUND"
    description = "The snapshot was not found."


class UnknownTopicIdError(InvalidMetadataError):
    """The broker does not know this topic id."""

    code = 100
    name = "UNKNOWN_TOPIC_ID"
    description = "The broker does not know this topic id."


class DuplicateBrokerRegistrationError(BrokerError):
    """A broker with this id is already registered."""

    code = 101
    name = "DUPLICATE_BROKER_REGISTRATION"
    description = "A broker with this id is already registered."


class BrokerIdNotRegisteredError(BrokerError):
    """The broker id is not registered."""

    code = 102
    name = "BROKER_ID_NOT_REGISTERED"
    description = "The broker id is not registered."


class InconsistentTopicIdError(InvalidMetadataError):
    """The topic id does not match the id in the log."""

    code = 103
    name = "INCONSISTENT_TOPIC_ID"
    description = "The topic id does not match the id in the log."


class InconsistentClusterIdError(BrokerError):
    """The cluster id does not match."""

    code = 104
    name = "INCONSISTENT_CLUSTER_ID"
    description = "The cluster id does not match."


class TransactionalIdNotFoundError(TransactionError):
    """The transactional id was not found."""

    code = 105
    name = "TRANSACTIONAL_ID_NOT_FOUND"
    description = "The transactional id was not found."


class FetchSessionTopicIdError(BrokerError):
    """The fetch session's topic ids are inconsistent."""

    code = 106
    name = "FETCH_SESSION_TOPIC_ID_ERROR"
    description = "The fetch session's topic ids are inconsistent."
    retriable = True


class IneligibleReplicaError(BrokerError):
    """The new ISR contains at least one ineligible replica."""

    code = 107
    name = "INELIGIBLE_REPLICA"
    description = "The new ISR contains at least one ineligible replica."


class NewLeaderElectedError(BrokerError):
    """A new leader was elected while the request was in flight."""

    code = 108
    name = "NEW_LEADER_ELECTED"
    description = "A new leader was elected while the request was in flight."


class OffsetMovedToTieredStorageError(BrokerError):
    """The offset has moved to tiered storage."""

    code = 109
    name = "OFFSET_MOVED_TO_TIERED_STORAGE"
    description = "The offset has moved to tiered storage."


class FencedMemberEpochError(GroupError):
    """The member epoch is fenced; the member must rejoin."""

    code = 110
    name = "FENCED_MEMBER_EPOCH"
    description = "The member epoch is fenced; the member must rejoin."


class UnreleasedInstanceIdError(GroupError):
    """The instance id is still used by another member."""

    code = 111
    name = "UNRELEASED_INSTANCE_ID"
    description = "The instance id is still used by another member."


class UnsupportedAssignorError(GroupError):
    """The assignor is not supported by the group."""

    code = 112
    name = "UNSUPPORTED_ASSIGNOR"
    description = "The assignor is not supported by the group."


class StaleMemberEpochError(GroupError):
    """The member epoch is stale."""

    code = 113
    name = "STALE_MEMBER_EPOCH"
    description = "The member epoch is stale."


class MismatchedEndpointTypeError(BrokerError):
    """The request was sent to an endpoint of the wrong type."""

    code = 114
    name = "MISMATCHED_ENDPOINT_TYPE"
    description = "The request was sent to an endpoint of the wrong type."


class UnsupportedEndpointTypeError(BrokerError):
    """This endpoint type does not support the request."""

    code = 115
    name = "UNSUPPORTED_ENDPOINT_TYPE"
    description = "This endpoint type does not support the request."


class UnknownControllerIdError(BrokerError):
    """The controller id is not known."""

    code = 116
    name = "UNKNOWN_CONTROLLER_ID"
    description = "The controller id is not known."


class UnknownSubscriptionIdError(BrokerError):
    """The client telemetry subscription id is not known."""

    code = 117
    name = "UNKNOWN_SUBSCRIPTION_ID"
    description = "The client telemetry subscription id is not known."


class TelemetryTooLargeError(BrokerError):
    """The client telemetry payload is too large."""

    code = 118
    name = "TELEMETRY_TOO_LARGE"
    description = "The client telemetry payload is too large."


class InvalidRegistrationError(BrokerError):
    """The controller rejected the broker registration."""

    code = 119
    name = "INVALID_REGISTRATION"
    description = "The controller rejected the broker registration."


class TransactionAbortableError(TransactionError):
    """Abort the transaction, then start a new one."""

    code = 120
    name = "TRANSACTION_ABORTABLE"
    description = "Abort the transaction, then start a new one."


class InvalidRecordStateError(BrokerError):
    """The record state is not valid for this operation."""

    code = 121
    name = "INVALID_RECORD_STATE"
    description = "The record state is not valid for this operation."


class ShareSessionNotFoundError(BrokerError):
    """The share session was not found."""

    code = 122
    name = "SHARE_SESSION_NOT_FOUND"
    description = "The share session was not found."
    retriable = True


class InvalidShareSessionEpochError(BrokerError):
    """The share session epoch is not valid."""

    code = 123
    name = "INVALID_SHARE_SESSION_EPOCH"
    description = "The share session epoch is not valid."
    retriable = True


class FencedStateEpochError(BrokerError):
    """The share-group state epoch is fenced."""

    code = 124
    name = "FENCED_STATE_EPOCH"
    description = "The share-group state epoch is fenced."


class InvalidVoterKeyError(BrokerError):
    """The voter key does not match the receiving replica."""

    code = 125
    name = "INVALID_VOTER_KEY"
    description = "The voter key does not match the receiving replica."


class DuplicateVoterError(BrokerError):
    """The voter is already in the voter set."""

    code = 126
    name = "DUPLICATE_VOTER"
    description = "The voter is already in the voter set."


class VoterNotFoundError(BrokerError):
    """The voter is not in the voter set."""

    code = 127
    name = "VOTER_NOT_FOUND"
    description = "The voter is not in the voter set."


class InvalidRegularExpressionError(BrokerError):
    """The regular expression is not valid."""

    code = 128
    name = "INVALID_REGULAR_EXPRESSION"
    description = "The regular expression is not valid."


class RebootstrapRequiredError(BrokerError):
    """The client's metadata is stale; it should rebootstrap."""

    code = 129
    name = "REBOOTSTRAP_REQUIRED"
    description = "The client's metadata is stale; it should rebootstrap."


class StreamsInvalidTopologyError(BrokerError):
    """The streams topology is not valid."""

    code = 130
    name = "STREAMS_INVALID_TOPOLOGY"
    description = "The streams topology is not valid."


class StreamsInvalidTopologyEpochError(BrokerError):
    """The streams topology epoch is not valid."""

    code = 131
    name = "STREAMS_INVALID_TOPOLOGY_EPOCH"
    description = "The streams topology epoch is not valid."


class StreamsTopologyFencedError(BrokerError):
    """The streams topology epoch is outdated."""

    code = 132
    name = "STREAMS_TOPOLOGY_FENCED"
    description = "The streams topology epoch is outdated."


class ShareSessionLimitReachedError(BrokerError):
    """The broker's share-session limit has been reached."""

    code = 133
    name = "SHARE_SESSION_LIMIT_REACHED"
    description = "The broker's share-session limit has been reached."
    retriable = True


class GroupDeletionFailedError(GroupError):
    """DeleteGroups could not complete for a group."""

    code = 134
    name = "GROUP_DELETION_FAILED"
    description = "DeleteGroups could not complete for a group."


class StreamsTopologyDescriptionUpdateFailedError(BrokerError):
    """The topology description update failed."""

    code = 135
    name = "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED"
    description = "The topology description update failed."


class ControllerIdNotRegisteredError(BrokerError):
    """The controller id is not registered."""

    code = 136
    name = "CONTROLLER_ID_NOT_REGISTERED"
    description = "The controller id is not registered."


__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BrokerError",
    "BrokerIdNotRegisteredError",
    "BrokerNotAvailableError",
    "BufferExhaustedError",
    "ClusterAuthorizationFailedError",
    "ConcurrentTransactionsError",
    "ControllerIdNotRegisteredError",
    "CoordinatorError",
    "CoordinatorLoadInProgressError",
    "CoordinatorNotAvailableError",
    "CorruptMessageError",
    "DelegationTokenAuthDisabledError",
    "DelegationTokenAuthorizationFailedError",
    "DelegationTokenExpiredError",
    "DelegationTokenNotFoundError",
    "DelegationTokenOwnerMismatchError",
    "DelegationTokenRequestNotAllowedError",
    "DeliveryTimeoutError",
    "DuplicateBrokerRegistrationError",
    "DuplicateResourceError",
    "DuplicateSequenceNumberError",
    "DuplicateVoterError",
    "ElectionNotNeededError",
    "EligibleLeadersNotAvailableError",
    "ErrorCode",
    "FeatureUpdateFailedError",
    "FencedInstanceIdError",
    "FencedLeaderEpochError",
    "FencedMemberEpochError",
    "FencedStateEpochError",
    "FetchSessionIdNotFoundError",
    "FetchSessionTopicIdError",
    "GroupAuthorizationFailedError",
    "GroupDeletionFailedError",
    "GroupError",
    "GroupIdNotFoundError",
    "GroupMaxSizeReachedError",
    "GroupSubscribedToTopicError",
    "IdempotenceError",
    "IllegalGenerationError",
    "IllegalSaslStateError",
    "IllegalStateError",
    "InconsistentClusterIdError",
    "InconsistentGroupProtocolError",
    "InconsistentTopicIdError",
    "InconsistentVoterSetError",
    "IneligibleReplicaError",
    "InvalidCommitOffsetSizeError",
    "InvalidConfigError",
    "InvalidFetchSessionEpochError",
    "InvalidFetchSizeError",
    "InvalidGroupIdError",
    "InvalidMetadataError",
    "InvalidPartitionsError",
    "InvalidPrincipalTypeError",
    "InvalidProducerEpochError",
    "InvalidProducerIdMappingError",
    "InvalidRecordError",
    "InvalidRecordStateError",
    "InvalidRegistrationError",
    "InvalidRegularExpressionError",
    "InvalidReplicaAssignmentError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidRequiredAcksError",
    "InvalidSessionTimeoutError",
    "InvalidShareSessionEpochError",
    "InvalidTimestampError",
    "InvalidTopicError",
    "InvalidTransactionTimeoutError",
    "InvalidTxnStateError",
    "InvalidUpdateVersionError",
    "InvalidVoterKeyError",
    "KafkaConnectionError",
    "KafkaError",
    "KafkaStorageError",
    "KafkaTimeoutError",
    "LeaderNotAvailableError",
    "ListenerNotFoundError",
    "LogDirNotFoundError",
    "MemberIdRequiredError",
    "MessageTooLargeError",
    "MetadataTimeoutError",
    "MismatchedEndpointTypeError",
    "NetworkError",
    "NewLeaderElectedError",
    "NoReassignmentInProgressError",
    "NonEmptyGroupError",
    "NotControllerError",
    "NotCoordinatorError",
    "NotEnoughReplicasAfterAppendError",
    "NotEnoughReplicasError",
    "NotLeaderOrFollowerError",
    "OffsetMetadataTooLargeError",
    "OffsetMovedToTieredStorageError",
    "OffsetNotAvailableError",
    "OffsetOutOfRangeError",
    "OperationNotAttemptedError",
    "OutOfOrderSequenceNumberError",
    "PolicyViolationError",
    "PreferredLeaderNotAvailableError",
    "PrincipalDeserializationFailureError",
    "ProducerClosedError",
    "ProducerFencedError",
    "ProducerForkedError",
    "ProtocolError",
    "ReassignmentInProgressError",
    "RebalanceInProgressError",
    "RebootstrapRequiredError",
    "RecordListTooLargeError",
    "RecordTooLargeError",
    "ReplicaNotAvailableError",
    "RequestTimedOutError",
    "ResourceNotFoundError",
    "SaslAuthenticationFailedError",
    "SecurityDisabledError",
    "SenderStoppedError",
    "SerializationError",
    "ShareSessionLimitReachedError",
    "ShareSessionNotFoundError",
    "SnapshotNotFoundError",
    "SslAuthenticationError",
    "StaleBrokerEpochError",
    "StaleControllerEpochError",
    "StaleMemberEpochError",
    "StreamsInvalidTopologyEpochError",
    "StreamsInvalidTopologyError",
    "StreamsTopologyDescriptionUpdateFailedError",
    "StreamsTopologyFencedError",
    "TelemetryTooLargeError",
    "ThrottlingQuotaExceededError",
    "TopicAlreadyExistsError",
    "TopicAuthorizationFailedError",
    "TopicDeletionDisabledError",
    "TransactionAbortRequiredError",
    "TransactionAbortableError",
    "TransactionAbortedError",
    "TransactionCoordinatorFencedError",
    "TransactionError",
    "TransactionalIdAuthorizationFailedError",
    "TransactionalIdNotFoundError",
    "UnacceptableCredentialError",
    "UnknownBrokerError",
    "UnknownControllerIdError",
    "UnknownLeaderEpochError",
    "UnknownMemberIdError",
    "UnknownProducerIdError",
    "UnknownServerError",
    "UnknownSubscriptionIdError",
    "UnknownTopicIdError",
    "UnknownTopicOrPartitionError",
    "UnreleasedInstanceIdError",
    "UnstableOffsetCommitError",
    "UnsupportedAssignorError",
    "UnsupportedCompressionTypeError",
    "UnsupportedEndpointTypeError",
    "UnsupportedForMessageFormatError",
    "UnsupportedSaslMechanismError",
    "UnsupportedVersionError",
    "VoterNotFoundError",
    "error_for_code",
]
# --- END GENERATED ---
