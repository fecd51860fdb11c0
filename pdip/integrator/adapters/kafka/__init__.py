"""Kafka topics through confluent-kafka: `topics` (sources and targets of rows and change logs),
`settings` (a connection's settings, from `pdip.messaging.kafka`)."""

__all__: list[str] = []  # its modules are imported by their own names
