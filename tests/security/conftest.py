"""Fixtures of the security suite: one broker with every security listener, shared by the suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.harness.secure_kafka import SecureKafka


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
