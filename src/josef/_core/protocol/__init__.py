"""Sans-I/O Kafka protocol codec: bytes in, dicts out, and back.  No sockets, threads or clocks.

Messages are plain dicts with Kafka's field names in snake_case, e.g. a Produce request::

    {"transactional_id": None, "acks": -1, "timeout_ms": 30000,
     "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"..."}]}]}

The schemas live in :mod:`josef._core.protocol.apis` (one request/response pair per API, in the small language of
:mod:`josef._core.protocol.schema`); :mod:`josef._core.protocol.codec` compiles them per version into encoders and
decoders, and :mod:`josef._core.protocol.framing` adds size prefixes and headers.

Encoding: missing fields take their defaults (0, "", False, [], None where nullable, or the schema's own
default); fields that exist only in other versions of the message are ignored, and any other key raises
:class:`EncodeError` naming it (``END_TXN v3 request: unknown field 'commited'``), so a typo cannot encode
as a default.  :mod:`josef._core.protocol.types` has a generated ``TypedDict`` per body for mypy to check field
names before that.  Decoding returns every field of the version;
tagged fields are always present, holding their default when the peer did not send them.  UUIDs decode to
:class:`uuid.UUID` (encode accepts a UUID or 16 bytes); bytes and records decode to ``bytes``.

Malformed input never raises anything but :class:`josef.errors.ProtocolError`.
"""

from josef._core.protocol.apis import CLIENT_VERSIONS, ApiKey
from josef._core.protocol.codec import EncodeError
from josef._core.protocol.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameReader,
    RequestHeader,
    UnsupportedRequestError,
    decode_request,
    decode_response,
    encode_request,
    encode_request_into,
    encode_response,
    negotiate_version,
)

__all__ = [
    "CLIENT_VERSIONS",
    "DEFAULT_MAX_FRAME_SIZE",
    "ApiKey",
    "EncodeError",
    "FrameReader",
    "RequestHeader",
    "UnsupportedRequestError",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_request_into",
    "encode_response",
    "negotiate_version",
]
