"""Errors of the messaging clients: settings that name the key at fault, deliveries the broker refused."""

from __future__ import annotations

from pdip.dependency.errors import PdiConfigurationError


class KafkaSettingsError(PdiConfigurationError):
    """Kafka settings cannot be used: `problems` has one line per key, each naming the key and
    what was expected. The integrator reports these as an `OperationError` of its connection."""


class KafkaDeliveryError(RuntimeError):
    """The broker did not confirm messages: the batch is not durable and its checkpoint not saved.
    `transient`: every message failed for a passing reason (the broker away, a time-out), so
    sending them again later may work; False when the broker refused one for good (too large)."""

    def __init__(self, message: str, transient: bool = False):
        self.transient = transient
        super().__init__(message)
