"""Hypothesis strategies that build valid message dicts straight from the schemas."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from josef._core.protocol.apis import APIS
from josef._core.protocol.schema import Field

_INTS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    if kind in _INTS:
        bits = _INTS[kind]
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if kind == "uint16":
        return st.integers(0, 0xFFFF)
    if kind == "float64":
        return st.floats(allow_nan=False)
    if kind == "bool":
        return st.booleans()
    if kind == "uuid":
        return st.uuids()
    if kind == "string":
        return st.text(max_size=12)
    return st.binary(max_size=24)  # bytes, records


def field_strategy(field: Field, version: int) -> st.SearchStrategy[Any]:
    strategy: st.SearchStrategy[Any]
    if field.kind == "struct":
        strategy = struct_strategy(field.fields, version)
    elif field.kind == "array":
        if field.item == "struct":
            strategy = st.lists(struct_strategy(field.fields, version), max_size=3)
        else:
            strategy = st.lists(_primitive(field.item or ""), max_size=3)
    else:
        strategy = _primitive(field.kind)
    if field.nullable_at(version):
        strategy = st.none() | strategy
    return strategy


def struct_strategy(fields: tuple[Field, ...], version: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({f.name: field_strategy(f, version) for f in fields if f.present(version)})


def message_strategy(api_key: int, version: int, request: bool) -> st.SearchStrategy[dict[str, Any]]:
    api = APIS[api_key]
    return struct_strategy(api.request if request else api.response, version)


def all_versions() -> list[tuple[int, int]]:
    return [(key, v) for key, api in APIS.items() for v in range(api.min_version, api.max_version + 1)]
