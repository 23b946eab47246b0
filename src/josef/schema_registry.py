"""Plug confluent-kafka's Schema Registry serializers into josef.

confluent-kafka's ``AvroSerializer``, ``JSONSerializer`` and ``ProtobufSerializer`` are called
as ``serializer(obj, SerializationContext(topic, field, headers))``: they need the topic (for
the subject name) and may write the schema id into the headers. :class:`SchemaRegistrySerializer`
turns one into a josef :class:`~josef.serialization.Serializer`::

    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from josef.schema_registry import SchemaRegistrySerializer

    registry = SchemaRegistryClient({"url": "http://127.0.0.1:8081"})
    producer = Producer(
        bootstrap_servers="127.0.0.1:9092",
        value_serializer=SchemaRegistrySerializer(AvroSerializer(registry, schema_str)),
    )
    producer.send("orders", {"id": 42, "amount": 9.5})

Consumers read the records with confluent-kafka's matching deserializer (or any other
Schema Registry-aware client): the wire format is confluent-kafka's own. Needs
``confluent-kafka`` with its Schema Registry extras installed; josef itself does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from josef.errors import SerializationError
from josef.serialization import Headers


class SchemaRegistrySerializer:
    """A confluent-kafka Schema Registry serializer as a josef ``Serializer``.

    ``is_key=True`` for a key serializer: the subject is then ``<topic>-key`` under the default
    naming strategy. Errors from the serializer (a record that does not match its schema, a
    registry that cannot be reached) surface from ``send()`` as ``SerializationError``.
    """

    def __init__(self, serializer: Callable[[Any, Any], bytes | None], *, is_key: bool = False) -> None:
        from confluent_kafka.serialization import MessageField, SerializationContext

        self._serializer = serializer
        self._context = SerializationContext
        self._field = MessageField.KEY if is_key else MessageField.VALUE

    def serialize(self, topic: str, headers: Headers, data: Any) -> bytes | None:
        try:
            headers_out: Any = headers  # confluent-kafka appends (str, bytes) pairs, as josef's list takes
            return self._serializer(data, self._context(topic, self._field, headers_out))
        except SerializationError:
            raise
        except Exception as exc:  # confluent-kafka raises its own SerializationError and others
            raise SerializationError(f"{type(self._serializer).__name__} failed for topic {topic!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"SchemaRegistrySerializer({type(self._serializer).__name__}, field={self._field})"


__all__ = ["SchemaRegistrySerializer"]
