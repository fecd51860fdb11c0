"""Change-log batches, what applying entries by key means, and the memory and JSON Lines
change-log adapters."""

import datetime as dt
import json
import pickle
import sqlite3
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.changes import JsonLinesChangesSource, JsonLinesChangesTarget
from pdip.integrator.adapters.memory import MemoryStores
from pdip.integrator.adapters.memory_changes import MemoryChangesSource, MemoryChangesTarget
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.adapters.sql.changes import SqlApplyTarget
from pdip.integrator.base import Integrator
from pdip.integrator.batch import Batch
from pdip.integrator.changes import (
    NetChange,
    SoftDelete,
    batch_entries,
    entries_batch,
    entries_from_json,
    entry_from_json,
    key_of,
    message_key,
    net_changes,
)
from pdip.integrator.errors import OperationError
from pdip.integrator.events import BatchWritten
from pdip.integrator.results import RunContext
from pdip.tracking import ChangeLogEntry, TrackedDict


def insert(key, **after):
    return ChangeLogEntry("insert", entity="t", key=key, after={"id": key, **after}, id=f"i{key}")


def update(key, **after):
    return ChangeLogEntry("update", entity="t", key=key, after=after)


def delete(key):
    return ChangeLogEntry("delete", entity="t", key=key)


class ChangeBatchTest(unittest.TestCase):
    def test_a_change_batch_has_one_entry_column_and_gives_its_entries_back(self):
        entries = [insert(1), delete(1)]
        batch = entries_batch(entries, position=7)
        self.assertEqual((batch.columns, batch.position, len(batch)), (["entry"], 7, 2))
        self.assertEqual(batch_entries(batch), entries)
        with self.assertRaisesRegex(ValueError, "one column 'entry'; got id"):
            batch_entries(Batch(["id"], [(1,)]))

    def test_a_batch_of_entries_survives_pickling_for_the_reader_process(self):
        batch = entries_batch([insert(1, name="a")], position=3)
        copy = pickle.loads(pickle.dumps(batch))
        self.assertEqual(batch_entries(copy), batch_entries(batch))

    def test_the_message_key_is_entity_and_key_as_compact_json(self):
        self.assertEqual(message_key(insert(42)), b'["t",42]')
        self.assertEqual(
            message_key(ChangeLogEntry("delete", entity="t", key={"a": 1, "b": "x"})), b'["t",{"a":1,"b":"x"}]'
        )

    def test_entry_from_json_names_what_is_wrong(self):
        entry = insert(1)
        self.assertEqual(entry_from_json(entry.to_json()), entry)
        cases = {
            b"{nope": "not valid JSON: Expecting property name enclosed in double quotes",
            b"\xff\xfe\xfd": "not valid JSON",
            "[1]": "not a change-log entry: expected a JSON object, got list",
            "{}": "not a change-log entry: no 'action'",
            '{"action": "insert", "extra": 5}': "not a change-log entry",
            '{"schema_version": 2, "action": "insert"}': "schema_version 2 is not supported",
        }
        for text, reason in cases.items():
            with self.subTest(text=text), self.assertRaisesRegex(ValueError, reason.replace("(", "\\(")):
                entry_from_json(text)

    def test_a_batch_of_texts_gives_its_entries_and_the_place_and_reason_of_each_refused_one(self):
        first, second = insert(1), update(1, name="b")
        texts = [first.to_json().encode(), b"{nope", second.to_json().encode(), b'{"action": 5}']
        entries, refused = entries_from_json(texts)
        self.assertEqual(entries, [first, second])
        self.assertEqual([index for index, _ in refused], [1, 3])
        self.assertRegex(refused[0][1], "^not valid JSON: Expecting property name")
        self.assertRegex(refused[1][1], "^action must be one of .*; got 5$")

    def test_entries_written_by_other_producers_keep_large_numbers_and_their_times(self):
        text = (
            '{"action": "update", "key": 123456789012345678901, "after": {"n": 1180591620717411303424, "x": 1.5},'
            ' "timestamp": "2026-11-23T10:00:00+02:00", "sequence": 99999999999999999999}'
        )
        entry = entry_from_json(text)
        self.assertEqual(
            (entry.key, entry.after, entry.sequence), (123456789012345678901, {"n": 2**70, "x": 1.5}, 10**20 - 1)
        )
        self.assertEqual(entry.timestamp, dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc))
        self.assertEqual(entry.epoch, dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc).timestamp())
        self.assertEqual(pickle.loads(pickle.dumps(entry)), entry)
        self.assertEqual(entry_from_json('{"action": "insert", "timestamp": "2026-11-23T10:00:00"}').timestamp.hour, 10)
        self.assertEqual(entry_from_json('{"action": "insert", "after": {"s": "\ud800"}}').after, {"s": "\ud800"})
        with self.assertRaisesRegex(ValueError, "Invalid isoformat string"):
            entry_from_json('{"action": "insert", "timestamp": "yesterday"}')


class KeyTest(unittest.TestCase):
    def test_the_key_comes_from_the_entry_key_or_its_row(self):
        self.assertEqual(key_of(insert(3), ["id"]), (3,))
        self.assertEqual(key_of(ChangeLogEntry("update", key=[1, "x"]), ["a", "b"]), (1, "x"))
        self.assertEqual(key_of(ChangeLogEntry("update", key={"a": 1, "b": 2}), ["b", "a"]), (2, 1))
        self.assertEqual(key_of(ChangeLogEntry("update", key={"a": 1}, after={"a": 1, "b": 5}), ["a", "b"]), (1, 5))
        self.assertEqual(key_of(ChangeLogEntry("delete", before={"id": 9}), ["id"]), (9,))
        with self.assertRaisesRegex(ValueError, "the key \\[1\\] has 1 values; the key columns are a, b"):
            key_of(ChangeLogEntry("update", key=[1]), ["a", "b"])
        with self.assertRaisesRegex(ValueError, "no key: the entry's key is None"):
            key_of(ChangeLogEntry("update", after={"x": 1}), ["id"])


class NetChangesTest(unittest.TestCase):
    def fold(self, entries, soft=None):
        changes, refused = net_changes(entries, ["id"], soft)
        return [(change.key, change.remove, change.values, len(change.entries)) for change in changes], refused

    def test_one_net_change_per_key_in_order_of_first_appearance(self):
        changes, refused = self.fold([insert(1, a=1), insert(2), update(1, a=2, b=3), update(1, a=4)])
        self.assertEqual(changes, [((1,), False, {"id": 1, "a": 4, "b": 3}, 3), ((2,), False, {"id": 2}, 1)])
        self.assertEqual(refused, [])

    def test_an_update_without_values_writes_only_the_key(self):
        self.assertEqual(
            repr(NetChange((4,), values={"id": 4})), "NetChange((4,), remove=False, values={'id': 4}, entries=0)"
        )
        changes, _ = net_changes([ChangeLogEntry("update", key=4)], ["id"])
        self.assertEqual(repr(changes[0]), "NetChange((4,), remove=False, values={'id': 4}, entries=1)")

    def test_a_change_is_partial_until_an_insert_gives_the_whole_row(self):
        soft = SoftDelete("gone", lambda entry: True)
        cases = [
            ([update(1, a=1)], None, True),
            ([update(1, a=1), delete(1)], soft, True),
            ([insert(1, a=1), update(1, b=2)], None, False),
            ([update(1, a=1), insert(1, a=2)], None, False),
            ([insert(1, a=1), delete(1), update(1, b=2)], None, True),
            ([delete(1), insert(1, a=2), update(1, b=3)], None, False),
        ]
        for entries, soft_delete, partial in cases:
            with self.subTest(entries=entries):
                changes, _ = net_changes(entries, ["id"], soft_delete)
                self.assertEqual(changes[0].partial, partial)

    def test_a_delete_removes_and_a_later_insert_writes_afresh(self):
        changes, _ = self.fold([insert(1, a=1), delete(1)])
        self.assertEqual(changes, [((1,), True, None, 2)])
        changes, _ = self.fold([delete(1), insert(1, b=2)])
        self.assertEqual(changes, [((1,), True, {"id": 1, "b": 2}, 2)])

    def test_a_soft_delete_writes_its_column_and_an_insert_clears_it(self):
        soft = SoftDelete("gone", lambda entry: True)
        changes, _ = self.fold([insert(1, a=1), delete(1)], soft)
        self.assertEqual(changes, [((1,), False, {"id": 1, "a": 1, "gone": True}, 2)])
        changes, _ = self.fold([delete(1), insert(1, a=2)], soft)
        self.assertEqual(changes, [((1,), False, {"id": 1, "gone": None, "a": 2}, 2)])

    def test_entries_that_cannot_be_applied_are_refused_with_the_reason(self):
        append = ChangeLogEntry("append", key=1, path="[0:1]", after=[1])
        odd = ChangeLogEntry("update", key=2, after=[1, 2])
        changes, refused = self.fold([append, odd, insert(3)])
        self.assertEqual([change[0] for change in changes], [(3,)])
        self.assertEqual(
            [reason for _, reason in refused],
            [
                "action 'append' changes a place inside a container; a keyed store applies insert, update, delete",
                "update without a row: `after` is list, not a mapping",
            ],
        )


class MemoryChangesTest(unittest.TestCase):
    def test_a_tracked_container_s_history_is_a_source_and_resumes_after_a_position(self):
        context = RunContext(MemoryStores(), "test")
        cart = TrackedDict({"a": 1}, name="cart")
        cart["a"] = 2
        cart["b"] = 3
        del cart["a"]
        context.stores["cart"] = cart
        source = MemoryChangesSource(Connection("memory", {"store": "cart"}), context)
        batches = list(source.read(ReadRequest(2)))
        self.assertEqual([batch.position for batch in batches], [2, 3])
        self.assertEqual(
            [entry.action for batch in batches for entry in batch_entries(batch)], ["set", "set", "delete"]
        )
        resumed = list(source.read(ReadRequest(10, resume=2)))
        self.assertEqual([entry.action for entry in batch_entries(resumed[0])], ["delete"])
        self.assertEqual(source.describe(), "memory:cart (changes)")

    def test_a_list_of_entries_or_their_dicts_is_a_source_and_anything_else_is_named(self):
        context = RunContext(MemoryStores(), "test")
        context.stores["log"] = [insert(1), insert(2).to_dict()]
        source = MemoryChangesSource(Connection("memory", {"store": "log"}), context)
        self.assertEqual([entry.key for entry in batch_entries(next(source.read(ReadRequest(10))))], [1, 2])
        context.stores["log"] = [insert(1), 5]
        with self.assertRaisesRegex(
            OperationError, r"memory store 'log'\[1\]: expected a ChangeLogEntry or its dict, got int"
        ):
            list(source.read(ReadRequest(10)))
        with self.assertRaisesRegex(OperationError, "memory store 'nope' does not exist \\(known: log\\)"):
            list(MemoryChangesSource(Connection("memory", {"store": "nope"}), context).read(ReadRequest(10)))

    def test_a_target_without_key_keeps_the_entries(self):
        context = RunContext(MemoryStores(), "test")
        target = MemoryChangesTarget(Connection("memory", {"store": "copy"}), context)
        target.prepare(["entry"], create=False, truncate=False)
        self.assertEqual(target.write(entries_batch([insert(1), delete(1)])).written, 2)
        self.assertEqual([entry.action for entry in context.stores["copy"]], ["insert", "delete"])
        self.assertEqual(target.describe(), "memory:copy (changes)")

    def test_a_target_with_a_key_is_a_replica_that_applies_the_entries(self):
        context = RunContext(MemoryStores(), "test")
        target = MemoryChangesTarget(Connection("memory", {"store": "replica", "key": "id"}), context)
        target.prepare(["entry"], create=False, truncate=False)
        target.write(entries_batch([insert(1, name="a"), insert(2, name="b"), update(1, name="c")]))
        result = target.write(entries_batch([delete(2), insert(4)]))
        self.assertEqual(context.stores["replica"], [{"id": 1, "name": "c"}, {"id": 4}])
        # a clear (a captured TRUNCATE) empties the replica; what came before it in the batch is moot
        result = target.write(entries_batch([delete(1), ChangeLogEntry("clear", entity="t"), insert(3)]))
        self.assertEqual(context.stores["replica"], [{"id": 3}])
        self.assertEqual((result.written, result.rejected), (3, []))
        target.prepare(["entry"], create=False, truncate=True)
        self.assertEqual(context.stores["replica"], [])

    def test_a_replica_refuses_an_update_of_a_row_it_does_not_hold_as_the_sql_replica_does(self):
        context = RunContext(MemoryStores(), "test")
        target = MemoryChangesTarget(Connection("memory", {"store": "replica", "key": "id"}), context)
        target.prepare(["entry"], create=False, truncate=False)
        result = target.write(entries_batch([insert(1, name="a"), update(2, name="b"), update(1, name="c")]))
        self.assertEqual(context.stores["replica"], [{"id": 1, "name": "c"}])
        self.assertEqual(result.written, 2)
        self.assertEqual(
            [reason for _, reason in result.rejected],
            [
                "update of a row memory store 'replica' does not have (id=2): the update carries only the "
                "columns it changed (name), not a whole row to insert"
            ],
        )
        removed_then_updated = target.write(entries_batch([delete(1), update(1, name="d")]))
        self.assertEqual((context.stores["replica"], removed_then_updated.written), ([], 1))

    def test_the_registry_finds_change_log_adapters_by_kind(self):
        registry = AdapterRegistry()
        for kind, module in [("memory", "memory_changes"), ("jsonl", "file.changes"), ("sqlite", "sql.changes")]:
            with self.subTest(kind=kind):
                adapter = registry.adapter(kind, "changes")
                self.assertEqual(
                    (adapter.mode, adapter.source.__module__), ("changes", f"pdip.integrator.adapters.{module}")
                )
        self.assertEqual(registry.adapter("kafka", "changes").source.__name__, "KafkaChangesSource")
        self.assertEqual(registry.adapter("kafka").source.__name__, "KafkaSource")


class JsonLinesChangesTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.context = RunContext(MemoryStores(), "test", self.root)

    def write(self, path, entries, truncate=False):
        target = JsonLinesChangesTarget(Connection("jsonl", {"path": path}), self.context)
        try:
            target.prepare(["entry"], create=False, truncate=truncate)
            result = target.write(entries_batch(entries))
            target.commit()
        finally:
            target.close()
        return result

    def test_a_target_appends_entries_as_json_lines_and_a_source_reads_them_back(self):
        self.write("audit/log.jsonl", [insert(1), update(1, a=2)])
        self.write("audit/log.jsonl", [delete(1)])
        lines = (self.root / "audit/log.jsonl").read_text().splitlines()
        self.assertEqual([json.loads(line)["action"] for line in lines], ["insert", "update", "delete"])
        source = JsonLinesChangesSource(Connection("jsonl", {"path": "audit"}), self.context)
        batches = list(source.read(ReadRequest(2)))
        self.assertEqual(
            [batch.position for batch in batches], [{"file": "log.jsonl", "line": 2}, {"file": "log.jsonl", "line": 3}]
        )
        self.assertEqual(
            [entry.action for batch in batches for entry in batch_entries(batch)], ["insert", "update", "delete"]
        )
        self.assertEqual(source.describe(), "jsonl:audit (changes)")
        self.write("audit/log.jsonl", [insert(5)], truncate=True)
        self.assertEqual(len((self.root / "audit/log.jsonl").read_text().splitlines()), 1)

    def test_a_resumed_read_starts_after_the_file_and_line_of_its_position(self):
        self.write("in/a.jsonl", [insert(1), insert(2)])
        self.write("in/b.jsonl", [insert(3), insert(4)])
        source = JsonLinesChangesSource(Connection("jsonl", {"path": "in/*.jsonl"}), self.context)
        resumed = list(source.read(ReadRequest(10, resume={"file": "b.jsonl", "line": 1})))
        self.assertEqual([entry.key for entry in batch_entries(resumed[0])], [4])

    def test_lines_that_are_not_entries_are_rejected_with_file_line_and_reason(self):
        path = self.root / "bad.jsonl"
        future = {**insert(2).to_dict(), "schema_version": 7}
        path.write_text(f"{insert(1).to_json()}\nnot json\n\n{json.dumps(future)}\n")
        source = JsonLinesChangesSource(Connection("jsonl", {"path": "bad.jsonl"}), self.context)
        (batch,) = list(source.read(ReadRequest(10)))
        self.assertEqual([entry.key for entry in batch_entries(batch)], [1])
        self.assertEqual(
            batch.rejected,
            [
                ({"line": "not json"}, "bad.jsonl:2: not valid JSON: Expecting value"),
                (
                    {"line": json.dumps(future)},
                    "bad.jsonl:4: change-log entry schema_version 7 is not supported (this pdip reads 1)",
                ),
            ],
        )

    def test_an_entry_that_is_not_json_is_refused_and_a_folder_is_not_a_target(self):
        strange = ChangeLogEntry("insert", key=1, after={"x": object()})
        result = self.write("out.jsonl", [strange, insert(2)])
        self.assertEqual((result.written, result.rejected[0][1][:30]), (1, "cannot write the entry as JSON"))
        (self.root / "folder").mkdir()
        target = JsonLinesChangesTarget(Connection("jsonl", {"path": "folder"}), self.context)
        with self.assertRaisesRegex(OperationError, "is a folder; a change-log target writes one file"):
            target.prepare(["entry"], create=False, truncate=False)
        target.close()

    def test_a_target_not_prepared_opens_its_file_on_the_first_write(self):
        target = JsonLinesChangesTarget(Connection("jsonl", {"path": "late.jsonl"}), self.context)
        target.write(entries_batch([insert(1)]))
        target.commit()
        target.close()
        target.close()
        self.assertEqual(len((self.root / "late.jsonl").read_text().splitlines()), 1)


class SqlReplicaBatchSizeTest(unittest.TestCase):
    def test_without_a_batch_size_a_sql_replica_applies_batches_of_50_000_entries(self):
        """A change-log SQL target folds each key's entries of a batch into one change, so it
        asks for larger batches than the default (`SqlApplyTarget.batch_rows`)."""
        count = 50_001
        log = [insert(0, n=0), *(update(index % 100, n=index) for index in range(1, count))]
        log[1:101] = [insert(index, n=index) for index in range(1, 101)]
        written = []
        with tempfile.TemporaryDirectory() as root, Pdi(root_directory=root) as pdi:
            database = Path(root) / "replica.db"
            with sqlite3.connect(database) as db:
                db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")
            replica = Connection("sqlite", {"database": str(database), "table": "t"})
            integrator = pdi.get(Integrator)
            integrator.stores["log"] = log
            integrator.subscribe(BatchWritten, written.append)
            changes = Integration("t", mode="changes", source=Connection("memory", {"store": "log"}), target=replica)
            result = integrator.integrate(Operation("replica", [changes], executor="inline"))
            with sqlite3.connect(database) as db:
                rows = db.execute("SELECT count(*), max(n) FROM t").fetchone()
        self.assertTrue(result.ok, result["t"].error)
        self.assertEqual(SqlApplyTarget.batch_rows, 50_000)
        self.assertEqual([event.rows for event in written], [50_000, 1])
        self.assertEqual(rows, (101, count - 1))


if __name__ == "__main__":
    unittest.main()
