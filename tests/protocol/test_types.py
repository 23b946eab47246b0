"""The generated TypedDicts (josef._core.protocol.types) match the schemas and make mypy check field names."""

from __future__ import annotations

import subprocess
import sys
import types as types_module
import typing
from pathlib import Path

import pytest

from josef._core.protocol import types
from josef._core.protocol.apis import APIS
from josef._core.protocol.schema import Field

ROOT = Path(__file__).resolve().parent.parent.parent


def test_generated_types_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protocol_types.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _check(cls: type, fields: tuple[Field, ...], lo: int, hi: int) -> None:
    hints = typing.get_type_hints(cls)
    assert set(hints) == {f.name for f in fields}, cls.__name__
    for f in fields:
        required = f.tag is None and f.versions[0] <= lo and f.versions[1] >= hi
        assert (f.name in cls.__required_keys__) == required, f"{cls.__name__}.{f.name}"  # type: ignore[attr-defined]
        if f.kind in ("struct", "array") and (f.item or "struct") == "struct":
            inner = hints[f.name]
            if typing.get_origin(inner) in (typing.Union, types_module.UnionType):  # nullable: X | None
                (inner,) = [a for a in typing.get_args(inner) if a is not type(None)]
            element = typing.get_args(inner)[0] if f.kind == "array" else inner
            _check(element, f.fields, lo, hi)


@pytest.mark.parametrize("api", sorted(APIS.values(), key=lambda a: a.key), ids=lambda a: a.name)
def test_every_message_has_a_typed_dict_with_its_fields(api: typing.Any) -> None:
    _check(getattr(types, f"{api.name}Request"), api.request, api.min_version, api.max_version)
    _check(getattr(types, f"{api.name}Response"), api.response, api.min_version, api.max_version)


def test_mypy_refuses_a_misspelt_field(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from josef._core.protocol.types import EndTxnRequest\n"
        "ok: EndTxnRequest = {'transactional_id': 't', 'producer_id': 1, 'producer_epoch': 0, 'committed': True}\n"
        "bad: EndTxnRequest = {'transactional_id': 't', 'producer_id': 1, 'producer_epoch': 0, 'commited': True}\n"
    )
    out, _, status = api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(snippet)]
    )
    assert status == 1
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert errors and all("snippet.py:3:" in e for e in errors), out  # line 2 is fine, line 3 is not
    assert any('Extra key "commited"' in e for e in errors), out
