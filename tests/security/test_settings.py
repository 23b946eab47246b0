"""security.protocol / ssl.* / sasl.* as a whole: aliases, strict checks, secrets hidden."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from josef._core.protocol import ApiKey
from josef._core.security.oauthbearer import OAuthBearerMechanism
from josef.config import ProducerConfig
from tests.harness.certs import TestPki

CANARY = "canary-secret-9c1f"
SCRAM_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
VERSIONS = {ApiKey.SASL_HANDSHAKE: 1, ApiKey.SASL_AUTHENTICATE: 2}


def make(**config: Any) -> ProducerConfig:
    return ProducerConfig.from_user({"bootstrap.servers": "127.0.0.1:9092", **config})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki.create(tmp_path_factory.mktemp("pki"))


def test_plaintext_by_default() -> None:
    cfg = make()
    assert cfg.security.protocol == "PLAINTEXT" and cfg.security.ssl_context is None
    assert cfg.security.authenticator_factory() is None


@pytest.mark.parametrize("protocol", ["sasl_ssl", "SASL_SSL", "Sasl_Ssl"])
def test_protocol_is_case_insensitive(protocol: str) -> None:
    cfg = make(**{"security.protocol": protocol, "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p"})
    assert cfg.security.protocol == "SASL_SSL" and isinstance(cfg.security.ssl_context, ssl.SSLContext)


def test_ssl_defaults_are_safe(pki: TestPki) -> None:
    ctx = make(**{"security.protocol": "SSL", "ssl.truststore.location": str(pki.ca)}).security.ssl_context
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    off = make(**{
        "security.protocol": "SSL", "ssl.truststore.location": str(pki.ca), "ssl.endpoint.identification.algorithm": ""
    }).security.ssl_context  # fmt: skip
    assert not off.check_hostname and off.verify_mode == ssl.CERT_REQUIRED


def test_confluent_cloud_librdkafka_config_works_unchanged() -> None:
    cfg = make(**{
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
        "sasl.username": "KEY", "sasl.password": CANARY,
    })  # fmt: skip
    auth = cfg.security.authenticator_factory()("127.0.0.1", VERSIONS)
    auth.next_request()
    auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 0})
    assert auth.next_request()[2]["auth_bytes"] == b"\0KEY\0" + CANARY.encode()  # type: ignore[index]
    assert CANARY not in repr(cfg) and "[hidden]" in repr(cfg)


def test_java_client_properties_work_unchanged(pki: TestPki) -> None:
    cfg = make(**{
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": SCRAM_JAAS.format(user="alice", password=CANARY),
        "ssl.truststore.location": str(pki.ca_p12), "ssl.truststore.type": "PKCS12",
    })  # fmt: skip
    assert cfg.security.mechanism == "SCRAM-SHA-512"
    assert CANARY not in repr(cfg) and CANARY not in repr(cfg.security)


def test_mutual_tls_from_pem_pkcs12_and_librdkafka_names(pki: TestPki) -> None:
    base = {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca)}
    make(**base, **{"ssl.certificate.location": str(pki.client_cert), "ssl.key.location": str(pki.client_key),
                    "ssl.key.password": pki.key_password})  # fmt: skip
    make(**base, **{"ssl.keystore.location": str(pki.client_keystore_p12), "ssl.keystore.password": pki.key_password})
    make(**base, **{
        "ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": pki.client_cert.read_text(),
        "ssl.keystore.key": pki.client_key.read_text(), "ssl.key.password": pki.key_password,
    })  # fmt: skip
    make(**{"security.protocol": "SSL", "ssl.truststore.certificates": pki.ca.read_text()})


def test_wrong_key_password_is_a_clear_error(pki: TestPki) -> None:
    with pytest.raises(ValueError, match="ssl.key.location: cannot load") as info:
        make(**{"security.protocol": "SSL", "ssl.certificate.location": str(pki.client_cert),
                "ssl.key.location": str(pki.client_key), "ssl.key.password": CANARY})  # fmt: skip
    assert CANARY not in str(info.value)


def test_jks_is_refused_with_how_to_convert(tmp_path: Any) -> None:
    store = tmp_path / "truststore.jks"
    store.write_bytes(b"\xfe\xed\xfe\xed")
    with pytest.raises(ValueError, match="keytool -importkeystore"):
        make(**{"security.protocol": "SSL", "ssl.truststore.location": str(store)})
    with pytest.raises(ValueError, match="keytool"):
        make(**{"security.protocol": "SSL", "ssl.truststore.location": str(store), "ssl.truststore.type": "jks"})


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"sasl.password": CANARY}, "sasl.password: set, but security.protocol=PLAINTEXT does not use SASL"),
        ({"ssl.truststore.location": "/x"}, "does not use TLS"),
        ({"security.protocol": "TLS"}, "security.protocol"),
        ({"security.protocol": "SASL_SSL"}, "GSSAPI"),
        ({"security.protocol": "SASL_SSL", "sasl.mechanism": "AWS_MSK_IAM"}, "OAUTHBEARER with a token callback"),
        ({"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}, "needs credentials"),
        (
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": SCRAM_JAAS.format(user="a", password=CANARY),
            },
            "needs org.apache.kafka.common.security.plain.PlainLoginModule",
        ),
        (
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": PLAIN_MODULE + f' required user="a" password="{CANARY}";',
            },
            "unknown PlainLoginModule option 'user'",
        ),
        ({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}, "needs a token source"),
        ({"security.protocol": "SSL", "ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "insecure"),
        ({"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "http"}, "is not https"),
        ({"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent/ca.pem"}, "no such file"),
        ({"security.protocol": "SSL", "ssl.cipher.suites": "NOT-A-CIPHER"}, "OpenSSL cipher names"),
        (
            {"security.protocol": "SSL", "ssl.context": ssl.create_default_context(), "ssl.truststore.location": "/x"},
            "conflicts with ssl.context",
        ),
        ({"sasl.mechanisms": "PLAIN", "sasl.mechanism": "PLAIN"}, "given twice"),
    ],
)
def test_mistakes_name_the_key(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        make(**config)
    assert CANARY not in str(info.value)


def test_ready_ssl_context_is_used_as_is() -> None:
    ctx = ssl.create_default_context()
    assert make(**{"security.protocol": "SSL"}, ssl_context=ctx).security.ssl_context is ctx


def test_oauthbearer_unsecured_from_jaas_and_callback() -> None:
    jaas = ('org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required '
            'unsecuredLoginStringClaim_sub="alice" unsecuredLoginExtension_traceId="7";')  # fmt: skip
    cfg = make(**{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER", "sasl.jaas.config": jaas})
    auth = cfg.security.authenticator_factory()("127.0.0.1", VERSIONS)
    auth.next_request()
    auth.on_response(ApiKey.SASL_HANDSHAKE, {"error_code": 0})
    message = auth.next_request()[2]["auth_bytes"]  # type: ignore[index]
    assert message.startswith(b"n,,\x01auth=Bearer ey") and message.endswith(b"\x01traceId=7\x01\x01")
    calls: list[int] = []

    def callback() -> tuple[str, float]:
        calls.append(1)
        return "callback-token", 4102444800.0

    cfg = make(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER", sasl_oauthbearer_token_callback=callback
    )
    mech = cfg.security._new_mechanism()
    assert isinstance(mech, OAuthBearerMechanism) and b"callback-token" in (mech.step(None) or b"")
    cfg.security._new_mechanism()
    assert len(calls) == 1  # cached until its refresh time


def test_pem_text_keystore_with_wrong_key_password(pki: TestPki) -> None:
    with pytest.raises(ValueError, match="ssl.keystore.key: cannot read the private key") as info:
        make(**{
            "security.protocol": "SSL", "ssl.keystore.certificate.chain": pki.client_cert.read_text(),
            "ssl.keystore.key": pki.client_key.read_text(), "ssl.key.password": CANARY,
        })  # fmt: skip
    assert CANARY not in str(info.value)
