"""What the Kafka tests share: a run context, unique topics, and reading a topic back."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from pdip.integrator import Connection
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.memory import MemoryStores

FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


class Context:
    def __init__(self, root: Path | None = None):
        self.stores = MemoryStores()
        self.execution_id = uuid.uuid4().hex
        self.root = root


def topic_name(prefix: str) -> str:
    return f"pdip-it-{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, compacted: bool = False) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    config = {"cleanup.policy": "compact"} if compacted else {}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1, config=config)]).values():
        future.result()
    return name


def kafka(bootstrap: str, topic: str, **settings) -> Connection:
    options = {**(FAST_GROUP if "group" in settings else {}), **settings.pop("options", {})}
    return Connection(
        "kafka", {"bootstrap_servers": bootstrap, "topic": topic, "poll_timeout": 0.3, "options": options, **settings}
    )


def read_all(source, batch_size: int = 1000, **request) -> list:
    """Every batch of a bounded read."""
    return list(source.read(ReadRequest(batch_size, **request)))


def raw_messages(bootstrap: str, topic: str) -> list:
    """(partition, key, value) of every message of `topic`, read without a group."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    from confluent_kafka.admin import AdminClient

    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "pdip-it-raw",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, number, 0) for number in partitions])
    ended, found = set(), []
    deadline = time.monotonic() + 30
    try:
        while len(ended) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition())
                    continue
                found.append((message.partition(), message.key(), message.value()))
    finally:
        consumer.close()
    return found
