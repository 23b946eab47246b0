"""The schema language: one compact text block per request/response, parsed into :class:`Field` trees.

Each line declares one field; children are indented under their parent::

    name  type  [vA+ | vA-B | vA]  [null | nullA+ | nullA-B]  [tagN]  [=default]

* ``type``: ``int8 int16 uint16 int32 int64 float64 bool uuid string bytes records``; ``[]int32`` (any
  primitive) for an array of primitives; ``[]`` for an array of structs and ``{}`` for a struct, both with
  the struct's fields indented below.
* ``vA+`` / ``vA-B`` / ``vA``: the versions the field exists in (default: all).  Outside them the field is
  ignored on encode and absent on decode.
* ``null…``: the versions in which the field may be null (``null`` alone: all of them).
* ``tagN``: a tagged field with tag ``N`` (only in flexible versions); it is written only when its value
  differs from the default, and decode always returns it, with the default when the peer did not send it.
* ``=default``: a Python literal (``=-1``, ``=True``, ``=None``); otherwise the default is the type's zero
  value, or None for a field that is nullable in that version.

Names are Kafka's field names in snake_case.  Everything after ``#`` on a line is a comment.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = ["PRIMITIVES", "UNSET", "Api", "Field", "parse_fields"]

PRIMITIVES = frozenset(
    {"int8", "int16", "uint16", "int32", "int64", "float64", "bool", "uuid", "string", "bytes", "records"}
)
_MAX_VERSION = 0x7FFF
_RANGE = re.compile(r"(\d+)(\+|-(\d+))?$")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class Field:
    """One field of a message or struct.

    ``kind`` is a primitive name, ``"array"`` or ``"struct"``; ``item`` is the element type of an array
    (a primitive name, or ``"struct"`` with the element's fields in ``fields``).
    """

    name: str
    kind: str
    item: str | None
    versions: tuple[int, int]
    nullable: tuple[int, int] | None
    tag: int | None
    default: object
    fields: tuple[Field, ...]

    def present(self, version: int) -> bool:
        return self.versions[0] <= version <= self.versions[1]

    def nullable_at(self, version: int) -> bool:
        return self.nullable is not None and self.nullable[0] <= version <= self.nullable[1]


@dataclass(frozen=True)
class Api:
    """A request/response pair: the versions josef implements and where flexible encoding starts."""

    key: int
    name: str
    min_version: int
    max_version: int
    flexible_from: int | None
    request: tuple[Field, ...]
    response: tuple[Field, ...]

    def flexible(self, version: int) -> bool:
        return self.flexible_from is not None and version >= self.flexible_from


def _range(text: str, line: str) -> tuple[int, int]:
    m = _RANGE.match(text)
    if not m:
        raise ValueError(f"bad version range {text!r} in {line!r}")
    lo = int(m.group(1))
    if m.group(2) is None:
        return lo, lo
    if m.group(2) == "+":
        return lo, _MAX_VERSION
    return lo, int(m.group(3))


def _parse_line(line: str) -> tuple[str, str, tuple[int, int], tuple[int, int] | None, int | None, object]:
    tokens = line.split()
    if len(tokens) < 2:
        raise ValueError(f"field needs a name and a type: {line!r}")
    name, type_, *opts = tokens
    versions: tuple[int, int] = (0, _MAX_VERSION)
    nullable: tuple[int, int] | None = None
    tag: int | None = None
    default: object = UNSET
    for opt in opts:
        if opt.startswith("null"):
            nullable = _range(opt[4:], line) if opt != "null" else (0, _MAX_VERSION)
        elif opt.startswith("v"):
            versions = _range(opt[1:], line)
        elif opt.startswith("tag"):
            tag = int(opt[3:])
        elif opt.startswith("="):
            default = ast.literal_eval(opt[1:])
        else:
            raise ValueError(f"unknown option {opt!r} in {line!r}")
    return name, type_, versions, nullable, tag, default


def parse_fields(text: str) -> tuple[Field, ...]:
    """Parse a schema block (see the module docstring) into fields."""
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        stripped = raw.split("#", 1)[0].rstrip()
        if stripped.strip():
            lines.append((len(stripped) - len(stripped.lstrip()), stripped.strip()))
    fields, end = _parse_block(lines, 0, lines[0][0] if lines else 0)
    if end != len(lines):
        raise ValueError(f"bad indentation at {lines[end][1]!r}")
    return fields


def _parse_block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[tuple[Field, ...], int]:
    out: list[Field] = []
    while i < len(lines) and lines[i][0] == indent:
        line = lines[i][1]
        name, type_, versions, nullable, tag, default = _parse_line(line)
        i += 1
        children: tuple[Field, ...] = ()
        if type_ in ("[]", "{}"):
            if i >= len(lines) or lines[i][0] <= indent:
                raise ValueError(f"struct without fields: {line!r}")
            children, i = _parse_block(lines, i, lines[i][0])
        if type_ == "[]":
            kind, item = "array", "struct"
        elif type_ == "{}":
            kind, item = "struct", None
        elif type_.startswith("[]") and type_[2:] in PRIMITIVES:
            kind, item = "array", type_[2:]
        elif type_ in PRIMITIVES:
            kind, item = type_, None
        else:
            raise ValueError(f"unknown type {type_!r} in {line!r}")
        if any(f.name == name for f in out):
            raise ValueError(f"duplicate field {name!r}")
        out.append(Field(name, kind, item, versions, nullable, tag, default, children))
    if i < len(lines) and lines[i][0] > indent:
        raise ValueError(f"unexpected indentation at {lines[i][1]!r}")
    return tuple(out), i
