"""The generic engine: compiles a schema at one version into an encoder and a decoder.

Compilation happens once per (API, version, direction) and produces closures, so encoding a request is
a walk over a short list of precompiled steps: runs of fixed-width fields are packed or unpacked with a
single ``struct`` call, strings and arrays have their own small writers and readers.

Decoding is defensive: every length and count read off the wire is checked against the bytes left
*before* anything is allocated or looped over, so truncated or hostile input raises
:class:`~josef.errors.ProtocolError` quickly.  Encoding errors (a missing mapping, a value of the wrong type
or out of range) raise :class:`EncodeError`, a ``ValueError`` naming the field path.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from josef._core.protocol.primitives import read_uvarint, write_uvarint
from josef._core.protocol.schema import UNSET, Field
from josef.errors import ProtocolError

__all__ = ["Chunks", "Codec", "EncodeError", "compile_message", "skip_tagged_fields", "truncated"]

Writer = Callable[[bytearray, Any], None]
Reader = Callable[[bytes, int], "tuple[Any, int]"]
Step = Callable[[bytearray, Mapping[str, Any]], None]
DecodeStep = Callable[[bytes, int, dict[str, Any]], int]

_FIXED = {"int8": "b", "int16": "h", "uint16": "H", "int32": "i", "int64": "q", "float64": "d", "bool": "?"}
_H = struct.Struct(">h")
_I = struct.Struct(">i")
_ZERO_UUID = uuid.UUID(int=0)
_MISSING = object()
_SPLICE_MIN = 4096  # blobs at least this large are spliced into a Chunks buffer, not copied into it
_ZEROS: dict[str, Any] = {
    "bool": False,
    "float64": 0.0,
    "uuid": _ZERO_UUID,
    "string": "",
    "bytes": b"",
    "records": b"",
}


class EncodeError(ValueError):
    """A value could not be encoded; ``path`` names the field, e.g. ``topic_data[0].partition_data``.

    ``message`` names what was being encoded (``"END_TXN v3 request"``) once the framing layer knows it.
    """

    def __init__(self, path: str, reason: str, message: str = "") -> None:
        where = f"{path}: " if path else ""
        text = f"{message}: {where}{reason}" if message else f"cannot encode {path or 'message'}: {reason}"
        super().__init__(text)
        self.path = path
        self.reason = reason
        self.message = message

    def under(self, prefix: str) -> EncodeError:
        sep = "" if not self.path or self.path.startswith("[") else "."
        return EncodeError(prefix + sep + self.path if self.path else prefix, self.reason)

    def within(self, message: str) -> EncodeError:
        """The same error, naming the message it happened in."""
        return EncodeError(self.path, self.reason, message)


class Chunks(bytearray):
    """An output buffer that keeps large blobs (record batches) out of the bytearray.

    Growing one bytearray by hundreds of kilobytes reallocates and copies it several times; instead a
    large ``bytes``/``records`` value is set aside in ``parts`` (after the bytes written so far), so the
    frame is assembled by a single ``b"".join`` in :meth:`frame`.  Writers treat it as a bytearray.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes | bytearray | memoryview] = []

    def splice(self, blob: bytes | bytearray | memoryview) -> None:
        self.parts.append(bytes(self))
        self.parts.append(blob)
        self.clear()

    def frame(self) -> bytes:
        """Everything written, with the first 4 bytes set to the big-endian size of the rest."""
        if not self.parts:
            _I.pack_into(self, 0, len(self) - 4)
            return bytes(self)
        size = sum(map(len, self.parts)) + len(self) - 4
        self.parts[0] = _I.pack(size) + self.parts[0][4:]  # parts[0] is the header chunk: small
        return b"".join([*self.parts, self])


class Codec(NamedTuple):
    """``encode(out, value)`` appends ``value``; ``decode(buf, pos)`` returns ``(value, new_pos)``."""

    encode: Callable[[bytearray, Mapping[str, Any]], None]
    decode: Callable[[bytes, int], tuple[dict[str, Any], int]]


def truncated(what: str = "message") -> ProtocolError:
    return ProtocolError(f"truncated {what}")


def compile_message(fields: tuple[Field, ...], version: int, flexible: bool) -> Codec:
    """Compile a message (a top-level struct) at ``version``."""
    enc, dec, _, _ = _struct(fields, version, flexible)
    return Codec(enc, dec)


def skip_tagged_fields(buf: bytes, pos: int) -> int:
    """Skip a tagged-field section with no known tags (e.g. in a header)."""
    return _skip_tags(buf, pos, {})


# --- defaults ------------------------------------------------------------------------------------------


def _default_factory(field: Field, version: int, flexible: bool) -> Callable[[], Any]:
    """A callable returning the field's default value at ``version`` (fresh for lists and dicts)."""
    nullable = field.nullable_at(version)
    if field.default is not UNSET and (field.default is not None or nullable):
        value = field.default
        return lambda: value
    if nullable:
        return lambda: None
    if field.kind == "array":
        return list
    if field.kind == "struct":
        _, _, _, make = _struct(field.fields, version, flexible)
        return make
    zero = _ZEROS.get(field.kind, 0)
    return lambda: zero


# --- structs -------------------------------------------------------------------------------------------


def _struct(
    fields: tuple[Field, ...], version: int, flexible: bool
) -> tuple[Writer, Reader, int, Callable[[], dict[str, Any]]]:
    """Encoder, decoder, minimum encoded size and default-value factory of a struct at ``version``."""
    present = [f for f in fields if f.present(version)]
    regular = [f for f in present if f.tag is None or not flexible]
    tagged = sorted((f for f in present if f.tag is not None and flexible), key=lambda f: f.tag or 0)

    enc_steps: list[tuple[str, Step]] = []
    dec_steps: list[DecodeStep] = []
    min_size = 1 if flexible else 0
    i = 0
    while i < len(regular):
        run = []
        while i < len(regular) and regular[i].kind in _FIXED and not regular[i].nullable_at(version):
            run.append(regular[i])
            i += 1
        if run:
            label, enc_step, dec_step, size = _fixed_run(run, version, flexible)
            enc_steps.append((label, enc_step))
            dec_steps.append(dec_step)
            min_size += size
            continue
        field = regular[i]
        i += 1
        writer, reader, size = _field_codec(field, version, flexible)
        default = _default_factory(field, version, flexible)()
        enc_steps.append((field.name, _enc_field_step(field.name, default, writer)))
        dec_steps.append(_dec_field_step(field.name, reader))
        min_size += size
    if flexible:
        enc_steps.append(("<tagged fields>", _tag_writer(tagged, version, flexible)))
        dec_steps.append(_tag_reader(tagged, version, flexible))

    steps = [step for _, step in enc_steps]
    # Every name the struct has in any version: keys of other versions are ignored, any other key is a typo.
    known = frozenset(f.name for f in fields)
    is_known = known.issuperset

    def encode(out: bytearray, value: Mapping[str, Any]) -> None:
        try:
            if is_known(value):
                for step in steps:
                    step(out, value)
                return
        except Exception as exc:
            raise _locate(exc, enc_steps, value) from exc
        raise _unknown(value, known)

    def decode(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
        d: dict[str, Any] = {}
        for step in dec_steps:
            pos = step(buf, pos, d)
        return d, pos

    factories = [(f.name, _default_factory(f, version, flexible)) for f in present]

    def make_default() -> dict[str, Any]:
        return {name: factory() for name, factory in factories}

    template = make_default()
    if not any(isinstance(v, (list, dict)) for v in template.values()):
        make_default = template.copy  # a flat struct: copying is cheaper than rebuilding
    return encode, decode, min_size, make_default


def _locate(exc: Exception, enc_steps: list[tuple[str, Step]], value: Any) -> EncodeError:
    """Slow path after a failed encode: find which field failed by encoding each one on its own."""
    if not isinstance(value, Mapping):
        return EncodeError("", f"expected a mapping, got {type(value).__name__}")
    for label, step in enc_steps:
        try:
            step(bytearray(), value)
        except EncodeError as inner:
            return inner.under(label)
        except Exception as err:
            return EncodeError(label, f"{type(err).__name__}: {err}")
    return EncodeError("", f"{type(exc).__name__}: {exc}")


def _unknown(value: Any, known: frozenset[str]) -> EncodeError:
    """The error for a value with keys the struct does not have (or for a value that is no mapping)."""
    if not isinstance(value, Mapping):
        return EncodeError("", f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(map(repr, set(value) - known))
    noun = "field" if len(unknown) == 1 else "fields"
    return EncodeError("", f"unknown {noun} {', '.join(unknown)}")


def _enc_field_step(name: str, default: Any, writer: Writer) -> Step:
    def step(out: bytearray, value: Mapping[str, Any]) -> None:
        writer(out, value.get(name, default))

    return step


def _dec_field_step(name: str, reader: Reader) -> DecodeStep:
    def step(buf: bytes, pos: int, d: dict[str, Any]) -> int:
        d[name], pos = reader(buf, pos)
        return pos

    return step


def _fixed_run(run: list[Field], version: int, flexible: bool) -> tuple[str, Step, DecodeStep, int]:
    """Consecutive fixed-width fields packed and unpacked with one ``struct`` call."""
    codec = struct.Struct(">" + "".join(_FIXED[f.kind] for f in run))
    pack, unpack, size = codec.pack, codec.unpack_from, codec.size
    names = tuple(f.name for f in run)
    defaults = tuple(_default_factory(f, version, flexible)() for f in run)

    def enc_step(out: bytearray, value: Mapping[str, Any]) -> None:
        out += pack(*map(value.get, names, defaults))

    def dec_step(buf: bytes, pos: int, d: dict[str, Any]) -> int:
        end = pos + size
        if end > len(buf):
            raise truncated(names[0])
        d.update(zip(names, unpack(buf, pos), strict=True))
        return end

    return "/".join(names), enc_step, dec_step, size


# --- tagged fields -------------------------------------------------------------------------------------


def _tag_writer(tagged: list[Field], version: int, flexible: bool) -> Step:
    if not tagged:

        def empty(out: bytearray, value: Mapping[str, Any]) -> None:
            out.append(0)

        return empty

    entries = [
        (f.tag or 0, f.name, _default_factory(f, version, flexible)(), _field_codec(f, version, flexible)[0])
        for f in tagged
    ]

    def write_tags(out: bytearray, value: Mapping[str, Any]) -> None:
        parts: list[tuple[int, bytearray]] = []
        for tag, name, default, writer in entries:
            item = value.get(name, _MISSING)
            if item is _MISSING or item == default:
                continue
            tmp = bytearray()
            writer(tmp, item)
            parts.append((tag, tmp))
        write_uvarint(out, len(parts))
        for tag, tmp in parts:
            write_uvarint(out, tag)
            write_uvarint(out, len(tmp))
            out += tmp

    return write_tags


def _tag_reader(tagged: list[Field], version: int, flexible: bool) -> DecodeStep:
    known = {f.tag: (f.name, _field_codec(f, version, flexible)[1]) for f in tagged}
    defaults = [(f.name, _default_factory(f, version, flexible)) for f in tagged]

    def read_tags(buf: bytes, pos: int, d: dict[str, Any]) -> int:
        if pos < len(buf) and buf[pos] == 0:  # the usual empty section: one zero byte
            for name, factory in defaults:
                d[name] = factory()
            return pos + 1
        count, pos = read_uvarint(buf, pos)
        if count * 2 > len(buf) - pos:  # each tagged field needs at least a tag byte and a size byte
            raise truncated("tagged fields")
        for _ in range(count):
            tag, pos = read_uvarint(buf, pos)
            size, pos = read_uvarint(buf, pos)
            end = pos + size
            if end > len(buf):
                raise truncated("tagged field")
            entry = known.get(tag)
            if entry is not None:  # unknown tags are skipped: they come from newer peers
                name, reader = entry
                d[name], used = reader(buf[pos:end], 0)
                if used != size:
                    raise ProtocolError(f"tagged field {name}: {size - used} bytes left over")
            pos = end
        for name, factory in defaults:
            if name not in d:
                d[name] = factory()
        return pos

    return read_tags


_skip_tags = _tag_reader([], 0, True)


# --- single fields -------------------------------------------------------------------------------------


def _field_codec(field: Field, version: int, flexible: bool) -> tuple[Writer, Reader, int]:
    """Writer, reader and minimum encoded size of one field's value."""
    nullable = field.nullable_at(version)
    if field.kind == "array":
        return _array(field, version, flexible, nullable)
    if field.kind == "struct":
        enc, dec, size, _ = _struct(field.fields, version, flexible)
        return enc, dec, size
    return _primitive(field.kind, flexible, nullable)


def _primitive(kind: str, flexible: bool, nullable: bool) -> tuple[Writer, Reader, int]:
    if kind in _FIXED:
        return _fixed(kind)
    if kind == "uuid":
        return _write_uuid, _read_uuid, 16
    return _blob(flexible, nullable, kind == "string")


def _fixed(kind: str) -> tuple[Writer, Reader, int]:
    codec = struct.Struct(">" + _FIXED[kind])
    pack, unpack, size = codec.pack, codec.unpack_from, codec.size

    def write(out: bytearray, value: Any) -> None:
        out += pack(value)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(buf):
            raise truncated(kind)
        return unpack(buf, pos)[0], end

    return write, read, size


def _write_uuid(out: bytearray, value: Any) -> None:
    raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
    if len(raw) != 16:
        raise ValueError(f"a uuid needs 16 bytes, got {len(raw)}")
    out += raw


def _read_uuid(buf: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 16
    if end > len(buf):
        raise truncated("uuid")
    return uuid.UUID(bytes=buf[pos:end]), end


LengthWriter = Callable[[bytearray, "int | None"], None]
LengthReader = Callable[[bytes, int], "tuple[int | None, int]"]


def _length_codec(
    flexible: bool, nullable: bool, wide: bool, what: str
) -> tuple[LengthWriter, LengthReader, int]:
    """Length prefixes: classic int16 (strings) or int32 (bytes, arrays) with -1 = null, or compact
    uvarint(n + 1) with 0 = null.  Both directions reject null where the field is not nullable."""

    def null_check() -> None:
        if not nullable:
            raise ValueError(f"None for a non-nullable {what}")

    if flexible:

        def write_compact(out: bytearray, n: int | None) -> None:
            if n is None:
                null_check()
                out.append(0)
            elif n < 0x7F:
                out.append(n + 1)
            else:
                write_uvarint(out, n + 1)

        def read_compact(buf: bytes, pos: int) -> tuple[int | None, int]:
            n, pos = read_uvarint(buf, pos)
            if n == 0:
                if not nullable:
                    raise ProtocolError(f"null {what} in a non-nullable field")
                return None, pos
            return n - 1, pos

        return write_compact, read_compact, 1

    codec = _I if wide else _H
    pack, unpack, size = codec.pack, codec.unpack_from, codec.size

    def write_classic(out: bytearray, n: int | None) -> None:
        if n is None:
            null_check()
            n = -1
        out += pack(n)

    def read_classic(buf: bytes, pos: int) -> tuple[int | None, int]:
        end = pos + size
        if end > len(buf):
            raise truncated(what)
        n = unpack(buf, pos)[0]
        if n < 0:
            if n != -1 or not nullable:
                raise ProtocolError(f"invalid {what} length {n}")
            return None, end
        return n, end

    return write_classic, read_classic, size


def _blob(flexible: bool, nullable: bool, text: bool) -> tuple[Writer, Reader, int]:
    """Strings (``text``: UTF-8 ``str``, int16 classic length) and bytes/records (int32 classic length)."""
    what = "string" if text else "bytes"
    write_len, read_len, min_size = _length_codec(flexible, nullable, not text, what)

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            write_len(out, None)
            return
        raw = value.encode() if text else value
        write_len(out, len(raw))
        if len(raw) >= _SPLICE_MIN and isinstance(out, Chunks):
            out.splice(raw)
        else:
            out += raw

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        n, pos = read_len(buf, pos)
        if n is None:
            return None, pos
        end = pos + n
        if end > len(buf):
            raise truncated(what)
        if not text:
            return buf[pos:end], end
        try:
            return buf[pos:end].decode(), end
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"string is not valid UTF-8: {exc}") from None

    return write, read, min_size


def _array(field: Field, version: int, flexible: bool, nullable: bool) -> tuple[Writer, Reader, int]:
    write_len, read_len, min_size = _length_codec(flexible, nullable, True, "array")
    item = field.item or "struct"
    write_items: Callable[[bytearray, Any], None]
    read_items: Callable[[bytes, int, int], tuple[list[Any], int]]
    if item in _FIXED:
        # Arrays of fixed-width numbers are packed and unpacked in one struct call.
        code = _FIXED[item]
        item_size = struct.calcsize(code)

        def write_items(out: bytearray, value: Any) -> None:
            out += struct.pack(f">{len(value)}{code}", *value)

        def read_items(buf: bytes, pos: int, n: int) -> tuple[list[Any], int]:
            return list(struct.unpack_from(f">{n}{code}", buf, pos)), pos + n * item_size

    else:
        if item == "struct":
            write_item, read_item, item_size, _ = _struct(field.fields, version, flexible)
        else:
            write_item, read_item, item_size = _primitive(item, flexible, False)
        item_size = max(item_size, 1)

        def write_items(out: bytearray, value: Any) -> None:
            try:
                for element in value:
                    write_item(out, element)
            except Exception as exc:
                raise _locate_item(exc, write_item, value) from exc

        def read_items(buf: bytes, pos: int, n: int) -> tuple[list[Any], int]:
            items = []
            for _ in range(n):
                element, pos = read_item(buf, pos)
                items.append(element)
            return items, pos

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            write_len(out, None)
            return
        write_len(out, len(value))
        write_items(out, value)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        n, pos = read_len(buf, pos)
        if n is None:
            return None, pos
        if n * item_size > len(buf) - pos:  # before allocating or looping over a hostile count
            raise truncated(f"array of {n}")
        return read_items(buf, pos, n)

    return write, read, min_size


def _locate_item(exc: Exception, write_item: Writer, value: Any) -> EncodeError:
    for index, element in enumerate(value):
        try:
            write_item(bytearray(), element)
        except EncodeError as inner:
            return inner.under(f"[{index}]")
        except Exception as err:
            return EncodeError(f"[{index}]", f"{type(err).__name__}: {err}")
    return EncodeError("", f"{type(exc).__name__}: {exc}")
