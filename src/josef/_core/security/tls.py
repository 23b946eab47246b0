"""Building the client's ``ssl.SSLContext`` from the Java client's ``ssl.*`` settings.

Safe by default: the broker's certificate chain is always verified (against the given truststore,
or the system's when none is given), the host name is checked unless
``ssl.endpoint.identification.algorithm`` is empty, and only TLS 1.2 and 1.3 are offered.

PEM files are loaded by ``ssl`` directly. PKCS#12 stores need the ``cryptography`` package; their
keys are handed to ``ssl`` through a private temporary file, encrypted with a one-time password,
so no unencrypted key touches the disk. JKS stores are refused with the command that converts them.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_INSECURE = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
STORE_TYPES = ("PEM", "PKCS12", "JKS")

JKS_HELP = (
    "JKS stores are not supported; convert it once with\n"
    "  keytool -importkeystore -srckeystore {path} -srcstoretype JKS -destkeystore {stem}.p12 -deststoretype PKCS12\n"
    "and set {key}.type=PKCS12 (or export PEM with openssl pkcs12 -in {stem}.p12 -out {stem}.pem)"
)


@dataclass(frozen=True, repr=False)
class TlsSettings:
    """The ``ssl.*`` settings that shape the context (secrets are fields, never shown)."""

    truststore_location: str | None = None
    truststore_certificates: str | None = None
    truststore_type: str | None = None
    truststore_password: str | None = None
    keystore_location: str | None = None
    keystore_type: str | None = None
    keystore_password: str | None = None
    keystore_certificate_chain: str | None = None
    keystore_key: str | None = None
    key_password: str | None = None
    certificate_location: str | None = None  # librdkafka: client certificate (PEM file)
    key_location: str | None = None  # librdkafka: client key (PEM file)
    endpoint_identification: str = "https"
    protocol: str = "TLSv1.3"
    enabled_protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    cipher_suites: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "TlsSettings([hidden])"


def store_type(key: str, given: str | None, location: str | None) -> str:
    """The store type given, or guessed from the file name (``.p12``/``.pfx``: PKCS12, else PEM)."""
    if given is not None:
        kind = given.strip().upper()
        if kind not in STORE_TYPES:
            raise ValueError(f"{key}.type: {given!r} is not one of PEM, PKCS12, JKS")
    elif location is not None and location.lower().endswith((".p12", ".pfx", ".pkcs12")):
        kind = "PKCS12"
    elif location is not None and location.lower().endswith(".jks"):
        kind = "JKS"
    else:
        kind = "PEM"
    if kind == "JKS":
        path = location or "store.jks"
        raise ValueError(f"{key}: " + JKS_HELP.format(path=path, stem=Path(path).with_suffix(""), key=key))
    return kind


def build_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client context for these settings; raises ``ValueError`` naming the key at fault."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    _set_protocols(ctx, tls)
    if tls.cipher_suites:
        _set_ciphers(ctx, tls.cipher_suites)
    algorithm = tls.endpoint_identification.strip().lower()
    if algorithm not in ("https", ""):
        raise ValueError(
            f'ssl.endpoint.identification.algorithm: {tls.endpoint_identification!r} is not https or "" (off)'
        )
    ctx.check_hostname = algorithm == "https"
    _load_truststore(ctx, tls)
    _load_keystore(ctx, tls)
    return ctx


def _set_protocols(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    if tls.protocol not in ("TLS", "TLSv1.2", "TLSv1.3"):
        hint = " (insecure, not supported)" if tls.protocol in _INSECURE else ""
        raise ValueError(f"ssl.protocol: {tls.protocol!r} is not TLS, TLSv1.2 or TLSv1.3{hint}")
    versions = []
    for name in tls.enabled_protocols:
        if name in _INSECURE:
            raise ValueError(f"ssl.enabled.protocols: {name} is insecure and not supported (use TLSv1.2, TLSv1.3)")
        if name not in _PROTOCOLS:
            raise ValueError(f"ssl.enabled.protocols: {name!r} is not TLSv1.2 or TLSv1.3")
        versions.append(_PROTOCOLS[name])
    if not versions:
        raise ValueError("ssl.enabled.protocols: at least one of TLSv1.2, TLSv1.3 is required")
    ctx.minimum_version = min(versions)
    ctx.maximum_version = max(versions)


def _set_ciphers(ctx: ssl.SSLContext, suites: tuple[str, ...]) -> None:
    # TLS 1.3 suites cannot be restricted through Python's ssl; OpenSSL enables all of them.
    tls12 = [name for name in suites if not name.startswith(("TLS_AES_", "TLS_CHACHA20_"))]
    if not tls12:
        return
    try:
        ctx.set_ciphers(":".join(tls12))
    except ssl.SSLError:
        raise ValueError(
            f"ssl.cipher.suites: OpenSSL knows none of {', '.join(tls12)}; use OpenSSL cipher names "
            "(e.g. ECDHE-RSA-AES128-GCM-SHA256)"
        ) from None


def _load_truststore(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    if tls.truststore_location and tls.truststore_certificates:
        raise ValueError("ssl.truststore.certificates: give either it or ssl.truststore.location, not both")
    if tls.truststore_certificates:
        if tls.truststore_type is not None and tls.truststore_type.upper() != "PEM":
            raise ValueError("ssl.truststore.certificates: needs ssl.truststore.type=PEM")
        try:
            ctx.load_verify_locations(cadata=tls.truststore_certificates)
        except (ssl.SSLError, ValueError):
            raise ValueError("ssl.truststore.certificates: no PEM certificate could be read") from None
        return
    if not tls.truststore_location:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    path = _readable("ssl.truststore.location", tls.truststore_location)
    kind = store_type("ssl.truststore", tls.truststore_type, path)
    if kind == "PEM":
        try:
            ctx.load_verify_locations(cafile=path)
        except ssl.SSLError:
            raise ValueError(f"ssl.truststore.location: {path} holds no PEM certificate") from None
        return
    _, _, certificates = _read_pkcs12("ssl.truststore", path, tls.truststore_password)
    if not certificates:
        raise ValueError(f"ssl.truststore.location: {path} holds no certificate")
    ctx.load_verify_locations(cadata="".join(certificates))


def _load_keystore(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    given = [
        key for key, value in (
            ("ssl.keystore.location", tls.keystore_location),
            ("ssl.keystore.certificate.chain", tls.keystore_certificate_chain),
            ("ssl.certificate.location", tls.certificate_location),
        ) if value
    ]  # fmt: skip
    if len(given) > 1:
        raise ValueError(f"{given[1]}: conflicts with {given[0]} (give one client certificate source)")
    if tls.keystore_key and not tls.keystore_certificate_chain:
        raise ValueError("ssl.keystore.key: needs ssl.keystore.certificate.chain")
    if tls.key_location and not tls.certificate_location:
        raise ValueError("ssl.key.location: needs ssl.certificate.location")
    if not given:
        return
    if tls.certificate_location:
        cert = _readable("ssl.certificate.location", tls.certificate_location)
        key = _readable("ssl.key.location", tls.key_location) if tls.key_location else None
        _load_chain(ctx, cert, key, tls.key_password)
        return
    if tls.keystore_certificate_chain:
        if not tls.keystore_key:
            raise ValueError("ssl.keystore.certificate.chain: needs ssl.keystore.key")
        given_key, given_password = _reencrypted(tls.keystore_key, tls.key_password)
        with _private_file(given_key + "\n" + tls.keystore_certificate_chain) as tmp_path:
            _load_chain(ctx, tmp_path, None, given_password, key="ssl.keystore.key")
        return
    assert tls.keystore_location is not None
    path = _readable("ssl.keystore.location", tls.keystore_location)
    kind = store_type("ssl.keystore", tls.keystore_type, path)
    if kind == "PEM":
        _load_chain(ctx, path, None, tls.key_password or tls.keystore_password)
        return
    password = tls.keystore_password or tls.key_password
    key_pem, cert_pem, chain = _read_pkcs12("ssl.keystore", path, password, one_time_password := secrets.token_hex(16))
    if key_pem is None or cert_pem is None:
        raise ValueError(f"ssl.keystore.location: {path} holds no private key with its certificate")
    with _private_file(key_pem + cert_pem + "".join(chain)) as tmp:
        _load_chain(ctx, tmp, None, one_time_password)


def _load_chain(ctx: ssl.SSLContext, certfile: str, keyfile: str | None, password: str | None, key: str = "") -> None:
    try:
        ctx.load_cert_chain(certfile, keyfile, password=password or None)
    except ssl.SSLError as exc:
        what = key or ("ssl.key.location" if keyfile else "ssl.keystore.location")
        if "bad decrypt" in str(exc).lower() or "bad password" in str(exc).lower() or password:
            raise ValueError(
                f"{what}: cannot load the client key and certificate (wrong ssl.key.password, "
                f"or the key does not match the certificate): {exc.reason or 'SSL error'}"
            ) from None
        raise ValueError(
            f"{what}: cannot load the client key and certificate ({exc.reason or 'SSL error'}); "
            "an encrypted key needs ssl.key.password"
        ) from None


def _readable(key: str, path: str) -> str:
    if not os.path.isfile(path):
        raise ValueError(f"{key}: no such file {path}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{key}: {path} is not readable")
    return path


def _read_pkcs12(
    key: str, path: str, password: str | None, export_password: str | None = None
) -> tuple[str | None, str | None, list[str]]:
    """(encrypted key PEM, certificate PEM, additional certificates PEM) from a PKCS#12 file."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:
        raise ValueError(
            f"{key}.type=PKCS12: needs the 'cryptography' package; install it, or convert the store to PEM with "
            f"openssl pkcs12 -in {path} -out store.pem"
        ) from None
    with open(path, "rb") as f:
        data = f.read()
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except ValueError:
        raise ValueError(f"{key}.location: cannot open {path} as PKCS#12 (wrong {key}.password?)") from None
    pem = serialization.Encoding.PEM
    certs = [c.certificate.public_bytes(pem).decode() for c in loaded.additional_certs]
    if loaded.key is None or export_password is None:
        cert = loaded.cert.certificate.public_bytes(pem).decode() if loaded.cert else None
        return None, cert, ([cert] if cert else []) + certs
    key_pem = loaded.key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(export_password.encode())
    ).decode()
    cert_pem = loaded.cert.certificate.public_bytes(pem).decode() if loaded.cert else None
    return key_pem, cert_pem, certs


def _reencrypted(key_pem: str, password: str | None) -> tuple[str, str | None]:
    """The key encrypted with a one-time password (so no plain key is written to disk), when
    ``cryptography`` is installed; otherwise the key as given."""
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return key_pem, password
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password.encode() if password else None)
    except (ValueError, TypeError):
        raise ValueError(
            "ssl.keystore.key: cannot read the private key (not PEM, or a wrong or missing ssl.key.password)"
        ) from None
    one_time = secrets.token_hex(16)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time.encode()),
    )  # fmt: skip
    return encrypted.decode(), one_time


@contextmanager
def _private_file(text: str) -> Iterator[str]:
    """A file only this user can read, removed as soon as ``ssl`` has read it."""
    fd, path = tempfile.mkstemp(prefix="josef-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        yield path
    finally:
        os.unlink(path)
