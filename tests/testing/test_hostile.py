"""Hostile input: malformed or absurd requests never crash the mock cluster (issue 7 acceptance).

The rule: bytes the codec cannot parse close that connection and nothing else; requests that parse but
make no sense get error codes.  After every example the cluster must still serve a fresh connection and
must not have recorded an internal error (a handler that raised instead of answering).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from josef._core.protocol import ApiKey, FrameReader, encode_request
from josef.testing import MockCluster
from josef.testing.handlers import SUPPORTED
from tests.protocol.strategies import message_strategy
from tests.testing.wire import Wire, batch, produce_body, raw_frame

pytestmark = pytest.mark.timeout(120)

VERSIONS = [(key, v) for key, (lo, hi) in sorted(SUPPORTED.items()) for v in range(lo, hi + 1)]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with MockCluster(brokers=2, topics={"t": 2}, default_partitions=2) as c:
        yield c


def exchange(cluster: MockCluster, data: bytes, wait: float = 0.5) -> bytes | None:
    """Send raw bytes on a fresh connection; the first response frame, or None after a close or ``wait``."""
    sock = socket.create_connection(cluster.brokers[1], timeout=wait)
    reader = FrameReader()
    try:
        sock.sendall(data)
        while (frame := reader.next_frame()) is None:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            reader.feed(chunk)
        return frame
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        return None
    finally:
        sock.close()


def assert_healthy(cluster: MockCluster) -> None:
    assert cluster.internal_errors == []
    with Wire(cluster.brokers[1], timeout=5) as wire:
        assert wire.call(ApiKey.API_VERSIONS, 3, {})["error_code"] == 0


def _tame(api_key: int, body: dict[str, Any]) -> dict[str, Any]:
    # Long polls would only make the example slow; everything else stays as generated.
    if api_key == ApiKey.FETCH:
        body["max_wait_ms"] = min(max(body["max_wait_ms"], 0), 50)
    return body


@pytest.mark.parametrize(("api_key", "version"), VERSIONS, ids=[f"{ApiKey(k).name}-v{v}" for k, v in VERSIONS])
def test_every_api_and_version_answers_a_default_request(cluster: MockCluster, api_key: int, version: int) -> None:
    defaults: dict[int, dict[str, Any]] = {ApiKey.FETCH: {"max_wait_ms": 0}, ApiKey.PRODUCE: {"acks": -1}}
    body = defaults.get(api_key, {})
    with Wire(cluster.brokers[1]) as wire:
        response = wire.call(api_key, version, body)
    assert isinstance(response, dict)
    assert cluster.internal_errors == []


@given(data=st.data())
@FUZZ
def test_schema_valid_requests_with_random_values(cluster: MockCluster, data: st.DataObject) -> None:
    api_key, version = data.draw(st.sampled_from(VERSIONS))
    body = _tame(api_key, data.draw(message_strategy(api_key, version, True)))
    exchange(cluster, encode_request(api_key, version, 1, "fuzz", body), wait=0.3)
    assert cluster.internal_errors == []


@given(data=st.data())
@FUZZ
def test_produce_with_random_record_bytes(cluster: MockCluster, data: st.DataObject) -> None:
    good = batch(b"a", b"bb", b"ccc")
    records = data.draw(st.one_of(
        st.binary(max_size=200),
        st.builds(lambda i, b: good[:i] + bytes([b]) + good[i + 1:], st.integers(0, len(good) - 1),
                  st.integers(0, 255)),
        st.builds(lambda n: good[:n], st.integers(0, len(good))),
    ))
    body = produce_body("t", data.draw(st.integers(-2, 3)), records, acks=data.draw(st.sampled_from([-1, 1, 0, 5])))
    exchange(cluster, encode_request(ApiKey.PRODUCE, 9, 1, "fuzz", body), wait=0.3)
    assert cluster.internal_errors == []


@given(payload=st.binary(max_size=300), key_version=st.sampled_from(VERSIONS))
@FUZZ
def test_valid_header_random_body(cluster: MockCluster, payload: bytes, key_version: tuple[int, int]) -> None:
    api_key, version = key_version
    exchange(cluster, raw_frame(api_key, version, 1, payload), wait=0.2)
    assert cluster.internal_errors == []


@given(data=st.data())
@FUZZ
def test_truncated_and_mutated_requests(cluster: MockCluster, data: st.DataObject) -> None:
    api_key, version = data.draw(st.sampled_from(VERSIONS))
    body = _tame(api_key, data.draw(message_strategy(api_key, version, True)))
    frame = bytearray(encode_request(api_key, version, 1, "fuzz", body))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(4, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(4, len(frame)))
    del frame[cut:]
    struct.pack_into(">i", frame, 0, len(frame) - 4)
    exchange(cluster, bytes(frame), wait=0.2)
    assert cluster.internal_errors == []


@given(garbage=st.binary(min_size=1, max_size=64))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes(cluster: MockCluster, garbage: bytes) -> None:
    exchange(cluster, garbage, wait=0.05)
    assert cluster.internal_errors == []


@pytest.mark.parametrize(
    "prefix",
    [struct.pack(">i", -1), struct.pack(">i", 0x7FFFFFFF), b"\x16\x03\x01\x02\x00", b"GET / HTTP/1.1\r\n\r\n",
     struct.pack(">i", 0), struct.pack(">i", 3) + b"abc"],
    ids=["negative-size", "huge-size", "tls-hello", "http", "empty-frame", "short-header"],
)
def test_bad_frames_close_only_their_connection(cluster: MockCluster, prefix: bytes) -> None:
    with Wire(cluster.brokers[1]) as bystander:
        assert bystander.call(ApiKey.API_VERSIONS, 3, {})["error_code"] == 0
        with Wire(cluster.brokers[1]) as attacker:
            before = cluster.connections_closed_for_bad_input
            attacker.sock.sendall(prefix)
            if prefix not in (b"GET / HTTP/1.1\r\n\r\n",):
                assert attacker.is_closed()
            assert cluster.connections_closed_for_bad_input >= before
        assert bystander.call(ApiKey.API_VERSIONS, 3, {})["error_code"] == 0
    assert_healthy(cluster)


def test_unknown_api_key_closes_the_connection(cluster: MockCluster) -> None:
    with Wire(cluster.brokers[1]) as wire:
        wire.sock.sendall(raw_frame(9999, 0, 1))
        assert wire.is_closed()
    assert_healthy(cluster)


def test_cluster_is_healthy_after_the_fuzzing(cluster: MockCluster) -> None:
    assert_healthy(cluster)
