"""`KafkaExporter`: tracked containers' change-log entries to a Kafka topic, in batches.

    exporter = KafkaExporter({"bootstrap_servers": "broker:9092", "topic": "cart-changes"})
    cart = TrackedDict({}, name="cart", observers=[exporter])

The settings and the client are `pdip.messaging.kafka`'s (servers, security, `compression`,
`options`), the same as a Kafka connection's in the integrator, so an application configures
one client for the integrator and its exporters alike. Each entry is `entry.to_json()` keyed by
entity and key (`message_key`), like the integrator's change-log target writes it, so a topic
fed by containers can be applied by `mode: changes`. `flush()` waits until the broker confirmed
every entry sent and raises `KafkaDeliveryError` otherwise; the entries then wait for the next
flush (see `BatchingExporter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdip.messaging.kafka import KafkaSender, kafka_settings
from pdip.tracking.entry import ChangeLogEntry, message_key
from pdip.tracking.exporters import BatchingExporter

LABEL = "kafka exporter"  # what the settings' errors are named after


class KafkaExporter(BatchingExporter):
    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        batch_size: int = 500,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
        logger: Any = None,
    ):
        super().__init__(
            batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority, logger=logger
        )
        self.settings = kafka_settings(settings, LABEL, "target")
        self.sender = KafkaSender(self.settings)

    def _prepare(self, entry: ChangeLogEntry) -> tuple[bytes, bytes]:
        return message_key(entry), entry.to_json().encode()

    def _write(self, batch: list[tuple[bytes, bytes]]) -> None:
        """Send the batch and wait for the broker; a failure raises so the entries stay pending."""
        self.sender.send(self.settings.topic, batch)
        self.sender.confirm("change-log entries")

    def _release(self) -> None:
        self.sender.close()

    def __repr__(self) -> str:
        return f"KafkaExporter({self.settings.topic!r}, pending={self.pending})"
