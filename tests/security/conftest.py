"""Fixtures of the security suite: one broker with every security listener, shared by the suite,
and a check after every test that no secret reached a log record."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.harness.secure_kafka import PASSWORD, SecureKafka

#: Secrets used across the suite; none may appear in any josef log record (at DEBUG), repr or error.
CLIENT_SECRET = "client-secret-canary-e09b"
KEY_PASSWORD = "key-pw-canary-a83c"
CANARIES = (PASSWORD, KEY_PASSWORD, CLIENT_SECRET)


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + (caplog.handler.formatter.format(record) if caplog.handler.formatter else "")
        for canary in CANARIES:
            assert canary not in text, f"a secret reached the log: {record.name} {record.levelname}"


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[SecureKafka]:
    """One node with SSL, MTLS, BADNAME, SASL_SSL and SASL_PLAINTEXT listeners (re-auth every 10 s)."""
    with SecureKafka(reauth_ms=int(os.environ.get("JOSEF_TEST_REAUTH_MS", "10000"))) as cluster:
        yield cluster


@pytest.fixture
def secure_topic(secure_kafka: SecureKafka) -> str:
    name = f"sec-{uuid.uuid4().hex[:10]}"
    secure_kafka.create_topic(name, partitions=3)
    return name
