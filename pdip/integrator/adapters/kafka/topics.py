"""Kafka topics as source and target, for rows and for change logs (`mode: changes`).

    source: {kind: kafka, bootstrap_servers: "broker:9092", topic: orders, group: replica}
    target: {kind: kafka, bootstrap_servers: "broker:9092", topic: orders, key: [id]}

A row is a JSON object per message; a change-log entry is `ChangeLogEntry.to_json()` (with its
schema version), keyed by entity and key so one row's changes share a partition and stay in
order. Settings are declared in `pdip.messaging.kafka`.

Reading: the consumer group's committed offsets say where to start (`start: earliest` or
`latest` ignore them; a partition without any starts at the earliest offset). A position is
the next offset of every partition read so far (`{"orders": {"0": 120, "1": 98}}`); a resumed
read starts there, ahead of the group's offsets, because a target that stores positions
with its rows knows better. The source commits offsets only in `acknowledge`, once the target
has made the batch durable (at-least-once). Unless it follows (`pdip run --follow`), a read
stops when every partition it reads has reported its end (the consumer's end-of-partition
event, which reflects what the fetch saw; a topic's reported high watermarks are not trusted).
A member that loses its partitions (a broker outage longer than its session) is not done: it
waits to get them back, goes on from where it had read them, and fails once it has waited
longer than `max.poll.interval.ms`.

Split by `partitions(request, count)`, each reader is assigned its own partitions; otherwise
the source subscribes with its group, so several `pdip run` processes share the partitions.

Writing: an idempotent producer (no duplicates or reordering from its retries), compressed;
`commit()` waits until the broker confirmed every message, and fails the batch, before its
checkpoint, if any was not.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pdip.conversion import json_bytes, json_default
from pdip.conversion.tagged import read_json
from pdip.integrator.adapters.base import Adapter, Capabilities, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.kafka.settings import SETTINGS, KafkaSettings, kafka_settings
from pdip.integrator.batch import Batch, MessageOffsets
from pdip.integrator.changes import batch_entries, entries_batch, entries_from_json, message_key, refused_rows
from pdip.integrator.errors import KafkaAssignmentError, OperationError
from pdip.messaging.errors import KafkaDeliveryError as KafkaDeliveryError  # raised by commit(); named here too
from pdip.messaging.kafka import KafkaSender, passing
from pdip.tracking.entry import ChangeLogEntry

LOGGER = logging.getLogger("pdip.integrator.kafka")
KINDS = ("kafka",)
MAX_POLL_INTERVAL_MS = 300_000  # librdkafka's default


def _label(connection) -> str:
    return f"kafka connection {connection.name!r}" if connection.name else "kafka connection"


# -- reading ------------------------------------------------------------------------------------


def passes(error: BaseException) -> bool:
    """Whether a Kafka error passes (docs/adr/0029): a broker away or slow to confirm, a client
    error the broker calls retriable, a group left without partitions; a message the broker
    refuses for good (too large, not authorized) does not."""
    from confluent_kafka import KafkaException

    if isinstance(error, KafkaException) and error.args and hasattr(error.args[0], "retriable"):
        return passing(error.args[0])
    return isinstance(error, KafkaAssignmentError) or (isinstance(error, KafkaDeliveryError) and error.transient)


class KafkaSource(Source):
    transient = staticmethod(passes)
    """Rows: each message a JSON object. Subclassed for change-log entries."""

    resumes_between_runs = True  # a topic is a stream: every run goes on from the group's offsets

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.settings: KafkaSettings = kafka_settings(connection.settings, _label(connection), "source")
        self._consumer: Any = None
        self._assigned: set[tuple[str, int]] = set()
        self._offsets: dict[tuple[str, int], int] = {}
        self._columns: list[str] | None = None
        self._joined = False  # True once partitions are assigned (a group join takes a while)
        self._unassigned_since: float | None = None  # a bounded read waits for partitions only so long
        # Where this run had read a partition when a rebalance took it: if it comes back (the
        # group lost this member during a broker outage, say), reading goes on from there.
        self._released: dict[tuple[str, int], int] = {}
        self._awaited_topics: set[str] = set()  # topics a follower was told are not there (yet)

    # -- splitting and positions --

    def partitions(self, request: ReadRequest, count: int) -> list[ReadRequest]:
        """Up to `count` readers, each assigned every count-th partition of the topics."""
        if count <= 1:
            return [request]
        from confluent_kafka import Consumer

        client = Consumer(self.settings.consumer_config(partition_eof=False))  # the options are a consumer's
        try:
            every = self._topic_partitions(client)
        finally:
            client.close()
        groups = [every[index::count] for index in range(min(count, len(every)))]
        return [
            dataclasses.replace(request, partition=_partition_name(group), bounds=[list(item) for item in group])
            for group in groups
        ]

    def _topic_partitions(self, client: Any) -> list[tuple[str, int]]:
        """Every (topic, partition) read; a topic that does not exist is named."""
        metadata = client.list_topics(timeout=30)
        every = []
        for topic in self.settings.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise OperationError(f"{_label(self.connection)}: topic {topic!r} does not exist")
            every.extend((topic, number) for number in sorted(found.partitions))
        return every

    def acknowledge(self, position: Any) -> None:
        """Commit the group's offsets up to `position` (what the target has made durable)."""
        if self._consumer is None or not position:
            return
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [
            TopicPartition(topic, int(number), int(offset))
            for topic, partitions in position.items()
            for number, offset in partitions.items()
            if (topic, int(number)) in self._assigned
        ]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:  # a rebalance took the partition: the next owner re-reads
            LOGGER.warning("kafka: offsets not committed for group %s: %s", self.settings.group, error)

    # -- reading --

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        from confluent_kafka import Consumer

        self._consumer = consumer = Consumer(self.settings.consumer_config(partition_eof=not request.follow))
        if not request.follow:  # a bounded read of a topic that is not there would end at once, reading nothing
            self._topic_partitions(consumer)
        resume = _offsets_of(request.resume)
        if request.bounds:
            self._assign(consumer, [(topic, int(number)) for topic, number in request.bounds], resume)
        else:
            self._subscribe(consumer, resume)
        yield from self._batches(consumer, request)

    def _assign(self, consumer: Any, partitions: list[tuple[str, int]], resume: dict) -> None:
        from confluent_kafka import TopicPartition

        committed = {}
        if self.settings.start == "committed":
            wanted = [TopicPartition(topic, number) for topic, number in partitions]
            committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(wanted, timeout=30)}
        assigned = [
            TopicPartition(topic, number, self._start_offset((topic, number), resume, committed))
            for topic, number in partitions
        ]
        consumer.assign(assigned)
        self._assigned = set(partitions)
        self._joined = True

    def _start_offset(self, partition: tuple[str, int], resume: dict, committed: Mapping) -> int:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        if partition in self._offsets:  # read earlier in this run (a rebalance gave it back)
            return self._offsets[partition]
        if partition in resume:
            return resume[partition]
        if self.settings.start == "earliest":
            return OFFSET_BEGINNING
        if self.settings.start == "latest":
            return OFFSET_END
        offset = committed.get(partition, -1001)
        return offset if offset >= 0 else OFFSET_BEGINNING

    def _subscribe(self, consumer: Any, resume: dict) -> None:
        def on_assign(client: Any, partitions: list) -> None:
            # A partition handed over by a rebalance may have moved on since this run was planned
            # (or since this member last read it): another member applied and committed more of
            # it. Its group offset, committed only after the target made the batch durable, is
            # then the later (and still safe) start. Otherwise the run goes on where it was: the
            # group's offsets lag behind it when commits failed (a broker restart).
            earlier = {**resume, **self._released}
            handed_over = [tp for tp in partitions if (tp.topic, tp.partition) in earlier]
            committed = {}
            if handed_over and self.settings.start == "committed":
                committed = {(tp.topic, tp.partition): tp.offset for tp in client.committed(handed_over, timeout=30)}
            for tp in partitions:
                place = (tp.topic, tp.partition)
                if place in self._offsets or place in earlier or self.settings.start != "committed":
                    tp.offset = self._start_offset(place, earlier, {})
                    if committed.get(place, -1) > tp.offset >= 0:  # negative offsets are symbolic
                        tp.offset = committed[place]
            client.assign(partitions)
            self._assigned = {(tp.topic, tp.partition) for tp in partitions}
            self._joined = True
            self._unassigned_since = None

        def on_revoke(client: Any, partitions: list) -> None:
            self._assigned -= {(tp.topic, tp.partition) for tp in partitions}
            for tp in partitions:
                place = (tp.topic, tp.partition)
                if place in self._offsets:
                    self._released[place] = self._offsets.pop(place)
            client.unassign()
            if not self._assigned:  # nothing assigned is not "every assigned partition ended": wait
                self._joined = False
                self._unassigned_since = time.monotonic()

        self._unassigned_since = time.monotonic()

        consumer.subscribe(list(self.settings.topics), on_assign=on_assign, on_revoke=on_revoke)

    def _batches(self, consumer: Any, request: ReadRequest) -> Iterator[Batch]:
        """Batches of up to `batch_size` messages. What the fetch queue holds is taken at once,
        and a batch goes out when it is full, when every partition has ended, or as soon as
        the queue holds nothing more: a message that trickles in is handed over at once, and
        a busy topic fills batches anyway (the fetcher refills the queue while the target
        writes). Only with nothing in hand does the read wait, for the next message or a
        partition's end, up to `poll_timeout`."""
        ended: set[tuple[str, int]] = set()
        items: list[Any] = []
        rejected: list[tuple[dict[str, Any], str]] = []
        origins = self._origins()
        size, timeout = request.batch_size, self.settings.poll_timeout
        while True:
            wanted = max(1, size - len(items) - len(rejected))
            messages = consumer.consume(num_messages=wanted, timeout=0)
            if not messages and not (items or rejected):  # a batch call would wait for all `wanted`
                messages = consumer.consume(num_messages=1, timeout=timeout)
            if messages:
                self._take(messages, request, items, rejected, ended, origins)
            finished = not request.follow and self._joined and self._assigned.issubset(ended)
            if not request.follow and not self._joined:
                self._check_assignment_wait()
            if (items or rejected) and (not messages or finished or len(items) + len(rejected) >= size):
                yield self._batch(items, rejected, self._position(), origins)
                items, rejected, origins = [], [], self._origins()
            if finished:
                return

    def _origins(self) -> MessageOffsets:
        """Where the rows of the next batch are read: one topic (not a `^` pattern, which
        matches several) is named once for them all."""
        topics = self.settings.topics
        return MessageOffsets(topics[0] if len(topics) == 1 and not topics[0].startswith("^") else None)

    def _take(
        self, messages: list, request: ReadRequest, items: list, rejected: list, ended: set, origins: MessageOffsets
    ) -> None:
        """Decode what one `consume` returned into `items` (or `rejected`) and note where each
        row was read in `origins`, where each partition stands and which have reported their
        end. This runs for every message, so a list of plain messages (the usual one) is taken
        as a whole: each partition's position is its last message's, and the values are
        decoded together."""
        read = [message for message in messages if message.error() is None]
        if ended or len(read) < len(messages):  # ends of partitions, errors: message by message
            self._take_each(messages, request, items, rejected, ended, origins)
            return
        offsets, seen, assigned = self._offsets, set(), self._assigned
        for message in reversed(read):
            place = (message.topic(), message.partition())
            if place not in seen:
                seen.add(place)
                offsets[place] = message.offset() + 1
                if assigned and assigned <= seen:
                    break
        _note(origins, self._decode_all(read, request, items, rejected))

    def _take_each(
        self, messages: list, request: ReadRequest, items: list, rejected: list, ended: set, origins: MessageOffsets
    ) -> None:
        from confluent_kafka import KafkaError, KafkaException

        for message in messages:
            error = message.error()
            place = (message.topic(), message.partition())
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ended.add(place)
                    continue
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and request.follow:
                    self._wait_for_topic(message.topic() or ", ".join(self.settings.topics))
                    continue
                if error.fatal() or not error.retriable():
                    raise KafkaException(error)
                continue
            ended.discard(place)
            self._offsets[place] = message.offset() + 1
            _note(origins, self._decode_all([message], request, items, rejected))

    def _wait_for_topic(self, topic: str) -> None:
        """A follower started before its topic exists (an applier before the relay that creates
        it) keeps following: the client looks for the topic again at each metadata refresh."""
        if topic not in self._awaited_topics:
            self._awaited_topics.add(topic)
            LOGGER.warning("%s: waiting for topic %r, which does not exist yet", _label(self.connection), topic)

    def _check_assignment_wait(self) -> None:
        """Fail a bounded read that has waited for partitions longer than a group waits for a
        member (`max.poll.interval.ms`): a broker gone for good must not end it as if finished."""
        if self._unassigned_since is None:
            return
        limit = float(self.settings.client.get("max.poll.interval.ms", MAX_POLL_INTERVAL_MS)) / 1000
        waited = time.monotonic() - self._unassigned_since
        if waited > limit:
            raise KafkaAssignmentError(
                f"{_label(self.connection)}: no partition of {', '.join(self.settings.topics)} assigned to group "
                f"{self.settings.group} for {waited:.0f}s (max.poll.interval.ms): the broker or its group "
                "coordinator does not answer"
            )

    def _position(self) -> dict[str, dict[str, int]]:
        position: dict[str, dict[str, int]] = {}
        for (topic, number), offset in sorted(self._offsets.items()):
            if (topic, number) in self._assigned:
                position.setdefault(topic, {})[str(number)] = offset
        return position

    def _decode_all(self, messages: list, request: ReadRequest, rows: list, rejected: list) -> list:
        """Decode `messages` into `rows` (or `rejected`); returns the messages that made rows."""
        refused = len(rejected)
        for message in messages:
            self._decode(message, request, rows, rejected)
        if len(rejected) == refused:
            return messages
        places = {(held["topic"], held["partition"], held["offset"]) for held, _ in rejected[refused:]}
        return [
            message for message in messages if (message.topic(), message.partition(), message.offset()) not in places
        ]

    def _decode(self, message: Any, request: ReadRequest, rows: list, rejected: list) -> None:
        value = message.value()
        if value is None:
            rejected.append((_held(message), f"{_where(message)}: a tombstone (no value) is not a row"))
            return
        try:
            record = read_json(value)
        except ValueError as error:
            rejected.append((_held(message), f"{_where(message)}: not valid JSON: {getattr(error, 'msg', error)}"))
            return
        if not isinstance(record, dict):
            rejected.append((_held(message), f"{_where(message)}: expected a JSON object, got {type(record).__name__}"))
            return
        if self._columns is None:
            self._columns = list(request.columns) if request.columns else list(record)
        if not request.columns and not set(self._columns).issuperset(record):
            extra = ", ".join(repr(name) for name in record if name not in self._columns)
            rejected.append(
                (
                    _held(message),
                    f"{_where(message)}: unexpected field {extra}: the columns come from the first message",
                )
            )
            return
        rows.append(tuple([record.get(column) for column in self._columns]))

    def _batch(self, items: list, rejected: list, position: Any, origins: MessageOffsets) -> Batch:
        return Batch(
            self._columns or [],
            items,
            position=position,
            rejected=rejected,
            rejected_at=_places(rejected),
            origins=origins,
        )

    def describe(self) -> str:
        return f"kafka:{','.join(self.settings.topics)} (group {self.settings.group})"

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()


class KafkaChangesSource(KafkaSource):
    """Change-log entries; a message that is not one (not JSON, a future schema version) is
    rejected with the reason. Tombstones are skipped: they follow a delete entry to let a
    compacted topic forget the key, and the delete entry already carries the change."""

    def _decode_all(self, messages: list, request: ReadRequest, entries: list, rejected: list) -> list:
        values = [message.value() for message in messages]
        if None in values:
            messages = [message for message, value in zip(messages, values, strict=True) if value is not None]
            values = [value for value in values if value is not None]
        decoded, refused = entries_from_json(values)
        entries.extend(decoded)
        for index, reason in refused:
            message = messages[index]
            rejected.append((_held(message), f"{_where(message)}: {reason}"))
        if not refused:
            return messages
        indexes = {index for index, _ in refused}
        return [message for index, message in enumerate(messages) if index not in indexes]

    def _batch(self, items: list, rejected: list, position: Any, origins: MessageOffsets) -> Batch:
        return entries_batch(items, position, rejected, _places(rejected), origins)


# -- writing ------------------------------------------------------------------------------------


class KafkaTarget(Target):
    """Rows as JSON objects, keyed by the `key` columns' values (none: no key)."""

    transient = staticmethod(passes)

    def __init__(self, connection, context):
        super().__init__(connection, context)
        self.settings: KafkaSettings = kafka_settings(connection.settings, _label(connection), "target")
        self.sender = KafkaSender(self.settings)

    def prepare(self, columns: Sequence[str], create: bool, truncate: bool) -> None:
        if truncate:
            raise OperationError(f"{_label(self.connection)}: a topic cannot be truncated; leave truncate_target unset")
        if create:
            self._create_topic()

    def _create_topic(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.settings.common())
        if self.settings.topic in admin.list_topics(timeout=30).topics:
            return
        config = {"cleanup.policy": "compact"} if self.settings.compacted else {}
        topic = NewTopic(
            self.settings.topic, num_partitions=self.settings.partitions, replication_factor=-1, config=config
        )
        for future in admin.create_topics([topic]).values():
            try:
                future.result()
            except Exception as error:  # created meanwhile by another writer is fine
                if "already exists" not in str(error).lower():
                    raise

    def write(self, batch: Batch) -> WriteResult:
        rejected: list[tuple[Any, str]] = []
        sent = self.sender.send(self.settings.topic, self._messages(batch, rejected))
        return WriteResult(sent, self._refused(batch, rejected))

    def _messages(self, batch: Batch, rejected: list[tuple[Any, str]]) -> Iterator[tuple[bytes | None, bytes | None]]:
        """The (key, value) messages of `batch`, made as the sender produces them (the producer
        copies each, so none is kept); a row that cannot be written goes to `rejected`."""
        columns = batch.columns
        positions = [columns.index(name) for name in self.settings.key if name in columns]
        if len(positions) != len(self.settings.key):
            missing = [name for name in self.settings.key if name not in columns]
            raise OperationError(f"{_label(self.connection)}: key: no column {', '.join(missing)} in the batch")
        key_of = _key_reader(positions)
        for row in batch.rows:
            try:
                value = json_bytes(dict(zip(columns, row, strict=False)))
            except (TypeError, ValueError) as error:
                rejected.append((row, f"cannot write the row as JSON: {error}"))
                continue
            yield key_of(row), value

    def _refused(self, batch: Batch, rejected: list[tuple[Any, str]]) -> list[tuple[tuple, str]]:
        """What `_messages` could not write, as the batch's rows with the reasons."""
        return rejected

    def commit(self) -> None:
        """Wait until the broker confirmed every message sent so far."""
        self.sender.confirm()

    def describe(self) -> str:
        return f"kafka:{self.settings.topic}"

    def close(self) -> None:
        self.sender.close()


class KafkaChangesTarget(KafkaTarget):
    """Change-log entries as JSON, keyed by entity and key; with `tombstones: true` a delete is
    followed by a tombstone (a message without a value) so a compacted topic forgets the key."""

    def _messages(self, batch: Batch, rejected: list[tuple[Any, str]]) -> Iterator[tuple[bytes | None, bytes | None]]:
        tombstones = self.settings.tombstones
        entries = batch_entries(batch)
        ChangeLogEntry.name_all(entries)  # one read of the random source for the batch, not one per entry
        for entry in entries:
            try:
                key, value = message_key(entry), entry.to_json_bytes()
            except (TypeError, ValueError) as error:
                rejected.append((entry, f"cannot write the entry as JSON: {error}"))
                continue
            yield key, value
            if tombstones and entry.action == "delete":
                yield key, None

    def _refused(self, batch: Batch, rejected: list[tuple[Any, str]]) -> list[tuple[tuple, str]]:
        return refused_rows(batch, rejected)

    def write(self, batch: Batch) -> WriteResult:
        result = super().write(batch)
        if self.settings.tombstones:  # count entries, not the tombstones sent with them
            result.written = len(batch) - len(result.rejected)
        return result


# -- helpers ------------------------------------------------------------------------------------


def _key_reader(positions: list[int]) -> Any:
    """The message key of a row: None without key columns; one column's value as text (ints
    and text, the usual keys, without going through JSON); several as a JSON array."""
    if len(positions) == 1:
        index = positions[0]

        def single(row: tuple) -> bytes | None:
            value = row[index]
            kind = type(value)
            if kind is int:
                return str(value).encode()
            return value.encode() if kind is str else _row_key([value])

        return single
    return lambda row: _row_key([row[index] for index in positions])


_KEY_DUMPS = json.JSONEncoder(separators=(",", ":"), default=json_default).encode


def _row_key(values: list[Any]) -> bytes | None:
    if not values:
        return None
    if len(values) == 1:
        value = values[0]
        return value.encode() if isinstance(value, str) else _KEY_DUMPS(value).encode()
    return _KEY_DUMPS(values).encode()


def _offsets_of(position: Any) -> dict[tuple[str, int], int]:
    """{(topic, partition): next offset} from a stored position."""
    if not isinstance(position, Mapping):
        return {}
    return {
        (str(topic), int(number)): int(offset)
        for topic, partitions in position.items()
        if isinstance(partitions, Mapping)
        for number, offset in partitions.items()
    }


def _partition_name(group: list[tuple[str, int]]) -> str:
    by_topic: dict[str, list[str]] = {}
    for topic, number in group:
        by_topic.setdefault(topic, []).append(str(number))
    return ";".join(f"{topic}:{','.join(numbers)}" for topic, numbers in by_topic.items())


def _note(origins: MessageOffsets, messages: list) -> None:
    """Add where `messages` (the ones that made rows, in order) were read to `origins`: a map
    of the client's own methods over a `consume`'s list, a few ns a message."""
    from confluent_kafka import Message

    if origins.topic is None:
        origins.topics.extend(map(Message.topic, messages))
    origins.partitions.extend(map(Message.partition, messages))
    origins.offsets.extend(map(Message.offset, messages))


def _places(rejected: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]] | None:
    """Where each message the source refused was read (its `_held` names it)."""
    if not rejected:
        return None
    return [{"topic": held["topic"], "partition": held["partition"], "offset": held["offset"]} for held, _ in rejected]


def _where(message: Any) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


def _held(message: Any) -> dict[str, Any]:
    """What a refused message held, for its dead letter (text where it decodes, else bytes)."""
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": _text(message.key()),
        "value": _text(message.value()),
    }


def _text(value: bytes | None) -> str | bytes | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


CAPABILITIES = Capabilities(partitioned_read=True)
ADAPTERS = (
    Adapter(KINDS, KafkaSource, KafkaTarget, CAPABILITIES, settings=SETTINGS),
    Adapter(KINDS, KafkaChangesSource, KafkaChangesTarget, CAPABILITIES, mode="changes", settings=SETTINGS),
)
