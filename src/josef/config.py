"""Producer configuration: the Java client's names and defaults, validated in one place.

Users pass Java names (``{"linger.ms": 5}``) or keyword arguments with underscores
(``linger_ms=5``). Values may be strings, as in a Java ``.properties`` file. Every problem
is reported naming the key, so a typo never silently falls back to a default; all problems of
one configuration are collected and raised together in one :class:`ConfigError` (a
``ValueError``), so fixing a configuration takes one round trip.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from josef.interceptors import parse_interceptors
from josef.serialization import load_object, resolve_serializer

log = logging.getLogger("josef.config")

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_Parser = Callable[[str, Any], Any]


def _got(value: Any) -> str:
    """``str 'abc'``: the type and the value, so a type mistake reads as one."""
    return f"{type(value).__name__} {value!r}"


def _int(lo: int, hi: int = INT64_MAX) -> _Parser:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{key}: expected an integer, got {_got(value)}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{key}: expected an integer, got {_got(value)}") from None
        if not lo <= number <= hi:
            raise ValueError(f"{key}: {number} is out of range [{lo}, {hi}]")
        return number

    return parse


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{key}: expected true or false, got {_got(value)}")


def _choice(*allowed: str) -> _Parser:
    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string (one of {', '.join(allowed)}), got {_got(value)}")
        text = value.strip().lower()
        if text not in allowed:
            raise ValueError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
        return text

    return parse


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {_got(value)}")
    return value


def _opt_str(key: str, value: Any) -> str | None:
    return None if value is None else _str(key, value)


def _servers(key: str, value: Any) -> list[tuple[str, int]]:
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(
            f"{key}: expected a string 'host:port[,host:port...]' or a list of 'host:port' strings, "
            f"got {_got(value)}"
        )
    servers = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{key}: expected 'host:port' strings in the list, got {_got(item)}")
        text = item.strip()
        if not text:
            continue
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{key}: {text!r} is not host:port")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise ValueError(f"{key}: at least one host:port is required")
    return servers


def _acks(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{key}: expected one of all, -1, 0, 1 (a string or an int), got {_got(value)}")
    text = str(value).strip().lower()
    if text in ("all", "-1"):
        return -1
    if text in ("0", "1"):
        return int(text)
    raise ValueError(f"{key}: {value!r} is not one of all, -1, 0, 1")


def _float(lo: float, hi: float) -> _Parser:
    def parse(key: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected a number, got {value!r}") from None
        if not lo <= number <= hi:
            raise ValueError(f"{key}: {number} is out of range [{lo}, {hi}]")
        return number

    return parse


def _secret(key: str, value: Any) -> str | None:
    # Never echo the value: it is a password, key or token.
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    return value


def _any(key: str, value: Any) -> Any:
    return value


def _callable(key: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise ValueError(f"{key}: expected a callable, got {_got(value)}")
    return value


def _partitioner(key: str, value: Any) -> Any:
    if callable(value):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"{key}: expected a callable or one of sticky, round_robin, murmur2_random, got {_got(value)}"
        )
    return _choice("sticky", "round_robin", "murmur2_random")(key, value)


# partitioner.class: Java's built-in partitioners -> (josef's partitioner, partitioner.ignore.keys).
# Java's RoundRobinPartitioner cycles through the partitions whatever the key, hence ignore.keys.
JAVA_PARTITIONERS: dict[str, tuple[str, bool]] = {
    "org.apache.kafka.clients.producer.RoundRobinPartitioner": ("round_robin", True),
    "org.apache.kafka.clients.producer.internals.DefaultPartitioner": ("sticky", False),
    "org.apache.kafka.clients.producer.UniformStickyPartitioner": ("sticky", True),
}


def _partitioner_class(key: str, value: Any) -> Any:
    """A Java built-in class name (kept as a string, mapped in validation), a dotted path or an
    object: a callable ``(topic, key, value, partitions) -> int`` or one with that ``partition`` method."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() in JAVA_PARTITIONERS:
        return value.strip()
    obj = load_object(value.strip(), key) if isinstance(value, str) else value() if isinstance(value, type) else value
    method = getattr(obj, "partition", None)
    if callable(method):
        return method
    if not callable(obj):
        raise ValueError(f"{key}: {obj!r} is not callable and has no partition(topic, key, value, partitions) method")
    return obj


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration: the key, what is wrong, and optionally a hint
    (e.g. the key the user probably meant)."""

    key: str
    message: str  # starts with the key: "linger.ms: expected an integer, got str 'soon'"
    hint: str | None = None

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class ConfigError(ValueError):
    """Everything wrong with one configuration, reported at once. ``problems`` lists them."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        if len(problems) == 1:
            text = str(problems[0])
        else:
            text = f"{len(problems)} configuration problems:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(text)


@dataclass(frozen=True)
class _Option:
    parse: _Parser
    default: Any
    secret: bool = False


# Java name -> option. Defaults are the Java 4.x client's, except where noted.
OPTIONS: dict[str, _Option] = {
    "bootstrap.servers": _Option(_servers, None),
    "client.id": _Option(_str, ""),
    "acks": _Option(_acks, -1),
    "enable.idempotence": _Option(_bool, True),
    "linger.ms": _Option(_int(0), 5),
    "batch.size": _Option(_int(0, INT32_MAX), 16384),
    "buffer.memory": _Option(_int(0), 33554432),
    "max.block.ms": _Option(_int(0), 60000),
    # josef only: at interpreter exit, how long a producer never closed may flush what it holds.
    "josef.exit.flush.timeout.ms": _Option(_int(0, INT32_MAX), 5000),
    "max.request.size": _Option(_int(1, INT32_MAX), 1048576),
    "compression.type": _Option(_choice("none", "gzip", "snappy", "lz4", "zstd"), "none"),
    "compression.gzip.level": _Option(_int(-1, 9), -1),
    "compression.lz4.level": _Option(_int(1, 17), 9),
    "compression.zstd.level": _Option(_int(-131072, 22), 3),
    "retries": _Option(_int(0, INT32_MAX), INT32_MAX),
    "retry.backoff.ms": _Option(_int(0), 100),
    "retry.backoff.max.ms": _Option(_int(0), 1000),
    "request.timeout.ms": _Option(_int(0, INT32_MAX), 30000),
    "delivery.timeout.ms": _Option(_int(0, INT32_MAX), 120000),
    "max.in.flight.requests.per.connection": _Option(_int(1, INT32_MAX), 5),
    "metadata.max.age.ms": _Option(_int(0), 300000),
    "metadata.max.idle.ms": _Option(_int(5000), 300000),
    "connections.max.idle.ms": _Option(_int(-1), 540000),
    # Validated here; applied by the network layer when it supports them.
    "client.dns.lookup": _Option(
        _choice("use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"), "use_all_dns_ips"
    ),
    "metadata.recovery.strategy": _Option(_choice("none", "rebootstrap"), "rebootstrap"),
    "metadata.recovery.rebootstrap.trigger.ms": _Option(_int(0), 300000),
    "reconnect.backoff.ms": _Option(_int(0), 50),
    "reconnect.backoff.max.ms": _Option(_int(0), 1000),
    "socket.connection.setup.timeout.ms": _Option(_int(0), 10000),
    "send.buffer.bytes": _Option(_int(-1, INT32_MAX), 131072),
    "receive.buffer.bytes": _Option(_int(-1, INT32_MAX), 32768),
    "partitioner": _Option(_partitioner, "sticky"),
    "partitioner.ignore.keys": _Option(_bool, False),
    "partitioner.class": _Option(_partitioner_class, None),
    "transactional.id": _Option(_opt_str, None),
    "transaction.timeout.ms": _Option(_int(1, INT32_MAX), 60000),
    "key.serializer": _Option(resolve_serializer, None),
    "value.serializer": _Option(resolve_serializer, None),
    "interceptor.classes": _Option(parse_interceptors, ()),
    # Security (docs/security.md). Checked as a whole by josef._core.security.settings.
    "security.protocol": _Option(_choice("plaintext", "ssl", "sasl_plaintext", "sasl_ssl"), "plaintext"),
    "ssl.truststore.location": _Option(_opt_str, None),
    "ssl.truststore.certificates": _Option(_opt_str, None),
    "ssl.truststore.type": _Option(_opt_str, None),  # PEM or PKCS12; guessed from the file name if unset
    "ssl.truststore.password": _Option(_secret, None, secret=True),
    "ssl.keystore.location": _Option(_opt_str, None),
    "ssl.keystore.type": _Option(_opt_str, None),
    "ssl.keystore.password": _Option(_secret, None, secret=True),
    "ssl.keystore.certificate.chain": _Option(_opt_str, None),
    "ssl.keystore.key": _Option(_secret, None, secret=True),
    "ssl.key.password": _Option(_secret, None, secret=True),
    "ssl.certificate.location": _Option(_opt_str, None),  # librdkafka's name: client certificate PEM file
    "ssl.key.location": _Option(_opt_str, None),  # librdkafka's name: client key PEM file
    "ssl.endpoint.identification.algorithm": _Option(_opt_str, "https"),
    "ssl.protocol": _Option(_str, "TLSv1.3"),
    "ssl.enabled.protocols": _Option(_any, "TLSv1.2,TLSv1.3"),
    "ssl.cipher.suites": _Option(_any, None),
    "ssl.context": _Option(_any, None),  # josef: a ready ssl.SSLContext
    "sasl.mechanism": _Option(_opt_str, "GSSAPI"),
    "sasl.jaas.config": _Option(_secret, None, secret=True),
    "sasl.username": _Option(_opt_str, None),  # librdkafka's name
    "sasl.password": _Option(_secret, None, secret=True),  # librdkafka's name
    "sasl.oauthbearer.token.endpoint.url": _Option(_opt_str, None),
    "sasl.oauthbearer.client.credentials.client.id": _Option(_opt_str, None),
    "sasl.oauthbearer.client.credentials.client.secret": _Option(_secret, None, secret=True),
    "sasl.oauthbearer.scope": _Option(_opt_str, None),
    "sasl.oauthbearer.token.callback": _Option(_callable, None),  # josef: () -> (token, expires_at)
    "sasl.login.refresh.window.factor": _Option(_float(0.5, 1.0), 0.8),
    "sasl.login.refresh.window.jitter": _Option(_float(0.0, 0.25), 0.05),
    "sasl.login.refresh.min.period.seconds": _Option(_int(0, 900), 60),
    "sasl.login.refresh.buffer.seconds": _Option(_int(0, 3600), 300),
    "sasl.login.connect.timeout.ms": _Option(_int(1, INT32_MAX), 10000),
    "sasl.login.read.timeout.ms": _Option(_int(1, INT32_MAX), 10000),
    "metrics.sample.window.ms": _Option(_int(1), 30000),
    "metrics.num.samples": _Option(_int(1, INT32_MAX), 2),
    # Java's INFO / DEBUG / TRACE all record every metric; "off" (josef) records none.
    "metrics.recording.level": _Option(_choice("info", "debug", "trace", "off"), "info"),
}

# Other clients' names for the same settings (librdkafka / confluent-kafka), so their configs work unchanged.
ALIASES: dict[str, str] = {
    "sasl.mechanisms": "sasl.mechanism",
    "ssl.ca.location": "ssl.truststore.location",
    "sasl.oauthbearer.client.id": "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.client.secret": "sasl.oauthbearer.client.credentials.client.secret",
}

@dataclass
class ProducerConfig:
    """A validated configuration. Read values with ``config["linger.ms"]``."""

    values: dict[str, Any]
    explicit: frozenset[str] = field(default_factory=frozenset)
    security: Any = field(default=None, compare=False)  # josef._core.security.SecuritySettings, set by validation

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __repr__(self) -> str:
        shown = {
            key: ("[hidden]" if OPTIONS[key].secret and value is not None else value)
            for key, value in self.values.items()
            if key in self.explicit
        }
        return f"ProducerConfig({shown!r})"

    @property
    def idempotent(self) -> bool:
        return bool(self.values["enable.idempotence"])

    @classmethod
    def from_user(cls, config: Mapping[str, Any] | None = None, **kwargs: Any) -> ProducerConfig:
        """Parse and check a user's configuration; raises one :class:`ConfigError` listing
        every problem found."""
        problems: list[ConfigProblem] = []
        given: dict[str, Any] = {}
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError([ConfigProblem(
                "config", f"config: expected a mapping of Java config names to values, got {_got(config)}"
            )])
        for key, value in (config or {}).items():
            name = _canonical(key, problems)
            if name is None:
                continue
            if name in given:
                problems.append(ConfigProblem(name, f"{name}: given twice (also as {key})"))
                continue
            given[name] = value
        for key, value in kwargs.items():
            name = _canonical(key.replace("_", "."), problems)
            if name is None:
                continue
            if name in given:
                problems.append(ConfigProblem(name, f"{name}: given twice (as a config key and as keyword {key})"))
                continue
            given[name] = value
        values = {key: option.default for key, option in OPTIONS.items()}
        failed: set[str] = set()
        for key, value in given.items():
            try:
                values[key] = OPTIONS[key].parse(key, value)
            except ValueError as exc:
                problems.append(ConfigProblem(key, str(exc)))
                failed.add(key)
        result = cls(values, frozenset(given))
        result._validate(problems, failed)
        if problems:
            raise ConfigError(problems)
        return result

    def _validate(self, problems: list[ConfigProblem], failed: set[str]) -> None:
        """Checks across keys; a check is skipped when a key it reads could not be parsed
        (its default would stand in and give a misleading second error)."""
        v, explicit = self.values, self.explicit

        def problem(key: str, message: str) -> None:
            problems.append(ConfigProblem(key, f"{key}: {message}"))

        def usable(*keys: str) -> bool:
            return not failed.intersection(keys)

        if v["bootstrap.servers"] is None and usable("bootstrap.servers"):
            problem("bootstrap.servers", "required (a list of host:port)")
        if v["partitioner.class"] is not None and usable("partitioner.class"):
            chosen = v["partitioner.class"]
            if "partitioner" in explicit:
                problem("partitioner.class", "give either partitioner or partitioner.class, not both")
            elif isinstance(chosen, str):
                v["partitioner"], ignore_keys = JAVA_PARTITIONERS[chosen]
                if ignore_keys and "partitioner.ignore.keys" not in explicit:
                    v["partitioner.ignore.keys"] = True
            else:
                v["partitioner"] = chosen
        if not v["client.id"]:
            v["client.id"] = f"josef-producer-{v['transactional.id'] or _next_client_number()}"
        if v["transactional.id"] is not None and "enable.idempotence" not in explicit:
            v["enable.idempotence"] = True
        if v["enable.idempotence"] and usable("enable.idempotence", "transactional.id"):
            conflicts = [
                ("acks", v["acks"] != -1, "acks must be all"),
                ("retries", v["retries"] == 0, "retries must be > 0"),
                (
                    "max.in.flight.requests.per.connection",
                    v["max.in.flight.requests.per.connection"] > 5,
                    "max.in.flight.requests.per.connection must be <= 5",
                ),
            ]
            for key, bad, why in conflicts:
                if not bad or not usable(key):
                    continue
                if "enable.idempotence" in explicit or v["transactional.id"] is not None:
                    reason = "transactional.id" if v["transactional.id"] is not None else "enable.idempotence"
                    problem(key, f"conflicts with {reason}=true ({why})")
                    continue
                if key == "max.in.flight.requests.per.connection":
                    problem(key, f"conflicts with enable.idempotence=true, the default ({why})")
                    continue
                log.info("idempotence disabled: %s conflicts with the default enable.idempotence=true", key)
                v["enable.idempotence"] = False
                break
        if v["transactional.id"] is not None and not v["enable.idempotence"] and usable("enable.idempotence"):
            problem("transactional.id", "requires enable.idempotence=true")
        floor = v["linger.ms"] + v["request.timeout.ms"]
        if v["delivery.timeout.ms"] < floor and usable("delivery.timeout.ms", "linger.ms", "request.timeout.ms"):
            if "delivery.timeout.ms" in explicit:
                problem(
                    "delivery.timeout.ms",
                    f"must be >= linger.ms + request.timeout.ms ({floor}), got {v['delivery.timeout.ms']}",
                )
            else:
                v["delivery.timeout.ms"] = floor
        if "reconnect.backoff.ms" in explicit and "reconnect.backoff.max.ms" not in explicit:
            v["reconnect.backoff.max.ms"] = v["reconnect.backoff.ms"]
        if v["retry.backoff.ms"] > v["retry.backoff.max.ms"]:
            v["retry.backoff.ms"] = v["retry.backoff.max.ms"]
        from josef._core.security.settings import SASL_KEYS, SSL_KEYS, SecuritySettings

        if usable("security.protocol", *SSL_KEYS, *SASL_KEYS):
            try:
                self.security = SecuritySettings.from_config(v, explicit)
            except ValueError as exc:  # its messages start with the key and never show a secret
                text = str(exc)
                problem(text.split(":", 1)[0], text.split(":", 1)[1].strip() if ":" in text else text)


def _canonical(key: Any, problems: list[ConfigProblem]) -> str | None:
    """The Java name for ``key``, or None after recording why there is none."""
    if not isinstance(key, str):
        problems.append(ConfigProblem(repr(key), f"{key!r}: configuration keys are strings, got {_got(key)}"))
        return None
    if key in OPTIONS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    # The Java names spell sub-words with dots; accept "max_in_flight..." style too.
    for name in OPTIONS:
        if name.replace(".", "_") == key.replace(".", "_"):
            return name
    for alias, name in ALIASES.items():
        if alias.replace(".", "_") == key.replace(".", "_"):
            return name
    problems.append(ConfigProblem(key, f"{key}: unknown configuration key", did_you_mean(key)))
    return None


def did_you_mean(key: str) -> str | None:
    """"did you mean linger.ms?" for a near miss of a known key, else None."""
    close = difflib.get_close_matches(key.replace("_", ".").lower(), OPTIONS, n=1, cutoff=0.75)
    return f"did you mean {close[0]}?" if close else None


_client_counter = 0


def _next_client_number() -> int:
    global _client_counter
    _client_counter += 1
    return _client_counter
