"""Test certificates made with ``cryptography``: a CA, broker and client certificates, in PEM and PKCS#12.

Everything is generated fresh per test session into a folder, so no key material lives in the
repository. ``TestPki.create(folder)`` writes every file the secure broker and the clients need.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_Key = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> _Key:
    return ec.generate_private_key(ec.SECP256R1())


def _ca(common_name: str) -> tuple[x509.Certificate, _Key]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert, key


def _leaf(
    ca: tuple[x509.Certificate, _Key], common_name: str, names: list[x509.GeneralName], server: bool
) -> tuple[x509.Certificate, _Key]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca[1], hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: _Key, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass(frozen=True)
class TestPki:
    """Paths of the generated files (all PEM unless named ``.p12``)."""

    __test__ = False  # not a pytest test class

    folder: Path
    ca: Path  # the CA certificate (truststore)
    other_ca: Path  # a CA nobody signed anything with: "untrusted CA"
    broker_keystore: Path  # key + certificate (SAN IP:127.0.0.1, DNS:localhost) + CA, for Kafka
    badname_keystore: Path  # key + certificate naming only wrong-name.invalid + CA
    client_cert: Path  # client certificate (clientAuth)
    client_key: Path  # its key, PKCS#8 encrypted with key_password
    client_key_plain: Path  # the same key unencrypted
    client_keystore_p12: Path  # key + certificate + CA as PKCS#12, protected by key_password
    ca_p12: Path  # the CA certificate as a PKCS#12 truststore (no password)
    key_password: str

    @classmethod
    def create(cls, folder: Path, key_password: str = "key-pw-canary-a83c") -> TestPki:
        folder.mkdir(parents=True, exist_ok=True)
        ca = _ca("josef test CA")
        other = _ca("josef untrusted CA")
        localhost = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        broker = _leaf(ca, "localhost", localhost, server=True)
        badname = _leaf(ca, "wrong-name.invalid", [x509.DNSName("wrong-name.invalid")], server=True)
        client = _leaf(ca, "josef-client", [], server=False)

        def write(name: str, data: bytes) -> Path:
            path = folder / name
            path.write_bytes(data)
            path.chmod(0o600)
            return path

        password = key_password.encode()
        p12 = pkcs12.serialize_key_and_certificates(
            b"client", client[1], client[0], [ca[0]], serialization.BestAvailableEncryption(password)
        )
        ca_p12 = pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(ca[0], b"ca")], serialization.NoEncryption()
        )
        return cls(
            folder=folder,
            ca=write("ca.pem", _pem(ca[0])),
            other_ca=write("other-ca.pem", _pem(other[0])),
            broker_keystore=write("broker-keystore.pem", _key_pem(broker[1]) + _pem(broker[0]) + _pem(ca[0])),
            badname_keystore=write("badname-keystore.pem", _key_pem(badname[1]) + _pem(badname[0]) + _pem(ca[0])),
            client_cert=write("client.pem", _pem(client[0])),
            client_key=write("client-key.pem", _key_pem(client[1], password)),
            client_key_plain=write("client-key-plain.pem", _key_pem(client[1])),
            client_keystore_p12=write("client.p12", p12),
            ca_p12=write("ca.p12", ca_p12),
            key_password=key_password,
        )
