"""Errors of the messaging clients: settings that name the key at fault, deliveries the broker refused."""

from __future__ import annotations

from pdip.dependency.errors import PdiConfigurationError


class KafkaSettingsError(PdiConfigurationError):
    """Kafka settings cannot be used: `problems` has one line per key, each naming the key and
    what was expected. The integrator reports these as an `OperationError` of its connection."""


class KafkaDeliveryError(RuntimeError):
    """The broker did not confirm messages: the batch is not durable and its checkpoint not saved."""
