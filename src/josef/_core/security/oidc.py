"""The OIDC client-credentials flow (KIP-768) with the standard library's HTTP client.

``POST <sasl.oauthbearer.token.endpoint.url>`` with ``grant_type=client_credentials`` (and ``scope``),
authenticated by HTTP Basic with the URL-encoded client id and secret, answers JSON with an
``access_token`` and ``expires_in``. A ``file:`` URL reads a token from a file instead (as the Java
client allows), re-read at every refresh. Errors name the endpoint and the HTTP status, never the
secret or the token.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from josef._core.security.oauthbearer import Token, jwt_expiry
from josef.errors import SaslAuthenticationFailedError


class ClientCredentialsTokenProvider:
    def __init__(
        self,
        url: str,
        client_id: str | None,
        client_secret: str | None,
        scope: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http", "file"):
            raise ValueError(
                f"sasl.oauthbearer.token.endpoint.url: scheme {parsed.scheme!r} is not https, http or file"
            )
        if parsed.scheme != "file" and (not client_id or not client_secret):
            raise ValueError(
                "sasl.oauthbearer.token.endpoint.url: the client-credentials flow needs a client id and secret "
                "(JAAS options clientId and clientSecret, or sasl.oauthbearer.client.credentials.client.id/.secret)"
            )
        self.url = url
        self._client_id = client_id or ""
        self._client_secret = client_secret or ""
        self._scope = scope
        self._timeout = max(connect_timeout, read_timeout)
        self._clock = clock

    def __repr__(self) -> str:
        return f"ClientCredentialsTokenProvider({self.url!r}, client_id={self._client_id!r}, client_secret=[hidden])"

    def __call__(self) -> Token:
        if self.url.startswith("file:"):
            return self._from_file()
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        basic = ":".join(urllib.parse.quote(part, safe="") for part in (self._client_id, self._client_secret))
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        started = self._clock()
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = response.read(1 << 20)
        except urllib.error.HTTPError as exc:
            raise SaslAuthenticationFailedError(
                f"OAUTHBEARER: token endpoint {self.url} answered HTTP {exc.code}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SaslAuthenticationFailedError(
                f"OAUTHBEARER: token endpoint {self.url} unreachable: {reason}"
            ) from None
        try:
            answer = json.loads(body)
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            raise SaslAuthenticationFailedError(
                f"OAUTHBEARER: token endpoint {self.url} did not answer JSON with an access_token"
            ) from None
        if not isinstance(token, str) or not token:
            raise SaslAuthenticationFailedError(f"OAUTHBEARER: token endpoint {self.url} sent an empty access_token")
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, (int, float)) and expires_in > 0:
            return token, started + float(expires_in)
        expires = jwt_expiry(token)
        if expires is None:
            raise SaslAuthenticationFailedError(
                f"OAUTHBEARER: token endpoint {self.url} gave neither expires_in nor a JWT exp claim"
            )
        return token, expires

    def _from_file(self) -> Token:
        path = urllib.request.url2pathname(urllib.parse.urlsplit(self.url).path)
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise SaslAuthenticationFailedError(
                f"OAUTHBEARER: cannot read the token file {path}: {exc.strerror}"
            ) from None
        expires = jwt_expiry(token)
        if expires is None:
            raise SaslAuthenticationFailedError(f"OAUTHBEARER: the token in {path} is not a JWT with an exp claim")
        return token, expires
