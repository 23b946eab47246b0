"""josef: a Kafka producer for Python."""

from __future__ import annotations

# First: modules that `from josef import __version__` while the package is still initialising find it.
from josef.version import __version__

# isort: split
from josef._core.metrics import Metric
from josef._core.partitioner import murmur2, partition_for_key
from josef._core.transactions import (
    ConsumerGroupMetadata,
    OffsetAndMetadata,
    TopicPartition,
    TransactionAbortedError,
    TransactionAbortRequiredError,
)
from josef.admin import Admin, AlterConfigOp, ConfigResource, NewTopic
from josef.aio import AsyncProducer, AsyncRecordFuture
from josef.errors import KafkaError
from josef.future import RecordFuture, RecordMetadata
from josef.producer import Producer
from josef.serialization import (
    BytesSerializer,
    IntegerSerializer,
    JsonSerializer,
    LongSerializer,
    Serializer,
    StringSerializer,
    int32_serializer,
    int_serializer,
    json_serializer,
    string_serializer,
)

__all__ = [
    "Admin",
    "AlterConfigOp",
    "AsyncProducer",
    "AsyncRecordFuture",
    "BytesSerializer",
    "ConfigResource",
    "ConsumerGroupMetadata",
    "IntegerSerializer",
    "JsonSerializer",
    "KafkaError",
    "LongSerializer",
    "Metric",
    "NewTopic",
    "OffsetAndMetadata",
    "Producer",
    "RecordFuture",
    "RecordMetadata",
    "Serializer",
    "StringSerializer",
    "TopicPartition",
    "TransactionAbortRequiredError",
    "TransactionAbortedError",
    "__version__",
    "int32_serializer",
    "int_serializer",
    "json_serializer",
    "murmur2",
    "partition_for_key",
    "string_serializer",
]
