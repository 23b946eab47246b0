"""A blocking, one-request-at-a-time Kafka client for poking the mock cluster at the protocol level."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from josef._core.protocol import FrameReader, decode_response, encode_request
from josef._core.records import encode_batch

CLIENT_ID = "josef-mock-test"


class Wire:
    def __init__(self, address: str | tuple[str, int], timeout: float = 5.0) -> None:
        if isinstance(address, str):
            host, port = address.split(",")[0].rsplit(":", 1)
            address = (host, int(port))
        self.sock = socket.create_connection(address, timeout=timeout)
        self.reader = FrameReader()
        self.correlation_id = 0

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, api_key: int, version: int, body: dict[str, Any]) -> int:
        self.correlation_id += 1
        self.sock.sendall(encode_request(api_key, version, self.correlation_id, CLIENT_ID, body))
        return self.correlation_id

    def frame(self) -> bytes:
        """The next response frame; raises ConnectionError if the mock closed the connection."""
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the mock closed the connection")
            self.reader.feed(data)
        return frame

    def receive(self, api_key: int, version: int) -> dict[str, Any]:
        correlation_id, body = decode_response(api_key, version, self.frame())
        assert correlation_id == self.correlation_id
        return body

    def call(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.send(api_key, version, body)
        return self.receive(api_key, version)

    def timed_call(self, api_key: int, version: int, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        start = time.monotonic()
        response = self.call(api_key, version, body)
        return response, time.monotonic() - start

    def is_closed(self, wait: float = 2.0) -> bool:
        """Whether the peer closes the connection within ``wait`` seconds (without sending anything)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def batch(*values: bytes, pid: int = -1, epoch: int = -1, seq: int = -1, transactional: bool = False,
          timestamp: int = 1_700_000_000_000) -> bytes:
    records = [(timestamp, None, v, None) for v in values]
    data, _ = encode_batch(records, base_timestamp=timestamp, max_timestamp=timestamp, producer_id=pid,
                           producer_epoch=epoch, base_sequence=seq, transactional=transactional)
    return bytes(data)


def produce_body(topic: str, partition: int, records: bytes | None, *, acks: int = -1,
                 transactional_id: str | None = None) -> dict[str, Any]:
    return {"transactional_id": transactional_id, "acks": acks, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}


def produce_result(response: dict[str, Any]) -> tuple[int, int]:
    """(error code, base offset) of a one-partition Produce response."""
    part = response["responses"][0]["partition_responses"][0]
    return part["error_code"], part["base_offset"]


def fetch_body(topic: str, partition: int, offset: int, *, committed: bool = False,
               max_wait_ms: int = 0, min_bytes: int = 1) -> dict[str, Any]:
    return {"max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": 1 << 20,
            "isolation_level": 1 if committed else 0,
            "topics": [{"topic": topic, "partitions": [{"partition": partition, "fetch_offset": offset,
                                                        "partition_max_bytes": 1 << 20}]}]}


def raw_frame(api_key: int, version: int, correlation_id: int, payload: bytes = b"") -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, -1) + payload
    return struct.pack(">i", len(header)) + header
