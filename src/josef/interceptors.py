"""Producer interceptors: Java's ``interceptor.classes``.

An interceptor sees every record before it is serialized (``on_send(record) -> record``, which
may return a changed record, e.g. with a tracing header added) and every outcome
(``on_acknowledgement(metadata, exception)``, on the sender thread, before the record's own
callback); ``close()`` runs when the producer closes. An optional ``configure(config)`` gets the
producer's configuration (Java names) once, when the producer starts.

As in Java, an exception raised by an interceptor is logged and swallowed: the record goes on
unchanged (as the interceptors before it left it) and is never lost to a faulty interceptor.
``on_acknowledgement`` is called for every record ``send()`` accepted; a ``send()`` that raises
(bad input, ``max.block.ms`` spent) reports to its caller only.

josef extension: an interceptor with ``on_record_acknowledgement(record, metadata, exception)``
gets that instead of ``on_acknowledgement``, with the record its ``on_send`` returned, so it can
match outcomes to records without keeping a table (``josef.otel`` ends its spans this way).

Without interceptors the producer pays one attribute check per record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from josef.future import RecordMetadata
from josef.serialization import Headers, load_object

log = logging.getLogger("josef.interceptors")

Callback = Callable[["RecordMetadata | None", "BaseException | None"], Any]


@dataclass
class ProducerRecord:
    """A record as given to ``send()``: not serialized yet. ``headers`` is a mutable list of
    ``(str, bytes | None)`` pairs; ``partition`` / ``timestamp_ms`` are ``None`` unless set."""

    topic: str
    value: Any = None
    key: Any = None
    partition: int | None = None
    timestamp_ms: int | None = None
    headers: Headers = field(default_factory=list)


@runtime_checkable
class ProducerInterceptor(Protocol):
    """Java's ``ProducerInterceptor``."""

    def on_send(self, record: ProducerRecord) -> ProducerRecord: ...

    def on_acknowledgement(self, metadata: RecordMetadata | None, exception: BaseException | None) -> None: ...

    def close(self) -> None: ...


def parse_interceptors(key: str, value: Any) -> list[Any]:
    """``interceptor.classes``: a comma-separated string or a list of dotted paths (classes are
    instantiated without arguments) and interceptor objects."""
    if value is None:
        return []
    items: Iterable[Any] = [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value
    out = []
    for item in items:
        obj = load_object(item.strip(), key) if isinstance(item, str) else item() if isinstance(item, type) else item
        if not callable(getattr(obj, "on_send", None)):
            raise ValueError(f"{key}: {obj!r} has no on_send(record) method")
        out.append(obj)
    return out


class Interceptors:
    """The configured interceptors, run in order."""

    def __init__(self, interceptors: list[Any], config: Mapping[str, Any]) -> None:
        self._all = interceptors
        for interceptor in interceptors:
            configure = getattr(interceptor, "configure", None)
            if callable(configure):
                configure(dict(config))  # a failing configure() fails the producer, as in Java
        self._plain = [
            i.on_acknowledgement
            for i in interceptors
            if not hasattr(i, "on_record_acknowledgement") and callable(getattr(i, "on_acknowledgement", None))
        ]
        # (position in the chain, hook): each gets the record its own on_send returned
        self._with_record = [
            (n, i.on_record_acknowledgement)
            for n, i in enumerate(interceptors)
            if hasattr(i, "on_record_acknowledgement")
        ]

    def on_send(
        self,
        topic: str,
        value: Any,
        key: Any,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Any,
        callback: Callback | None,
    ) -> tuple[str, Any, Any, int | None, int | None, Headers | None, Callback]:
        """``send()``'s arguments after every interceptor's ``on_send``, with a callback that
        reports the outcome to the interceptors first."""
        record = ProducerRecord(
            topic, value, key, partition, timestamp_ms,
            list(headers.items() if isinstance(headers, dict) else headers or ()),
        )
        with_record = self._with_record
        returned: list[ProducerRecord] | None = [] if with_record else None
        for interceptor in self._all:
            try:
                result = interceptor.on_send(record)
            except Exception:
                log.warning("interceptor %r: on_send failed; the record goes on unchanged", interceptor, exc_info=True)
                result = record
            if isinstance(result, ProducerRecord):
                record = result
            else:
                log.warning("interceptor %r: on_send returned %r, not a ProducerRecord; ignored", interceptor, result)
            if returned is not None:
                returned.append(record)
        r = record
        return r.topic, r.value, r.key, r.partition, r.timestamp_ms, r.headers or None, _Acknowledge(
            self, returned, callback
        )

    def acknowledge(
        self,
        returned: list[ProducerRecord] | None,
        metadata: RecordMetadata | None,
        exception: BaseException | None,
    ) -> None:
        for hook in self._plain:
            try:
                hook(metadata, exception)
            except Exception:
                log.warning("interceptor on_acknowledgement %r failed", hook, exc_info=True)
        if returned is not None:
            for position, record_hook in self._with_record:
                try:
                    record_hook(returned[position], metadata, exception)
                except Exception:
                    log.warning("interceptor on_record_acknowledgement %r failed", record_hook, exc_info=True)

    def close(self) -> None:
        """Each interceptor's ``close()``, once."""
        interceptors, self._all = self._all, []
        for interceptor in interceptors:
            close = getattr(interceptor, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.warning("interceptor %r: close failed", interceptor, exc_info=True)


class _Acknowledge:
    """A record's callback: the interceptors first, then the user's. One small object per record
    (not a closure and its cells): records wait for their acknowledgement by the hundred thousand,
    and every object alive then is work for the garbage collector."""

    __slots__ = ("_callback", "_chain", "_returned")

    def __init__(self, chain: Interceptors, returned: list[ProducerRecord] | None, callback: Callback | None) -> None:
        self._chain = chain
        self._returned = returned
        self._callback = callback

    def __call__(self, metadata: RecordMetadata | None, exception: BaseException | None) -> None:
        self._chain.acknowledge(self._returned, metadata, exception)
        if self._callback is not None:
            self._callback(metadata, exception)


__all__ = ["Interceptors", "ProducerInterceptor", "ProducerRecord", "parse_interceptors"]
