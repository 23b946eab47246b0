"""``sasl.jaas.config`` parsing: the Java syntax, strict errors that never echo values."""

from __future__ import annotations

import pytest

from josef._core.security.jaas import JaasConfigError, parse_jaas_config


def test_plain_login_module_with_quoted_values() -> None:
    jaas = parse_jaas_config(
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="p a\\"ss;word";'
    )
    assert jaas.login_module == "org.apache.kafka.common.security.plain.PlainLoginModule"
    assert jaas.flag == "required"
    assert jaas.options == {"username": "alice", "password": 'p a"ss;word'}
    assert "ss;word" not in repr(jaas)


def test_bare_values_and_whitespace() -> None:
    jaas = parse_jaas_config(
        "  org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule optional\n"
        "   unsecuredLoginStringClaim_sub=alice  unsecuredLoginLifetimeSeconds=60 ;  "
    )
    assert jaas.options == {"unsecuredLoginStringClaim_sub": "alice", "unsecuredLoginLifetimeSeconds": "60"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('org.x.PlainLoginModule username="a";', "control flag"),
        ('org.x.PlainLoginModule required username="canary-value"', "missing ';'"),
        ('org.x.PlainLoginModule required password="canary-value;', "no closing quote"),
        ('org.x.PlainLoginModule required username "canary-value";', "expected '='"),
        ('org.x.PlainLoginModule required a="1" a="canary-value";', "given twice"),
        ('org.x.PlainLoginModule required a="canary-value"; org.y.Other required;', "only one"),
        ("", "login module class name"),
    ],
)
def test_malformed_configs_are_refused_without_showing_values(text: str, problem: str) -> None:
    with pytest.raises(JaasConfigError, match=problem) as info:
        parse_jaas_config(text)
    assert "canary-value" not in str(info.value)
    assert str(info.value).startswith("sasl.jaas.config:")
