"""Schema Registry serializers plugged into josef, read back by confluent-kafka's deserializers.

The registry is a minimal in-test HTTP server speaking the subset of the Confluent Schema
Registry REST API that confluent-kafka's serializers and deserializers use (register a schema
under a subject, fetch a schema by id). No real registry could be started here: Apicurio's
Maven Central artifacts are not runnable without a Quarkus build.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from josef import Producer
from josef.errors import SerializationError
from josef.schema_registry import SchemaRegistrySerializer

ORDER_AVRO = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "test.josef",
        "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"}, {"name": "qty", "type": "int"}],
    }
)
ORDER_JSON_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
        "required": ["id", "item"],
    }
)


class _Registry:
    """Schemas by id and subject versions, as a Schema Registry keeps them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: list[dict[str, Any]] = []
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[str] = []


def _handler(registry: _Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            path = urlparse(self.path).path.strip("/").split("/")
            registry.requests.append(f"POST /{'/'.join(path[:1])}/*/{'/'.join(path[2:])}")
            if len(path) != 3 or path[0] != "subjects" or path[2] != "versions":
                self._reply(404, {"error_code": 404, "message": f"no route {self.path}"})
                return
            subject = unquote(path[1])
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            entry = {"schema": body["schema"], "schemaType": body.get("schemaType", "AVRO")}
            with registry.lock:
                if entry in registry.schemas:
                    schema_id = registry.schemas.index(entry) + 1
                else:
                    registry.schemas.append(entry)
                    schema_id = len(registry.schemas)
                versions = registry.subjects.setdefault(subject, [])
                if schema_id not in versions:
                    versions.append(schema_id)
                version = versions.index(schema_id) + 1
            self._reply(200, {"id": schema_id, "subject": subject, "version": version, **entry})

        def do_GET(self) -> None:
            path = urlparse(self.path).path.strip("/").split("/")
            registry.requests.append(f"GET /{'/'.join(path[:2])}/*")
            if len(path) == 3 and path[:2] == ["schemas", "ids"] and path[2].isdigit():
                index = int(path[2]) - 1
                with registry.lock:
                    found = registry.schemas[index] if 0 <= index < len(registry.schemas) else None
                if found is not None:
                    self._reply(200, found)
                    return
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[str, _Registry]]:
    state = _Registry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_avro_round_trip_read_back_by_confluent(kafka: Any, registry: tuple[str, _Registry]) -> None:
    url, state = registry
    topic = f"avro-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 1)
    client = SchemaRegistryClient({"url": url})
    orders = [{"id": i, "item": f"item-{i}", "qty": i % 7} for i in range(50)]
    with Producer(
        bootstrap_servers=kafka.bootstrap_servers,
        value_serializer=SchemaRegistrySerializer(AvroSerializer(client, ORDER_AVRO)),
        key_serializer="org.apache.kafka.common.serialization.LongSerializer",
    ) as producer:
        for order in orders:
            producer.send(topic, order, key=order["id"])
        assert producer.flush(30) == 0
        with pytest.raises(SerializationError, match="AvroSerializer failed"):
            producer.send(topic, {"id": "not a long"})
    assert state.subjects == {f"{topic}-value": [1]}

    reader = AvroDeserializer(SchemaRegistryClient({"url": url}))
    messages = kafka.consume_all(topic, expected_count=len(orders))
    decoded = [reader(m.value(), SerializationContext(topic, MessageField.VALUE, m.headers())) for m in messages]
    assert decoded == orders
    assert [int.from_bytes(m.key(), "big", signed=True) for m in messages] == [o["id"] for o in orders]
    assert messages[0].value()[:5] == b"\x00\x00\x00\x00\x01"  # magic byte, then schema id 1
    assert "GET /schemas/ids/*" in state.requests


def test_json_schema_key_and_value(kafka: Any, registry: tuple[str, _Registry]) -> None:
    url, state = registry
    topic = f"json-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(topic, 1)
    client = SchemaRegistryClient({"url": url})
    key_schema = json.dumps({"type": "string"})
    with Producer(
        bootstrap_servers=kafka.bootstrap_servers,
        key_serializer=SchemaRegistrySerializer(JSONSerializer(key_schema, client), is_key=True),
        value_serializer=SchemaRegistrySerializer(JSONSerializer(ORDER_JSON_SCHEMA, client)),
    ) as producer:
        producer.send(topic, {"id": 1, "item": "book"}, key="k1", headers={"trace": b"x"}).result(30)
        with pytest.raises(SerializationError, match="JSONSerializer failed"):
            producer.send(topic, {"id": 2})  # "item" is required by the schema
    assert sorted(state.subjects) == [f"{topic}-key", f"{topic}-value"]
    (message,) = kafka.consume_all(topic, expected_count=1)
    ctx = SerializationContext(topic, MessageField.VALUE, message.headers())
    assert JSONDeserializer(ORDER_JSON_SCHEMA)(message.value(), ctx) == {"id": 1, "item": "book"}
    key_ctx = SerializationContext(topic, MessageField.KEY, message.headers())
    assert JSONDeserializer(key_schema)(message.key(), key_ctx) == "k1"
    assert message.headers() == [("trace", b"x")]
