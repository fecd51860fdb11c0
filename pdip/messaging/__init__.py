"""Messaging: clients shared by the integrator and the tracking exporters (Kafka: settings, send,
delivery confirmation). Nothing here imports the integrator or tracking."""

from pdip.messaging.errors import KafkaDeliveryError, KafkaSettingsError
from pdip.messaging.kafka import KafkaSender, KafkaSettings, kafka_settings

__all__ = ["KafkaDeliveryError", "KafkaSender", "KafkaSettings", "KafkaSettingsError", "kafka_settings"]
