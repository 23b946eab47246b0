from collections.abc import Sequence
from typing import Any

def murmur2(data: bytes) -> int: ...
def encode_records(
    records: Sequence[tuple[int, bytes | None, bytes | None, bytes | None]], base_timestamp: int, first_offset: int = 0
) -> bytearray: ...
def append_records(
    buf: bytearray,
    records: Sequence[tuple[int, bytes | None, bytes | None, bytes | None]],
    base_timestamp: int,
    first_offset: int,
    limit: int,
) -> None: ...
def configure_send_fast(batch_type: type, result_type: type, future_type: type, framing_estimate: int) -> None: ...
def send_fast(
    state: tuple[Any, ...],
    topic: Any,
    value: Any,
    key: Any,
    partition: Any,
    timestamp_ms: Any,
    headers: Any,
    callback: Any,
    /,
) -> Any: ...
