"""The security part of a producer's configuration, checked as a whole.

``SecuritySettings.from_config(values, explicit)`` turns the ``security.protocol``, ``ssl.*`` and
``sasl.*`` values into what a connection needs: an ``ssl.SSLContext`` (or None) and a factory of
SASL authenticators (or None). Mistakes raise ``ValueError`` naming the key; secrets never appear
in messages or in ``repr``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from josef._core.security.authenticator import Mechanism, SaslAuthenticator
from josef._core.security.jaas import (
    OAUTHBEARER_MODULE,
    PLAIN_MODULE,
    SCRAM_MODULE,
    JaasConfig,
    parse_jaas_config,
)
from josef._core.security.oauthbearer import (
    CallbackTokenProvider,
    OAuthBearerMechanism,
    RefreshPolicy,
    TokenCache,
    TokenProvider,
    UnsecuredTokenProvider,
    extensions_from_options,
)
from josef._core.security.oidc import ClientCredentialsTokenProvider
from josef._core.security.plain import PlainMechanism
from josef._core.security.scram import ScramMechanism
from josef._core.security.tls import TlsSettings, build_ssl_context

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

#: Keys that only matter with TLS / with SASL (so setting them with a protocol that ignores them is an error).
SSL_KEYS = (
    "ssl.truststore.location", "ssl.truststore.certificates", "ssl.truststore.type", "ssl.truststore.password",
    "ssl.keystore.location", "ssl.keystore.type", "ssl.keystore.password", "ssl.keystore.certificate.chain",
    "ssl.keystore.key", "ssl.key.password", "ssl.certificate.location", "ssl.key.location",
    "ssl.endpoint.identification.algorithm", "ssl.protocol", "ssl.enabled.protocols", "ssl.cipher.suites",
    "ssl.context",
)  # fmt: skip
SASL_KEYS = (
    "sasl.mechanism", "sasl.jaas.config", "sasl.username", "sasl.password",
    "sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.credentials.client.secret", "sasl.oauthbearer.scope",
    "sasl.oauthbearer.token.callback", "sasl.login.refresh.window.factor", "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds", "sasl.login.refresh.buffer.seconds",
    "sasl.login.connect.timeout.ms", "sasl.login.read.timeout.ms",
)  # fmt: skip

_PLAIN_OPTIONS = {"username", "password"}
_SCRAM_OPTIONS = {"username", "password", "tokenauth"}
_OIDC_OPTIONS = {"clientId", "clientSecret", "scope"}

#: ``factory(host, versions)``: one authenticator per connection (and per re-authentication).
AuthenticatorFactory = Callable[[str, Mapping[int, int]], SaslAuthenticator]


@dataclass(frozen=True, repr=False)
class SecuritySettings:
    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    mechanism: str | None = None
    _new_mechanism: Callable[[], Mechanism] | None = None
    token_cache: TokenCache | None = None

    def __repr__(self) -> str:
        return f"SecuritySettings({self.protocol}, mechanism={self.mechanism})"

    @property
    def uses_tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def uses_sasl(self) -> bool:
        return self._new_mechanism is not None

    def authenticator_factory(self) -> AuthenticatorFactory | None:
        """Builds one authenticator per connection (and per re-authentication)."""
        new_mechanism = self._new_mechanism
        if new_mechanism is None:
            return None
        return lambda host, versions: SaslAuthenticator(new_mechanism(), versions)

    @classmethod
    def from_config(
        cls, values: Mapping[str, Any], explicit: frozenset[str] | set[str] = frozenset()
    ) -> SecuritySettings:
        protocol = str(values.get("security.protocol") or "PLAINTEXT").strip().upper()
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"security.protocol: {values.get('security.protocol')!r} is not one of {', '.join(PROTOCOLS)}"
            )
        tls = protocol in ("SSL", "SASL_SSL")
        sasl = protocol.startswith("SASL_")
        for key in SSL_KEYS if not tls else ():
            if key in explicit and values.get(key) is not None:
                raise ValueError(f"{key}: set, but security.protocol={protocol} does not use TLS (use SSL or SASL_SSL)")
        for key in SASL_KEYS if not sasl else ():
            if key in explicit and values.get(key) is not None:
                raise ValueError(
                    f"{key}: set, but security.protocol={protocol} does not use SASL (use SASL_SSL or SASL_PLAINTEXT)"
                )
        context = _ssl_context(values, explicit) if tls else None
        if not sasl:
            return cls(protocol, context)
        mechanism, new_mechanism, cache = _sasl(values)
        return cls(protocol, context, mechanism, new_mechanism, cache)


def _ssl_context(values: Mapping[str, Any], explicit: frozenset[str] | set[str]) -> ssl.SSLContext:
    ready = values.get("ssl.context")
    if ready is not None:
        if not isinstance(ready, ssl.SSLContext):
            raise ValueError(f"ssl.context: expected an ssl.SSLContext, got {type(ready).__name__}")
        others = [k for k in SSL_KEYS if k != "ssl.context" and k in explicit and values.get(k) is not None]
        if others:
            raise ValueError(
                f"{others[0]}: conflicts with ssl.context (a ready context already holds the TLS settings)"
            )
        return ready

    def text(key: str) -> str | None:
        value = values.get(key)
        return None if value is None else str(value)

    def items(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = values.get(key)
        if value is None:
            return default
        parts = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(p).strip() for p in parts if str(p).strip())

    algorithm = text("ssl.endpoint.identification.algorithm")
    settings = TlsSettings(
        truststore_location=text("ssl.truststore.location"),
        truststore_certificates=text("ssl.truststore.certificates"),
        truststore_type=text("ssl.truststore.type"),
        truststore_password=text("ssl.truststore.password"),
        keystore_location=text("ssl.keystore.location"),
        keystore_type=text("ssl.keystore.type"),
        keystore_password=text("ssl.keystore.password"),
        keystore_certificate_chain=text("ssl.keystore.certificate.chain"),
        keystore_key=text("ssl.keystore.key"),
        key_password=text("ssl.key.password"),
        certificate_location=text("ssl.certificate.location"),
        key_location=text("ssl.key.location"),
        endpoint_identification="https" if algorithm is None else ("" if algorithm.lower() == "none" else algorithm),
        protocol=text("ssl.protocol") or "TLSv1.3",
        enabled_protocols=items("ssl.enabled.protocols", ("TLSv1.2", "TLSv1.3")),
        cipher_suites=items("ssl.cipher.suites", ()),
    )
    return build_ssl_context(settings)


def _sasl(values: Mapping[str, Any]) -> tuple[str, Callable[[], Mechanism], TokenCache | None]:
    mechanism = str(values.get("sasl.mechanism") or "GSSAPI").strip().upper()
    if mechanism == "GSSAPI":
        raise ValueError(
            f"sasl.mechanism: GSSAPI (Kerberos, the Java default) is not supported; set one of {', '.join(MECHANISMS)}"
        )
    if mechanism == "AWS_MSK_IAM":
        raise ValueError(
            "sasl.mechanism: AWS_MSK_IAM is not supported; use OAUTHBEARER with a token callback "
            "(sasl.oauthbearer.token.callback) that signs with the AWS MSK IAM signer library (see docs/security.md)"
        )
    if mechanism not in MECHANISMS:
        raise ValueError(f"sasl.mechanism: {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    jaas_text = values.get("sasl.jaas.config")
    jaas = parse_jaas_config(jaas_text) if jaas_text is not None else None
    if mechanism == "OAUTHBEARER":
        return mechanism, *_oauthbearer(values, jaas)
    username, password = values.get("sasl.username"), values.get("sasl.password")
    module = PLAIN_MODULE if mechanism == "PLAIN" else SCRAM_MODULE
    extensions: dict[str, str] = {}
    if jaas is not None:
        if username is not None or password is not None:
            raise ValueError("sasl.jaas.config: give either it or sasl.username / sasl.password, not both")
        _expect_module(jaas, module, mechanism)
        allowed = _PLAIN_OPTIONS if mechanism == "PLAIN" else _SCRAM_OPTIONS
        unknown = sorted(set(jaas.options) - allowed)
        if unknown:
            raise ValueError(f"sasl.jaas.config: unknown {jaas.module_name} option {unknown[0]!r}")
        username, password = jaas.options.get("username"), jaas.options.get("password")
        if jaas.options.get("tokenauth", "false").lower() == "true":
            extensions["tokenauth"] = "true"  # delegation tokens (KIP-48)
        missing = [name for name, value in (("username", username), ("password", password)) if value is None]
        if missing:
            raise ValueError(f"sasl.jaas.config: {jaas.module_name} needs the option {missing[0]}")
    elif username is None or password is None:
        raise ValueError(
            f"sasl.mechanism={mechanism}: needs credentials: sasl.jaas.config "
            f'({module.rsplit(".", 1)[-1]} required username="..." password="...";) '
            "or sasl.username and sasl.password"
        )
    user, secret = str(username), str(password)
    if mechanism == "PLAIN":
        return mechanism, lambda: PlainMechanism(user, secret), None
    return mechanism, lambda: ScramMechanism(mechanism, user, secret, extensions=extensions), None


def _expect_module(jaas: JaasConfig, module: str, mechanism: str) -> None:
    if jaas.login_module != module:
        raise ValueError(f"sasl.jaas.config: sasl.mechanism={mechanism} needs {module}, not {jaas.login_module}")


def _oauthbearer(values: Mapping[str, Any], jaas: JaasConfig | None) -> tuple[Callable[[], Mechanism], TokenCache]:
    for key in ("sasl.username", "sasl.password"):
        if values.get(key) is not None:
            raise ValueError(f"{key}: not used by OAUTHBEARER (give a token source instead)")
    options = dict(jaas.options) if jaas is not None else {}
    if jaas is not None:
        _expect_module(jaas, OAUTHBEARER_MODULE, "OAUTHBEARER")
    callback = values.get("sasl.oauthbearer.token.callback")
    url = values.get("sasl.oauthbearer.token.endpoint.url")
    provider: TokenProvider
    if callback is not None and url is not None:
        raise ValueError("sasl.oauthbearer.token.callback: conflicts with sasl.oauthbearer.token.endpoint.url")
    if callback is not None:
        if not callable(callback):
            raise ValueError("sasl.oauthbearer.token.callback: expected a callable")
        provider = CallbackTokenProvider(callback)
    elif url is not None:
        unknown = sorted(k for k in options if k not in _OIDC_OPTIONS and not k.startswith("extension_"))
        if unknown:
            raise ValueError(
                f"sasl.jaas.config: unknown OAuthBearerLoginModule option {unknown[0]!r} for the OIDC login"
            )
        client_id = values.get("sasl.oauthbearer.client.credentials.client.id") or options.get("clientId")
        secret = values.get("sasl.oauthbearer.client.credentials.client.secret") or options.get("clientSecret")
        scope = values.get("sasl.oauthbearer.scope") or options.get("scope")
        provider = ClientCredentialsTokenProvider(
            str(url), client_id, secret, scope,
            connect_timeout=(values.get("sasl.login.connect.timeout.ms") or 10000) / 1000,
            read_timeout=(values.get("sasl.login.read.timeout.ms") or 10000) / 1000,
        )  # fmt: skip
    elif jaas is not None:
        provider = UnsecuredTokenProvider(options)
    else:
        raise ValueError(
            "sasl.mechanism=OAUTHBEARER: needs a token source: sasl.oauthbearer.token.callback, "
            "sasl.oauthbearer.token.endpoint.url (OIDC client credentials), or sasl.jaas.config with "
            "unsecuredLoginStringClaim_sub (test clusters only)"
        )
    policy = RefreshPolicy(
        window_factor=float(values.get("sasl.login.refresh.window.factor") or 0.8),
        window_jitter=float(values.get("sasl.login.refresh.window.jitter") or 0.05),
        min_period=float(values.get("sasl.login.refresh.min.period.seconds") or 60),
        buffer=float(values.get("sasl.login.refresh.buffer.seconds") or 300),
    )
    cache = TokenCache(provider, policy)
    extensions = extensions_from_options(options)
    return (lambda: OAuthBearerMechanism(cache.token(), extensions)), cache
