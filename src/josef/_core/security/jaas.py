"""``sasl.jaas.config`` in the Java syntax, parsed strictly.

The grammar Kafka accepts for one client login module::

    <class name> <flag> [<option>=<value> ...] ;

with ``flag`` one of ``required``, ``requisite``, ``sufficient``, ``optional`` and a value either a
double-quoted string (``\\"`` and ``\\\\`` escapes) or a bare word. Errors name the position and the
problem but never echo option values: they are usually passwords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FLAGS = ("required", "requisite", "sufficient", "optional")
_WORD = re.compile(r"[A-Za-z0-9_$.\-]+")
_SPACE = re.compile(r"\s*")

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTHBEARER_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


class JaasConfigError(ValueError):
    """``sasl.jaas.config`` is malformed; the message never contains option values."""


@dataclass(frozen=True)
class JaasConfig:
    """One login module with its options (values may be secrets: ``repr`` hides them)."""

    login_module: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"JaasConfig({self.login_module!r}, {self.flag!r}, options={sorted(self.options)!r} [values hidden])"

    @property
    def module_name(self) -> str:
        return self.login_module.rsplit(".", 1)[-1]


def parse_jaas_config(text: str) -> JaasConfig:
    """Parse exactly one login module entry ending with ``;``."""
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]

    def fail(problem: str) -> JaasConfigError:
        return JaasConfigError(f"sasl.jaas.config: {problem} at character {pos}")

    def word(what: str) -> str:
        nonlocal pos
        match = _WORD.match(text, pos)
        if match is None:
            raise fail(f"expected {what}")
        pos = _SPACE.match(text, match.end()).end()  # type: ignore[union-attr]
        return match.group()

    module = word("a login module class name")
    flag = word("a control flag (required, requisite, sufficient or optional)")
    if flag not in _FLAGS:
        raise fail(f"control flag {flag!r} is not one of {', '.join(_FLAGS)}")
    options: dict[str, str] = {}
    while pos < len(text) and text[pos] != ";":
        name = word("an option name or ';'")
        if pos >= len(text) or text[pos] != "=":
            raise fail(f"expected '=' after option {name!r}")
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        if pos < len(text) and text[pos] == '"':
            value, pos = _quoted(text, pos, name)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        else:
            value = word(f"a value for option {name!r}")
        if name in options:
            raise fail(f"option {name!r} given twice")
        options[name] = value
    if pos >= len(text):
        raise fail("missing ';' at the end of the login module entry")
    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    if pos != len(text):
        raise fail("only one login module entry is allowed; unexpected text after ';'")
    return JaasConfig(module, flag, options)


def _quoted(text: str, pos: int, name: str) -> tuple[str, int]:
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise JaasConfigError(f"sasl.jaas.config: the value of option {name!r} has no closing quote")
