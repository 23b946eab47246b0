"""A one-node Kafka with one listener per security mode, for the TLS and SASL tests.

Listeners (``SecureKafka.bootstrap(name)`` gives each one's ``host:port``):

* ``PLAINTEXT``: the independent reader's (and the broker's own) listener, no security;
* ``SSL``: TLS, server certificate for ``127.0.0.1`` / ``localhost`` signed by the test CA;
* ``MTLS``: TLS with ``ssl.client.auth=required`` (the client certificate is signed by the same CA);
* ``BADNAME``: TLS with a certificate that names only ``wrong-name.invalid``;
* ``SASL_SSL``: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS;
* ``SASL_PLAINTEXT``: OAUTHBEARER with Kafka's unsecured (test-only) token validator, and PLAIN.

Users: ``alice`` / ``alice-password`` for PLAIN and both SCRAM mechanisms (SCRAM credentials are
added when the storage is formatted). ``reauth_ms`` sets ``connections.max.reauth.ms`` (KIP-368).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tests.harness.certs import TestPki
from tests.harness.kafka import HOST, KafkaCluster, _Node, free_ports

USER = "alice"
PASSWORD = "alice-pw-canary-51d7"  # a canary too: the suite checks it never shows up
SECURE_LISTENERS = ("SSL", "MTLS", "BADNAME", "SASL_SSL", "SASL_PLAINTEXT")
_PROTOCOL = {"SSL": "SSL", "MTLS": "SSL", "BADNAME": "SSL", "SASL_SSL": "SASL_SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT"}


class SecureKafka(KafkaCluster):
    """One combined node with the listeners above; certificates come from ``pki`` (made if not given)."""

    def __init__(self, *, pki: TestPki | None = None, reauth_ms: int = 0, **kwargs: Any) -> None:
        self.pki = pki or TestPki.create(Path(tempfile.mkdtemp(prefix="josef-pki-")))
        self.reauth_ms = reauth_ms
        self.ports: dict[str, int] = {}
        scram = [f"SCRAM-SHA-{bits}=[name={USER},password={PASSWORD}]" for bits in (256, 512)]
        format_args = [arg for item in scram for arg in ("--add-scram", item)]
        super().__init__(1, format_args=format_args, **kwargs)

    def bootstrap(self, listener: str) -> str:
        """``host:port`` of one listener (``PLAINTEXT`` is the reader's)."""
        if listener == "PLAINTEXT":
            return self.bootstrap_servers
        return f"{HOST}:{self.ports[listener]}"

    def _properties(self, node: _Node, voters: str) -> dict[str, str]:
        props = super()._properties(node, voters)
        self.ports = dict(zip(SECURE_LISTENERS, free_ports(len(SECURE_LISTENERS)), strict=True))
        extra = ",".join(f"{name}://{HOST}:{port}" for name, port in self.ports.items())
        props["listeners"] += "," + extra
        props["advertised.listeners"] += "," + extra
        props["listener.security.protocol.map"] += "," + ",".join(f"{n}:{_PROTOCOL[n]}" for n in self.ports)
        pki = self.pki
        plain_jaas = f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
        scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        oauth_jaas = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
            'unsecuredLoginStringClaim_sub="broker";'
        )
        props.update({
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(pki.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(pki.ca),
            "ssl.client.auth": "none",
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.badname.ssl.keystore.type": "PEM",
            "listener.name.badname.ssl.keystore.location": str(pki.badname_keystore),
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain_jaas,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram_jaas,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_jaas,
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "OAUTHBEARER,PLAIN",
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": oauth_jaas,
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas,
            "connections.max.reauth.ms": str(self.reauth_ms),
        })  # fmt: skip
        props.update(self.broker_config)
        return props


def reader_config(cluster: SecureKafka, listener: str = "PLAINTEXT") -> dict[str, str]:
    """A confluent-kafka config for one listener, for the independent checks."""
    pki = cluster.pki
    conf = {"bootstrap.servers": cluster.bootstrap(listener)}
    if listener in ("SSL", "MTLS", "SASL_SSL"):
        conf["security.protocol"] = "SASL_SSL" if listener == "SASL_SSL" else "SSL"
        conf["ssl.ca.location"] = str(pki.ca)
    if listener == "MTLS":
        conf["ssl.certificate.location"] = str(pki.client_cert)
        conf["ssl.key.location"] = str(pki.client_key)
        conf["ssl.key.password"] = pki.key_password
    if listener == "SASL_SSL":
        conf.update({"sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD})
    if listener == "SASL_PLAINTEXT":
        conf.update({
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "OAUTHBEARER",
            "enable.sasl.oauthbearer.unsecure.jwt": "true",
            "sasl.oauthbearer.config": "principal=alice",
        })  # fmt: skip
    return conf


if __name__ == "__main__":  # a quick manual start: python -m tests.harness.secure_kafka
    import signal

    with SecureKafka() as cluster:
        for name in ("PLAINTEXT", *SECURE_LISTENERS):
            print(f"{name:15} {cluster.bootstrap(name)}")
        print("PKI in", cluster.pki.folder, flush=True)
        if os.environ.get("JOSEF_SECURE_WAIT", "1") == "1":
            signal.pause()
