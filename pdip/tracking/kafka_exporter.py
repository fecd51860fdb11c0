"""`KafkaExporter`: tracked containers' change-log entries to a Kafka topic, in batches.

    exporter = KafkaExporter({"bootstrap_servers": "broker:9092", "topic": "cart-changes"})
    cart = TrackedDict({}, name="cart", observers=[exporter])

The settings are a Kafka connection's (`pdip.integrator.adapters.kafka_settings`: servers,
security, `compression`, `options`), so an application configures one client for the
integrator and its exporters alike. Each entry is `entry.to_json()` keyed by entity and key,
like the integrator's change-log target writes it, so a topic fed by containers can be applied
by `mode: changes`. `flush()` waits until the broker confirmed every entry sent and raises
`KafkaDeliveryError` otherwise; the entries then wait for the next flush (see
`BatchingExporter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.exporters import BatchingExporter


class KafkaExporter(BatchingExporter):
    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        batch_size: int = 500,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
    ):
        super().__init__(batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority)
        from pdip.integrator.adapters.kafka_settings import ConfirmedDelivery, kafka_settings

        self.settings = kafka_settings(settings, "kafka exporter", "target")
        self._delivery = ConfirmedDelivery(self.settings)

    def _write(self, batch: list[ChangeLogEntry]) -> None:
        from pdip.integrator.changes import message_key

        producer = self._delivery._ready()
        topic = self.settings.topic
        for entry in batch:
            value, key = entry.to_json().encode(), message_key(entry)
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:  # the client's queue is full: let it send, then try again
                    producer.poll(0.05)
        self._confirm()

    def _confirm(self) -> None:
        """Wait for the broker; a failure raises so the entries stay pending for the next flush."""
        from pdip.integrator.adapters.kafka import KafkaDeliveryError

        failures, waiting = self._delivery._settle()
        if failures or waiting:
            reason = failures[0] if failures else f"{waiting} not confirmed in time"
            raise KafkaDeliveryError(f"{len(failures) or waiting} change-log entries were not delivered: {reason}")

    def _release(self) -> None:
        self._delivery._producer = None

    def __repr__(self) -> str:
        return f"KafkaExporter({self.settings.topic!r}, pending={self.pending})"
