"""A Kafka connection's settings, checked, as the integrator reports them.

    source: {kind: kafka, bootstrap_servers: "broker:9092", topic: orders, group: replica}
    target: {kind: kafka, bootstrap_servers: "broker:9092", topic: orders, key: [id], compression: zstd}

The settings and the client they make are `pdip.messaging.kafka`'s, shared with
`pdip.tracking.KafkaExporter`; this module names them for the adapter and reports a bad setting
as an `OperationError` of the connection, like every other adapter's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdip.integrator.errors import OperationError
from pdip.messaging import kafka as client
from pdip.messaging.errors import KafkaSettingsError
from pdip.messaging.kafka import CLIENT_OPTIONS, COMPRESSIONS, SETTINGS, STARTS, KafkaSender, KafkaSettings

__all__ = ["CLIENT_OPTIONS", "COMPRESSIONS", "SETTINGS", "STARTS", "KafkaSender", "KafkaSettings", "kafka_settings"]


def kafka_settings(settings: Mapping[str, Any], label: str, role: str) -> KafkaSettings:
    """The checked settings of a Kafka `role` ("source" or "target"); each problem names its key."""
    try:
        return client.kafka_settings(settings, label, role)
    except KafkaSettingsError as error:
        raise OperationError(str(error), error.problems) from None
