"""``josef topics``: list, create and describe, with a small blocking admin client."""

from __future__ import annotations

import argparse
import socket
import struct
from collections.abc import Mapping
from typing import Any, cast

from josef.cli.common import CliError, cluster, describe, note, producer_config, split_kv
from josef.errors import ErrorCode, error_for_code
from josef.protocol.types import (
    ApiVersionsResponse,
    CreateTopicsRequest,
    CreateTopicsRequestTopics,
    CreateTopicsRequestTopicsConfigs,
    CreateTopicsResponse,
    CreateTopicsResponseTopics,
    MetadataRequest,
    MetadataResponse,
)


class Admin:
    """One blocking connection to a broker, for the ``topics`` commands."""

    def __init__(self, bootstrap: str, timeout: float = 15.0) -> None:
        from josef.protocol import ApiKey, negotiate_version

        self.timeout = timeout
        self.correlation = 0
        self.sock: socket.socket | None = None
        errors = []
        for server in bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                self.sock = socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout)
                break
            except (OSError, ValueError) as exc:
                errors.append(f"{server.strip()}: {exc}")
        if self.sock is None:
            raise CliError("cannot connect to any bootstrap server: " + "; ".join(errors))
        response = cast(ApiVersionsResponse, self.request(ApiKey.API_VERSIONS, 0, {}))
        if response["error_code"]:
            raise error_for_code(response["error_code"])
        self.versions: dict[int, int] = {}
        for entry in response["api_keys"]:
            version = negotiate_version(entry["api_key"], entry["min_version"], entry["max_version"])
            if version is not None:
                self.versions[entry["api_key"]] = version

    def request(self, api_key: int, version: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request and return the decoded response (callers cast it to the response's TypedDict)."""
        from josef.protocol import decode_response, encode_request

        assert self.sock is not None
        self.correlation += 1
        self.sock.sendall(encode_request(api_key, version, self.correlation, "josef-cli", body))
        size = struct.unpack(">i", self._read(4))[0]
        _, response = decode_response(api_key, version, self._read(size))
        return response

    def version(self, api_key: int) -> int:
        from josef.protocol import ApiKey

        if api_key not in self.versions:
            raise CliError(f"the broker does not support a {ApiKey(api_key).name} version josef speaks")
        return self.versions[api_key]

    def _read(self, n: int) -> bytes:
        assert self.sock is not None
        chunks = bytearray()
        while len(chunks) < n:
            data = self.sock.recv(n - len(chunks))
            if not data:
                raise CliError("the broker closed the connection")
            chunks += data
        return bytes(chunks)

    def metadata(self, topics: list[str] | None) -> MetadataResponse:
        from josef.protocol import ApiKey

        body: MetadataRequest = {
            "topics": None if topics is None else [{"name": t} for t in topics],
            "allow_auto_topic_creation": False,
        }
        return cast(MetadataResponse, self.request(ApiKey.METADATA, self.version(ApiKey.METADATA), body))

    def create_topics(self, specs: list[CreateTopicsRequestTopics]) -> list[CreateTopicsResponseTopics]:
        from josef.protocol import ApiKey

        body: CreateTopicsRequest = {"topics": specs, "timeout_ms": int(self.timeout * 1000), "validate_only": False}
        response = self.request(ApiKey.CREATE_TOPICS, self.version(ApiKey.CREATE_TOPICS), body)
        return cast(CreateTopicsResponse, response)["topics"]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def cmd_topics(args: argparse.Namespace) -> int:
    config = producer_config(args)
    with cluster(config):
        admin = Admin(config["bootstrap.servers"])
        try:
            if args.topics_command == "list":
                response = admin.metadata(None)
                for topic in sorted(response["topics"], key=lambda t: t["name"] or ""):
                    if args.all or not topic["is_internal"]:
                        print(topic["name"])
            elif args.topics_command == "create":
                pairs = [split_kv(c, "--config") for c in args.topic_config or []]
                configs: list[CreateTopicsRequestTopicsConfigs] = [{"name": k, "value": v} for k, v in pairs]
                specs: list[CreateTopicsRequestTopics] = [
                    {"name": name, "num_partitions": args.partitions, "replication_factor": args.replication_factor,
                     "assignments": [], "configs": configs}
                    for name in args.topics
                ]
                failed = 0
                for created in admin.create_topics(specs):
                    code = created["error_code"]
                    if code == ErrorCode.TOPIC_ALREADY_EXISTS and args.if_not_exists:
                        continue
                    if code:
                        failed += 1
                        error = error_for_code(code, created["error_message"])
                        note(f"error: topic {created['name']!r}: {describe(error)}")
                    else:
                        print(f"Created topic {created['name']}.")
                return 1 if failed else 0
            else:
                response = admin.metadata(args.topics or None)
                missing = 0
                for topic in sorted(response["topics"], key=lambda t: t["name"] or ""):
                    if topic["error_code"]:
                        missing += 1
                        note(f"error: topic {topic['name']!r}: {describe(error_for_code(topic['error_code']))}")
                        continue
                    if not args.topics and topic["is_internal"] and not args.all:
                        continue
                    partitions = sorted(topic["partitions"], key=lambda p: p["partition_index"])
                    rf = len(partitions[0]["replica_nodes"]) if partitions else 0
                    topic_id = topic.get("topic_id")
                    print(f"Topic: {topic['name']}\tTopicId: {topic_id}\tPartitionCount: {len(partitions)}\t"
                          f"ReplicationFactor: {rf}")
                    for p in partitions:
                        print(f"\tTopic: {topic['name']}\tPartition: {p['partition_index']}\tLeader: {p['leader_id']}"
                              f"\tReplicas: {','.join(map(str, p['replica_nodes']))}"
                              f"\tIsr: {','.join(map(str, p['isr_nodes']))}")
                return 1 if missing else 0
        finally:
            admin.close()
    return 0
