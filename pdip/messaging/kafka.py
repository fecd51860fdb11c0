"""A small Kafka client shared by the integrator and the tracking exporters: checked settings,
the client configuration they make, and a sender whose deliveries are confirmed.

    settings = kafka_settings({"bootstrap_servers": "broker:9092", "topic": "orders"}, "orders", "target")
    sender = KafkaSender(settings)
    sender.send(settings.topic, [(b"key", b"value")])
    sender.confirm()                       # raises KafkaDeliveryError unless the broker took every message

Security and any other client option come from the settings too (and so from application.yml's
`CONNECTIONS`): `security_protocol`, `sasl_mechanism`, `sasl_username`, `sasl_password`,
`ssl_ca_location`, and `options: {<librdkafka name>: value}` for the rest. The integrator's Kafka
adapter (`pdip.integrator.adapters.kafka.topics`) and `pdip.tracking.KafkaExporter` both use this
module, so they read the same settings and send the same way. Secrets never appear in errors:
only keys and the values of non-secret settings do. confluent_kafka is imported on first send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pdip.configuration.errors import refuse_unknown
from pdip.configuration.settings import Setting, names
from pdip.messaging.errors import KafkaDeliveryError, KafkaSettingsError

STARTS = ("committed", "earliest", "latest")
COMPRESSIONS = ("none", "gzip", "lz4", "zstd", "snappy")
# Settings that are client options under another spelling (`sasl_username` is `sasl.username`).
CLIENT_OPTIONS = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_ca_location")
SETTINGS = (
    Setting("bootstrap_servers", str | list[str], required=True, help="host:port, or several"),
    Setting("topic", str, help="the topic read or written"),
    Setting("topics", str | list[str], help="a source's topics, instead of `topic`"),
    Setting("group", str, help="a source's consumer group, whose offsets record progress (required)"),
    Setting("start", str, default="committed", allowed=STARTS, help="where a group without offsets starts"),
    Setting("until", str, default="end", allowed=("end",), help="a source stops at the end (`--follow` keeps on)"),
    Setting("key", str | list[str], help="a target's message key columns"),
    Setting("compression", str, default="lz4", allowed=COMPRESSIONS),
    Setting("tombstones", bool, default=False, help="a change-log target sends a tombstone after a delete"),
    Setting("partitions", int, default=1, help="partitions of a topic the target creates"),
    Setting("compacted", bool, default=False, help="a topic the target creates is compacted"),
    Setting("poll_timeout", float, default=1.0, help="seconds a source with nothing in hand waits for messages"),
    Setting("delivery_timeout", float, default=120.0, help="seconds a target waits for the broker's confirmation"),
    Setting("options", dict[str, Any], secret=True, help="librdkafka client options by their own names"),
    Setting("security_protocol", str),
    Setting("sasl_mechanism", str),
    Setting("sasl_username", str),
    Setting("sasl_password", str, secret=True),
    Setting("ssl_ca_location", str),
)


@dataclasses.dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topics: tuple[str, ...]
    group: str | None = None
    start: str = "committed"
    key: tuple[str, ...] = ()
    compression: str = "lz4"
    tombstones: bool = False
    partitions: int = 1
    compacted: bool = False
    poll_timeout: float = 1.0
    delivery_timeout: float = 120.0
    client: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def topic(self) -> str:
        return self.topics[0]

    def consumer_config(self, *, partition_eof: bool) -> dict[str, Any]:
        """Offsets are committed by the source itself, only for what the target made durable."""
        return {
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest" if self.start == "latest" else "earliest",
            "enable.partition.eof": partition_eof,
            # Some brokers (tansu) hold every fetch for the whole wait; 50 ms keeps them busy.
            "fetch.wait.max.ms": 50,
            # librdkafka stops fetching for a whole second once its local queue holds 100,000
            # messages; a reader takes them in batches of that order, so it refills at once.
            "fetch.queue.backoff.ms": 10,
            # How soon a follower sees a topic created after it subscribed (librdkafka: 5 minutes).
            "topic.metadata.refresh.interval.ms": 5000,
            **self.common(),
        }

    def producer_config(self) -> dict[str, Any]:
        """Idempotent (no duplicates or reordering from retries), every replica acknowledges."""
        return {
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": self.compression,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "message.timeout.ms": int(self.delivery_timeout * 1000),
            "delivery.report.only.error": True,
            **self.common(),
        }

    def common(self) -> dict[str, Any]:
        # Brokers close idle connections; that is not worth a line on stderr each time.
        return {"bootstrap.servers": self.bootstrap_servers, "log.connection.close": False, **self.client}


def kafka_settings(settings: Mapping[str, Any], label: str, role: str) -> KafkaSettings:
    """The checked settings of a Kafka `role` ("source" or "target"); KafkaSettingsError names
    each key at fault, after `label` (the connection or exporter they belong to)."""
    raw = {str(key).lower(): value for key, value in settings.items()}
    refuse_unknown(raw, names(SETTINGS), f"{label}: ", "unknown setting for kafka", KafkaSettingsError)
    problems: list[str] = []
    servers = _servers(raw.get("bootstrap_servers"), problems)
    topics = _topics(raw, role, problems)
    group = raw.get("group")
    if role == "source" and not group:
        problems.append("group: required for a source (the consumer group whose offsets record progress)")
    start = str(raw.get("start", "committed")).lower()
    if start not in STARTS:
        problems.append(f"start: expected one of {', '.join(STARTS)}, got {raw['start']!r}")
    if str(raw.get("until", "end")).lower() != "end":
        problems.append(
            f"until: expected end (stop at the end; `pdip run --follow` keeps reading), got {raw['until']!r}"
        )
    compression = str(raw.get("compression", "lz4")).lower()
    if compression not in COMPRESSIONS:
        problems.append(f"compression: expected one of {', '.join(COMPRESSIONS)}, got {raw['compression']!r}")
    key = raw.get("key") or ()
    key = (key,) if isinstance(key, str) else key
    if not isinstance(key, (list, tuple)) or not all(isinstance(name, str) for name in key):
        problems.append(f"key: expected a column name or a list of them, got {raw['key']!r}")
        key = ()
    numbers = {name: _positive(raw, name, default, problems) for name, default in _NUMBERS.items()}
    client = _client_options(raw, problems)
    if problems:
        problems = [f"{label}: {problem}" for problem in problems]
        raise KafkaSettingsError("; ".join(problems), problems)
    return KafkaSettings(
        bootstrap_servers=servers,
        topics=topics,
        group=str(group) if group else None,
        start=start,
        key=tuple(key),
        compression=compression,
        tombstones=bool(raw.get("tombstones", False)),
        partitions=int(numbers["partitions"]),
        compacted=bool(raw.get("compacted", False)),
        poll_timeout=numbers["poll_timeout"],
        delivery_timeout=numbers["delivery_timeout"],
        client=client,
    )


_NUMBERS = {"partitions": 1, "poll_timeout": 1.0, "delivery_timeout": 120.0}


def _servers(value: Any, problems: list[str]) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(item) for item in value)
    if not value or not str(value).strip():
        problems.append("bootstrap_servers: required (host:port, or several separated by commas)")
        return ""
    return str(value).strip()


def _topics(raw: Mapping[str, Any], role: str, problems: list[str]) -> tuple[str, ...]:
    value = raw.get("topics") if role == "source" and "topics" in raw else raw.get("topic")
    names = [value] if isinstance(value, str) else list(value or [])
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        wanted = "topic (or topics: a list)" if role == "source" else "topic"
        problems.append(f"{wanted}: required, the name of the topic to {'read' if role == 'source' else 'write'}")
        return ()
    if role == "target" and "topics" in raw:
        problems.append("topics: a target writes one `topic`")
    return tuple(name.strip() for name in names)


def _positive(raw: Mapping[str, Any], name: str, default: float, problems: list[str]) -> float:
    value = raw.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number <= 0:
        problems.append(f"{name}: expected a positive number, got {value!r}")
        return default
    return number


def _client_options(raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        problems.append("options: expected a mapping of client option names (librdkafka's) to values")
        options = {}
    client = {str(name): value for name, value in options.items()}
    for name in CLIENT_OPTIONS:
        if raw.get(name) is not None:
            client[name.replace("_", ".")] = raw[name]
    return client


class KafkaSender:
    """A producer made on first use that remembers which messages the broker refused: `send`
    queues messages, `confirm` waits until the broker confirmed every one sent so far."""

    def __init__(self, settings: KafkaSettings):
        self.settings = settings
        self._producer: Any = None
        self._failures: list[str] = []
        self._lasting = False  # a message was refused for a reason that does not pass

    def send(self, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]) -> int:
        """Queue (key, value) messages for `topic`, in order; returns how many were queued."""
        producer = self._ready()
        produce, poll = producer.produce, producer.poll
        count = 0
        for count, (key, value) in enumerate(messages, 1):
            try:
                produce(topic, value, key)
            except BufferError:  # the client's queue is full: let it send, then try again
                self._produce_when_queued(topic, key, value)
            if not count % 10_000:  # serve delivery reports as we go, not all at the end
                poll(0)
        poll(0)
        return count

    def _produce_when_queued(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue

    def confirm(self, what: str = "messages") -> None:
        """Wait for the broker (at most `delivery_timeout`); raise KafkaDeliveryError, counting
        `what` was sent, when it refused any message or did not confirm them all in time."""
        if self._producer is None:
            return
        waiting = self._producer.flush(self.settings.delivery_timeout + 5)
        failures, self._failures = self._failures, []
        lasting, self._lasting = self._lasting, False
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise KafkaDeliveryError(f"{len(failures)} {what} were not delivered: {failures[0]}{more}", not lasting)
        if waiting:
            raise KafkaDeliveryError(f"{waiting} {what} were not confirmed by the broker in time", transient=True)

    def close(self) -> None:
        """Let go of the producer without waiting (what is unconfirmed stays so); harmless twice."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.flush(0)

    def _ready(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            self._failures = []
            config = self.settings.producer_config()
            config["on_delivery"] = self._delivered
            self._producer = Producer(config)
        return self._producer

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:  # only failures are reported (delivery.report.only.error)
            self._failures.append(f"{message.topic()}: {error.str()}")
            self._lasting = self._lasting or not passing(error)


def passing(error: Any) -> bool:
    """Whether a `KafkaError` is one a later attempt may not meet: the broker says it may be
    retried, or the client lost the broker or gave up waiting for it."""
    from confluent_kafka import KafkaError

    waits = (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
    return not error.fatal() and (error.retriable() or error.code() in waits)
