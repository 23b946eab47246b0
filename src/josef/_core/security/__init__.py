"""TLS and SASL for broker connections: settings, the ``ssl`` context, SASL mechanisms.

Nothing here does socket I/O: the connection drives TLS through its ``ssl.SSLContext`` and SASL
through :class:`SaslAuthenticator` (request in, response out).

| module | what it holds |
| --- | --- |
| ``settings`` | ``SecuritySettings.from_config``: the ``security.protocol``/``ssl.*``/``sasl.*`` keys as a whole |
| ``tls`` | ``build_ssl_context`` from PEM / PKCS#12 stores |
| ``jaas`` | ``sasl.jaas.config`` parser (Java syntax, strict) |
| ``plain``, ``scram``, ``oauthbearer`` | the SASL mechanisms as small state machines; OAUTHBEARER token sources |
| ``oidc`` | the OIDC client-credentials token provider (KIP-768) |
| ``authenticator`` | SaslHandshake + SaslAuthenticate on one connection; re-authentication time (KIP-368) |
"""

from josef._core.security.authenticator import SaslAuthenticator
from josef._core.security.jaas import JaasConfig, JaasConfigError, parse_jaas_config
from josef._core.security.settings import SecuritySettings

__all__ = ["JaasConfig", "JaasConfigError", "SaslAuthenticator", "SecuritySettings", "parse_jaas_config"]
