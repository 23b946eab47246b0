"""Whole frames: the size prefix, request/response headers, version checks and incremental reading.

Request header v1 is ``api_key int16, api_version int16, correlation_id int32, client_id nullable
string``; v2 (used when the request version is flexible) adds an empty tagged-field section.  The
client_id stays a classic int16-length string in v2 so any broker can parse any header.  Response
header v0 is ``correlation_id int32``; v1 (flexible responses) adds tagged fields, except that
ApiVersions responses always use v0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from josef._core.protocol import produce
from josef._core.protocol.apis import APIS, CLIENT_VERSIONS, ApiKey
from josef._core.protocol.codec import Chunks, Codec, EncodeError, compile_message, skip_tagged_fields, truncated
from josef.errors import ErrorCode, ProtocolError, UnsupportedVersionError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "FrameReader",
    "RequestHeader",
    "UnsupportedRequestError",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_request_into",
    "encode_request_parts",
    "encode_response",
    "negotiate_version",
]

DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024
_SIZE = struct.Struct(">i")
_REQUEST_HEADER = struct.Struct(">hhi")
_H = struct.Struct(">h")
# Anything the decoders might raise on input that slipped past an explicit check; turned into ProtocolError.
_DECODE_FAILURES = (struct.error, IndexError, ValueError, OverflowError, TypeError)

_codecs: dict[tuple[int, int, bool], Codec] = {}
# Produce versions written and read by josef._core.protocol.produce (the generic codec as fallback).
_HAND_WRITTEN_PRODUCE = range(produce.FIRST_FLEXIBLE, APIS[ApiKey.PRODUCE].max_version + 1)
_CLIENT_RANGES: dict[int, tuple[int, int]] = {int(key): span for key, span in CLIENT_VERSIONS.items()}


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


class UnsupportedRequestError(ProtocolError):
    """:func:`decode_request` parsed the header but josef has no schema for that API key and version.

    ``header`` lets a broker answer with UNSUPPORTED_VERSION (for ApiVersions: a v0-format response).
    """

    def __init__(self, header: RequestHeader) -> None:
        super().__init__(header)
        self.header = header

    def __str__(self) -> str:
        return f"unsupported request: api_key {self.header.api_key} v{self.header.api_version}"


def _codec(api_key: int, version: int, request: bool) -> Codec:
    codec = _codecs.get((api_key, version, request))
    if codec is None:
        api = APIS.get(api_key)
        if api is None:
            raise UnsupportedVersionError(f"josef does not implement API key {api_key}")
        if not api.min_version <= version <= api.max_version:
            raise UnsupportedVersionError(
                f"josef implements {api.name} v{api.min_version}-{api.max_version}, not v{version}"
            )
        codec = compile_message(api.request if request else api.response, version, api.flexible(version))
        _codecs[(api_key, version, request)] = codec
    return codec


def _flexible_header(api_key: int, version: int, request: bool) -> bool:
    if api_key == ApiKey.API_VERSIONS and not request:
        return False
    return APIS[api_key].flexible(version)


def encode_request_into(
    out: bytearray,
    api_key: int,
    version: int,
    correlation_id: int,
    client_id: str | None,
    body: Mapping[str, Any],
) -> None:
    """Append a whole request frame (size prefix, header, body) to ``out``.

    This copies the frame once more than :func:`encode_request`, which is the faster of the two.
    """
    out += encode_request(api_key, version, correlation_id, client_id, body)


def encode_request_parts(
    api_key: int, version: int, correlation_id: int, client_id: str | None, body: Mapping[str, Any]
) -> list[bytes | bytearray | memoryview]:
    """:func:`encode_request`'s frame in parts to be written one after the other: a Produce request's
    large record batches are parts of their own, not copied into the frame (see ``produce``)."""
    if api_key == ApiKey.PRODUCE and version in _HAND_WRITTEN_PRODUCE:
        parts = produce.encode_request_parts(version, correlation_id, client_id, body)
        if parts is not None:
            return parts
    return [encode_request(api_key, version, correlation_id, client_id, body)]


def encode_request(
    api_key: int, version: int, correlation_id: int, client_id: str | None, body: Mapping[str, Any]
) -> bytes | bytearray:
    """The whole request frame, including the 4-byte big-endian size prefix (a bytearray nobody
    else holds, for Produce).

    Fields missing from ``body`` take their defaults; fields that exist only in other versions of the
    message are ignored; any other key raises :class:`~josef._core.protocol.codec.EncodeError` naming it (a
    misspelt field must not silently encode as its default).  Raises
    :class:`~josef.errors.UnsupportedVersionError` for an API or version josef does not implement and
    :class:`~josef._core.protocol.codec.EncodeError` (a ``ValueError``) for a bad value.
    """
    if api_key == ApiKey.PRODUCE and version in _HAND_WRITTEN_PRODUCE:
        frame = produce.encode_request(version, correlation_id, client_id, body)
        if frame is not None:
            return frame
    codec = _codec(api_key, version, True)
    out = Chunks()
    out += _SIZE.pack(0)  # patched by frame()
    out += _REQUEST_HEADER.pack(api_key, version, correlation_id)
    if client_id is None:
        out += _H.pack(-1)
    else:
        raw = client_id.encode()
        out += _H.pack(len(raw))
        out += raw
    if _flexible_header(api_key, version, True):
        out.append(0)
    try:
        codec.encode(out, body)
    except EncodeError as exc:
        raise exc.within(f"{ApiKey(api_key).name} v{version} request") from None
    return out.frame()


def encode_response(api_key: int, version: int, correlation_id: int, body: Mapping[str, Any]) -> bytes:
    """A whole response frame with size prefix (for brokers, e.g. the mock cluster)."""
    codec = _codec(api_key, version, False)
    out = Chunks()
    out += _SIZE.pack(0)  # patched by frame()
    out += _SIZE.pack(correlation_id)
    if _flexible_header(api_key, version, False):
        out.append(0)
    try:
        codec.encode(out, body)
    except EncodeError as exc:
        raise exc.within(f"{ApiKey(api_key).name} v{version} response") from None
    return out.frame()


def decode_response(api_key: int, version: int, frame: bytes | memoryview) -> tuple[int, dict[str, Any]]:
    """Decode a response frame (the bytes after the size prefix) into ``(correlation_id, body)``.

    ``body`` has every field of ``version``; tagged fields the broker did not send hold their defaults.

    ApiVersions: a broker that does not know the requested version answers in the v0 format with
    error_code UNSUPPORTED_VERSION (35) and its own ApiVersions range in ``api_keys``.  When the body
    starts with error code 35 the frame is therefore decoded as v0, whatever ``version`` was asked for.
    """
    buf = frame if isinstance(frame, bytes) else bytes(frame)
    if api_key == ApiKey.PRODUCE and version in _HAND_WRITTEN_PRODUCE:
        try:
            fast = produce.decode_response(version, buf)
        except _DECODE_FAILURES:
            fast = None  # malformed: the generic codec says how
        if fast is not None:
            return fast
    codec = _codec(api_key, version, False)
    try:
        if len(buf) < 4:
            raise truncated("response header")
        correlation_id = _SIZE.unpack_from(buf, 0)[0]
        pos = 4
        if api_key == ApiKey.API_VERSIONS:
            if version > 0 and len(buf) >= 6 and _H.unpack_from(buf, 4)[0] == ErrorCode.UNSUPPORTED_VERSION:
                codec = _codec(api_key, 0, False)
        elif APIS[api_key].flexible(version):
            pos = skip_tagged_fields(buf, pos)
        body, pos = codec.decode(buf, pos)
    except _DECODE_FAILURES as exc:
        raise ProtocolError(f"malformed {APIS[api_key].name} v{version} response: {exc}") from exc
    if pos != len(buf):
        raise ProtocolError(
            f"{len(buf) - pos} bytes left over after {APIS[api_key].name} v{version} response"
        )
    return correlation_id, body


def decode_request(frame: bytes | memoryview) -> tuple[RequestHeader, dict[str, Any]]:
    """Decode a request frame (after the size prefix) into its header and body (for brokers).

    Raises :class:`UnsupportedRequestError` (a :class:`~josef.errors.ProtocolError` carrying the parsed
    header) when the API key or version is not one josef implements.
    """
    buf = frame if isinstance(frame, bytes) else bytes(frame)
    try:
        if len(buf) < 10:
            raise truncated("request header")
        api_key, version, correlation_id = _REQUEST_HEADER.unpack_from(buf, 0)
        n = _H.unpack_from(buf, 8)[0]
        pos = 10
        client_id: str | None = None
        if n >= 0:
            if pos + n > len(buf):
                raise truncated("client_id")
            client_id = buf[pos : pos + n].decode()
            pos += n
        elif n != -1:
            raise ProtocolError(f"invalid client_id length {n}")
        header = RequestHeader(api_key, version, correlation_id, client_id)
        api = APIS.get(api_key)
        if api is None or not api.min_version <= version <= api.max_version:
            raise UnsupportedRequestError(header)
        if api.flexible(version):
            pos = skip_tagged_fields(buf, pos)
        body, pos = _codec(api_key, version, True).decode(buf, pos)
    except _DECODE_FAILURES as exc:
        raise ProtocolError(f"malformed request: {exc}") from exc
    if pos != len(buf):
        raise ProtocolError(f"{len(buf) - pos} bytes left over after {api.name} v{version} request")
    return header, body


def negotiate_version(api_key: int, broker_min: int, broker_max: int) -> int | None:
    """The version to use: ``min(client_max, broker_max)`` if it is at least ``max(client_min, broker_min)``;
    None when the ranges do not overlap or josef does not implement the API."""
    client = _CLIENT_RANGES.get(api_key)
    if client is None:
        return None
    version = min(client[1], broker_max)
    return version if version >= max(client[0], broker_min) else None


class FrameReader:
    """Incremental framing: ``feed(data)`` bytes as they arrive, then call ``next_frame()`` until None.

    Frames are returned without their size prefix.  A negative size, or one above ``max_frame_size``,
    raises :class:`~josef.errors.ProtocolError` as soon as its 4 bytes are seen (before any body arrives),
    and keeps raising: the stream cannot be resynchronised.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        if len(self._buf) - self._pos >= 4:
            self._frame_size()

    def _frame_size(self) -> int:
        size: int = _SIZE.unpack_from(self._buf, self._pos)[0]
        if size < 0 or size > self.max_frame_size:
            raise ProtocolError(f"frame size {size} outside 0..{self.max_frame_size}")
        return size

    def next_frame(self) -> bytes | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        size = self._frame_size()
        end = pos + 4 + size
        if end > len(buf):
            return None
        with memoryview(buf) as view:
            frame = view[pos + 4 : end].tobytes()
        if end == len(buf):
            buf.clear()
            self._pos = 0
        elif end > 65536 and end * 2 > len(buf):  # drop consumed bytes once they dominate the buffer
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end
        return frame
