"""client.dns.lookup: every address of a host in turn, and canonical bootstrap names.

Name resolution is replaced for made-up host names only (``*.josef-test``), so the tests do not
depend on the machine's DNS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from josef import Producer
from josef._core.network import NetworkClient, NetworkSettings
from josef.config import ProducerConfig
from josef.errors import KafkaConnectionError
from josef.testing import MockCluster

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Host name -> the IPv4 addresses it resolves to, in that order."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port))) for ip in table[host]]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield table


def test_use_all_dns_ips_tries_the_next_address_after_a_failure(fake_dns: dict[str, list[str]]) -> None:
    with MockCluster(topics={"t": 1}) as cluster:
        port = int(cluster.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
        # 127.0.0.2: loopback too, but nothing listens there on this port: refused at once.
        fake_dns["kafka.josef-test"] = ["127.0.0.2", "127.0.0.1"]
        with Producer(bootstrap_servers=f"kafka.josef-test:{port}", reconnect_backoff_ms=10,
                      client_dns_lookup="use_all_dns_ips") as producer:
            metadata = producer.send("t", b"v").result(20)
    assert metadata.offset == 0


def test_resolve_canonical_bootstrap_servers_only(fake_dns: dict[str, list[str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns["alias.josef-test"] = ["127.0.0.3", "127.0.0.4"]
    names = {"127.0.0.3": "broker-a.josef-test", "127.0.0.4": "broker-b.josef-test"}
    monkeypatch.setattr(socket, "getfqdn", lambda name="": names.get(name, name))
    for lookup, expected in [
        ("resolve_canonical_bootstrap_servers_only", ["broker-a.josef-test", "broker-b.josef-test"]),
        ("use_all_dns_ips", ["alias.josef-test"]),
    ]:
        config = ProducerConfig.from_user(bootstrap_servers="alias.josef-test:9092", client_dns_lookup=lookup)
        network = NetworkClient(NetworkSettings.from_config(config), config["bootstrap.servers"])
        try:
            hosts = set()
            for _ in range(4):  # least_loaded() starts a connection to one bootstrap server at a time
                network.least_loaded(0.0)
                hosts |= {conn.host for conn in network.conns.values()}
                for conn in list(network.conns.values()):
                    conn.close(KafkaConnectionError("test: next bootstrap server"))
            assert sorted(hosts) == expected, lookup
        finally:
            network.close()


@pytest.mark.parametrize(("strategy", "bootstrap_tried"), [("rebootstrap", True), ("none", False)])
def test_metadata_recovery_strategy(strategy: str, bootstrap_tried: bool) -> None:
    """With every known broker failing, rebootstrap goes back to bootstrap.servers; none does not."""
    config = ProducerConfig.from_user(bootstrap_servers="127.0.0.1:9", metadata_recovery_strategy=strategy)
    network = NetworkClient(NetworkSettings.from_config(config), config["bootstrap.servers"])
    network.set_brokers({1: ("127.0.0.1", 10), 2: ("127.0.0.1", 11)})  # nothing listens on these ports
    tried: set[int] = set()
    try:
        for attempt in range(200):  # least_loaded picks among equals at random: enough turns to reach each
            network.least_loaded(1e9 * (attempt + 1))  # far in the future: no node is backing off
            tried |= set(network.conns)
            for conn in list(network.conns.values()):
                conn.close(KafkaConnectionError("test: refused"))
    finally:
        network.close()
    assert {1, 2} <= tried
    assert (-1 in tried) is bootstrap_tried
