import json
import tempfile
import unittest
from pathlib import Path

from pdip.tracking import (
    CallbackObserver,
    ChangeCollector,
    JsonLinesExporter,
    KafkaExporter,
    ObserverConfigError,
    SqlExporter,
    TrackedDict,
    observers_from_config,
    read_json_lines,
)

SEEN = []


def remember(entry):
    SEEN.append(entry)


class ObserversFromConfigTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.root = Path(self.folder.name)
        SEEN.clear()

    def tearDown(self):
        self.folder.cleanup()

    def test_a_yaml_file_builds_each_kind_with_its_options(self):
        (self.root / "observers.yml").write_text(
            "- type: jsonl\n"
            "  path: out/changes.jsonl\n"
            "  batch_size: 2\n"
            "  fsync: false\n"
            "- type: collector\n"
            "  limit: 5\n"
            "  priority: 10\n"
            f"- type: callback\n  function: {__name__}:remember\n  actions: [set]\n"
            "- type: sql\n"
            f"  url: sqlite:///{self.root / 'changes.db'}\n"
            "  create_table: true\n"
        )
        jsonl, collector, callback, sql = observers_from_config(self.root / "observers.yml")
        self.assertIsInstance(jsonl, JsonLinesExporter)
        self.assertEqual((jsonl.path, jsonl.batch_size, jsonl.fsync), (self.root / "out/changes.jsonl", 2, False))
        self.assertIsInstance(collector, ChangeCollector)
        self.assertEqual((collector.limit, collector.priority), (5, 10))
        self.assertIsInstance(callback, CallbackObserver)
        self.assertIsInstance(sql, SqlExporter)
        cart = TrackedDict(observers=[jsonl, collector, callback, sql])
        self.assertIs(cart.tracker.observers[0], collector)
        cart["a"] = 1
        del cart["a"]
        jsonl.close()
        sql.close()
        self.assertEqual(len(list(read_json_lines(jsonl.path))), 2)
        self.assertEqual([e.action for e in SEEN], ["set"])
        self.assertEqual(len(collector), 2)

    def test_a_json_file_with_an_observers_key(self):
        path = self.root / "observers.json"
        path.write_text(json.dumps({"observers": [{"type": "collector"}]}))
        (collector,) = observers_from_config(str(path))
        self.assertEqual(collector.limit, 1000)

    def test_a_list_of_mappings_with_a_base_directory(self):
        (jsonl,) = observers_from_config([{"type": "jsonl", "path": "c.jsonl"}], base_directory=self.root)
        self.assertEqual(jsonl.path, self.root / "c.jsonl")
        (relative,) = observers_from_config([{"type": "jsonl", "path": "c.jsonl"}])
        self.assertEqual(relative.path, Path.cwd() / "c.jsonl")

    def test_a_callback_named_with_dots(self):
        (callback,) = observers_from_config([{"type": "callback", "function": f"{__name__}.remember"}])
        callback(TrackedDict().tracker.record("set", "k", "k", None, 1))
        self.assertEqual(len(SEEN), 1)

    def assertProblem(self, source, message, **options):
        with self.assertRaises(ObserverConfigError) as caught:
            observers_from_config(source, **options)
        self.assertEqual(str(caught.exception), message)
        return caught.exception

    def test_problems_name_the_file_the_observer_and_what_was_expected(self):
        path = self.root / "observers.yml"
        path.write_text("- type: collector\n- type: jsonl\n  path: x\n  batch_size: lots\n")
        error = self.assertProblem(path, f"{path}: observer 2 (jsonl): batch_size: expected int, got 'lots'")
        self.assertEqual((error.source, error.index, error.kind), (str(path), 2, "jsonl"))
        self.assertProblem([{"type": "jsonl"}], "observer 1 (jsonl): path: required (str)")
        self.assertProblem([{"type": "collector", "size": 3}], "observer 1 (collector): size: unknown field")
        self.assertProblem(
            [{"type": "collector", "limit": 0}],
            "observer 1 (collector): limit is a number of entries (1 or more) or None; got 0",
        )
        self.assertProblem(
            [{"type": "queue"}], "observer 1: type: expected one of callback, collector, jsonl, kafka, sql; got 'queue'"
        )
        self.assertProblem(["collector"], "observer 1: expected a mapping with a `type:`, got 'collector'")
        self.assertProblem(
            [{"type": "kafka", "topic": "changes"}],
            "observer 1 (kafka): bootstrap_servers: required (host:port, or several separated by commas)",
        )
        self.assertProblem(
            [{"type": "kafka", "bootstrap_servers": "b:9092", "topic": "t", "batch_size": "lots"}],
            "observer 1 (kafka): batch_size: expected int, got 'lots'",
        )
        with self.assertRaisesRegex(
            ObserverConfigError, r"^observer 1 \(kafka\): acks: unknown setting for kafka \(expected one of "
        ):
            observers_from_config([{"type": "kafka", "bootstrap_servers": "b:9092", "topic": "t", "acks": 1}])

    def test_a_kafka_exporter_from_configuration(self):
        (exporter,) = observers_from_config(
            [{"type": "kafka", "bootstrap_servers": "127.0.0.1:1", "topic": "carts", "batch_size": 50, "priority": 3}]
        )
        self.assertIsInstance(exporter, KafkaExporter)
        self.assertEqual(
            (exporter.settings.topic, exporter.settings.bootstrap_servers, exporter.batch_size, exporter.priority),
            ("carts", "127.0.0.1:1", 50, 3),
        )
        exporter.close()  # nothing waits: closes without a broker

    def test_callback_functions_that_cannot_be_found(self):
        self.assertProblem(
            [{"type": "callback", "function": "remember"}],
            "observer 1 (callback): function: expected 'package.module:name', got 'remember'",
        )
        error = self.assertProblem
        error(
            [{"type": "callback", "function": "no_such_module_here:f"}],
            "observer 1 (callback): function: cannot import 'no_such_module_here' "
            "(No module named 'no_such_module_here')",
        )
        error(
            [{"type": "callback", "function": f"{__name__}:missing"}],
            f"observer 1 (callback): function: {__name__} has no 'missing'",
        )

    def test_files_that_are_not_a_list_of_observers(self):
        missing = self.root / "missing.yml"
        with self.assertRaisesRegex(ObserverConfigError, rf"^{missing}: cannot read the file"):
            observers_from_config(missing)
        broken = self.root / "broken.yml"
        broken.write_text("- type: [\n")
        with self.assertRaisesRegex(ObserverConfigError, rf"^{broken}: not valid YAML"):
            observers_from_config(broken)
        broken_json = self.root / "broken.json"
        broken_json.write_text("{")
        with self.assertRaisesRegex(ObserverConfigError, rf"^{broken_json}: not valid JSON"):
            observers_from_config(broken_json)
        scalar = self.root / "scalar.yml"
        scalar.write_text("just text\n")
        self.assertProblem(scalar, f"{scalar}: expected a list of observers (or a mapping with an `observers:` list)")
        self.assertProblem(
            {"observers": [], "extra": 1}, "expected a list of observers (or a mapping with an `observers:` list)"
        )


if __name__ == "__main__":
    unittest.main()
