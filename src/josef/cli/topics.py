"""``josef topics``: list, create, describe, alter and delete topics, through :class:`josef.Admin`."""

from __future__ import annotations

import argparse
import base64
import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from josef.admin import Admin, AlterConfigOp, ConfigResource, NewTopic
from josef.cli.common import CliError, UsageError, cluster, describe, note, producer_config, split_kv
from josef.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

TIMEOUT = 60.0


def _split_config_flags(args: argparse.Namespace) -> None:
    """kafka-topics' ``--config KEY=VALUE`` (a topic setting) next to josef's ``--config FILE``."""
    files: list[str] = []
    settings: list[str] = []
    for item in getattr(args, "config_files", None) or []:
        (settings if "=" in item and not os.path.isfile(item) else files).append(item)
    args.config_files = files
    if settings:
        if getattr(args, "topics_command", None) not in ("create", "alter"):
            raise CliError(f"--config {settings[0]}: topic settings go with 'topics create' or 'topics alter'; "
                           "--config names a file")
        args.topic_config = [*settings, *(getattr(args, "topic_config", None) or [])]


def cmd_topics(args: argparse.Namespace) -> int:
    _split_config_flags(args)
    config = producer_config(args)
    if not config.get("bootstrap.servers") and not getattr(args, "mock", False):
        raise UsageError(
            "topics needs a cluster: give -b/--bootstrap-servers HOST:PORT (or bootstrap.servers in -X/--config); "
            "--mock runs it on an embedded mock cluster that is gone when the command ends"
        )
    with cluster(config):
        admin = Admin(config)
        try:
            return ACTIONS[args.topics_command](admin, args)
        finally:
            admin.close(5)


def _each(futures: dict[str, Future[Any]], done: Callable[[str, Any], None],
          tolerate: type[BaseException] | None = None) -> int:
    """Wait for each topic's future in name order; errors are one line each. Returns how many failed."""
    failed = 0
    for name in sorted(futures):
        try:
            done(name, futures[name].result(TIMEOUT))
        except Exception as exc:
            if tolerate is not None and isinstance(exc, tolerate):
                continue
            failed += 1
            note(f"error: {describe(exc)}")
    return failed


def _list(admin: Admin, args: argparse.Namespace) -> int:
    for name in admin.list_topics(include_internal=args.all).result(TIMEOUT):
        print(name)
    return 0


def _create(admin: Admin, args: argparse.Namespace) -> int:
    configs = dict(split_kv(c, "--config") for c in args.topic_config or [])
    futures = admin.create_topics(NewTopic(name, args.partitions, args.replication_factor, configs)
                                  for name in args.topics)
    tolerate = TopicAlreadyExistsError if args.if_not_exists else None
    return 1 if _each(futures, lambda name, _: print(f"Created topic {name}."), tolerate) else 0


def _describe(admin: Admin, args: argparse.Namespace) -> int:
    names = args.topics or admin.list_topics(include_internal=args.all).result(TIMEOUT)

    def show(name: str, topic: Any) -> None:
        rf = len(topic.partitions[0].replicas) if topic.partitions else 0
        topic_id = base64.urlsafe_b64encode(topic.topic_id.bytes).rstrip(b"=").decode() if topic.topic_id else None
        print(f"Topic: {name}\tTopicId: {topic_id}\tPartitionCount: {len(topic.partitions)}\t"
              f"ReplicationFactor: {rf}")
        for p in topic.partitions:
            print(f"\tTopic: {name}\tPartition: {p.partition}\tLeader: {p.leader}"
                  f"\tReplicas: {','.join(map(str, p.replicas))}\tIsr: {','.join(map(str, p.isr))}")

    return 1 if _each(admin.describe_topics(names), show) else 0


def _alter(admin: Admin, args: argparse.Namespace) -> int:
    ops = [AlterConfigOp(*split_kv(c, "--config")) for c in args.topic_config or []]
    ops += [AlterConfigOp(key, None, "delete") for key in args.delete_config or []]
    if args.partitions is None and not ops:
        raise UsageError(
            "topics alter: nothing to change: give --partitions N, --config KEY=VALUE or --delete-config KEY"
        )
    failed = 0
    if args.partitions is not None:
        failed += _each(admin.create_partitions(dict.fromkeys(args.topics, args.partitions)),
                        lambda name, _: print(f"Topic {name} now has {args.partitions} partitions."))
    if ops:
        futures = admin.incremental_alter_configs({ConfigResource("topic", name): ops for name in args.topics})
        failed += _each({r.name: f for r, f in futures.items()},
                        lambda name, _: print(f"Updated the configuration of topic {name}."))
    return 1 if failed else 0


def _delete(admin: Admin, args: argparse.Namespace) -> int:
    tolerate = UnknownTopicOrPartitionError if args.if_exists else None
    failed = _each(admin.delete_topics(args.topics), lambda name, _: print(f"Deleted topic {name}."), tolerate)
    return 1 if failed else 0


ACTIONS: dict[str, Callable[[Admin, argparse.Namespace], int]] = {
    "list": _list, "create": _create, "describe": _describe, "alter": _alter, "delete": _delete,
}
