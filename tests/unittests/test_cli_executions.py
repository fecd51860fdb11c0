"""`pdip run --resume / --execution-id`, `pdip executions [show ID]` and `pdip dead-letters ID`."""

import csv
import io
import json
import sqlite3
import unittest
from unittest import mock

from tests.support.apps import application
from tests.unittests.test_cli import run

# Three readings, the second of which is refused (its amount is not a decimal) and dead-lettered.
OPERATION = """\
name: load-items
executor: inline
integrations:
  - name: items
    max_errors: 10
    create_target: true
    source: {kind: csv, path: in.csv, delimiter: ";", types: {id: int, amount: decimal}}
    target: {kind: sqlite, database: out.db, table: items}
"""
FILES = {"op.yml": OPERATION, "in.csv": "id;amount\n1;10.5\n2;oops\n3;7\n"}


class CliHistoryTest(unittest.TestCase):
    def setUp(self):
        context = application(FILES)
        self.root, _ = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        self.operation = str(self.root / "op.yml")
        self.state_file = self.root / ".pdip" / "state.db"

    def pdip(self, *arguments: str) -> tuple[int, str, str]:
        return run(*arguments)

    def target_rows(self) -> list[tuple]:
        with sqlite3.connect(self.root / "out.db") as database:
            return database.execute("SELECT id, amount FROM items ORDER BY id").fetchall()

    def first_run(self, *arguments: str) -> None:
        code, out, err = self.pdip("run", self.operation, "--execution-id", "e1", *arguments)
        self.assertEqual(code, 0, out + err)

    # -- run --resume / --execution-id ---------------------------------------------------------------

    def test_resume_with_nothing_unfinished_exits_2_and_writes_nothing_again(self):
        self.first_run()
        code, out, err = self.pdip("run", self.operation, "--resume")
        self.assertEqual(code, 2, out)
        self.assertIn("operation 'load-items' has no unfinished run to resume", err)
        self.assertIn(f"SQLite file {self.state_file}", err)
        self.assertEqual(len(self.target_rows()), 2)
        code, out, _ = self.pdip("executions", "--root", str(self.root))
        self.assertEqual(len(out.splitlines()), 3)  # the header, the first run only, the count
        self.assertEqual(out.splitlines()[-1], "1 run: 1 finished")

    def test_resume_of_an_unknown_or_finished_execution_id_is_refused_saying_which(self):
        self.first_run()
        code, _, err = self.pdip("run", self.operation, "--resume", "--execution-id", "nope")
        self.assertEqual(code, 2)
        self.assertIn("no execution 'nope' to resume for operation 'load-items'", err)
        code, _, err = self.pdip("run", self.operation, "--resume", "--execution-id", "e1")
        self.assertEqual(code, 2)
        self.assertIn("execution 'e1' of operation 'load-items' finished; nothing to resume", err)
        self.assertEqual(len(self.target_rows()), 2)

    def test_an_existing_execution_id_is_refused_and_its_record_kept(self):
        self.first_run()
        _, before, _ = self.pdip("executions", "show", "e1", "--root", str(self.root))
        code, out, err = self.pdip("run", self.operation, "--execution-id", "e1")
        self.assertEqual(code, 2, out)
        self.assertIn("execution 'e1' already exists (status finished", err)
        self.assertIn("choose another --execution-id", err)
        _, after, _ = self.pdip("executions", "show", "e1", "--root", str(self.root))
        self.assertEqual(after, before)
        self.assertEqual(len(self.target_rows()), 2)

    # -- dead-letters --------------------------------------------------------------------------------

    def test_dead_letters_as_a_table(self):
        self.first_run()
        code, out, _ = self.pdip("dead-letters", "e1", "--root", str(self.root))
        self.assertEqual(code, 0)
        header, line = out.splitlines()
        self.assertEqual(header.split(), ["INTEGRATION", "REASON", "POSITION", "ROW"])
        self.assertEqual(line.index("items"), header.index("INTEGRATION"))
        self.assertEqual(line.index('{"file"'), header.index("POSITION"))
        self.assertEqual(line.index('{"id"'), header.index("ROW"))
        self.assertIn("in.csv:3: column 'amount': expected decimal, got 'oops'", line)
        self.assertIn('{"file":"in.csv","line":3}', line)
        self.assertIn('{"id":"2","amount":"oops"}', line)

    def test_dead_letters_as_json_lines_and_csv(self):
        self.first_run()
        code, out, _ = self.pdip("dead-letters", "e1", "--format", "jsonl", "--root", str(self.root))
        self.assertEqual(code, 0)
        letters = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(len(letters), 1)
        self.assertEqual(letters[0]["integration"], "items")
        self.assertEqual(letters[0]["reason"], "in.csv:3: column 'amount': expected decimal, got 'oops'")
        self.assertEqual(letters[0]["position"], {"file": "in.csv", "line": 3})
        self.assertEqual(letters[0]["row"], {"id": "2", "amount": "oops"})
        self.assertRegex(letters[0]["created_at"], r"^\d{4}-\d\d-\d\dT")
        code, out, _ = self.pdip("dead-letters", "e1", "--format", "csv", "--root", str(self.root))
        self.assertEqual(code, 0)
        records = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual(len(records), 1)
        self.assertEqual(list(records[0]), ["integration", "reason", "position", "row", "created_at"])
        self.assertEqual(records[0]["integration"], "items")
        self.assertEqual(json.loads(records[0]["row"]), {"id": "2", "amount": "oops"})
        self.assertEqual(json.loads(records[0]["position"]), {"file": "in.csv", "line": 3})

    def test_dead_letters_by_integration_and_limit(self):
        self.first_run()
        code, out, _ = self.pdip("dead-letters", "e1", "--integration", "other", "--root", str(self.root))
        self.assertEqual((code, out.strip()), (0, "execution 'e1' has no dead letters in integration 'other'"))
        code, out, _ = self.pdip(
            "dead-letters", "e1", "--integration", "items", "--limit", "0", "--root", str(self.root)
        )
        self.assertEqual((code, out.strip()), (0, "execution 'e1' has no dead letters in integration 'items'"))

    def test_dead_letters_of_an_unknown_execution_exit_2_naming_the_state_database(self):
        self.first_run()
        code, out, err = self.pdip("dead-letters", "nope", "--root", str(self.root))
        self.assertEqual((code, out), (2, ""))
        self.assertIn(f"no execution 'nope' in the state database (SQLite file {self.state_file})", err)

    def test_an_execution_without_dead_letters_says_so(self):
        (self.root / "in.csv").write_text("id;amount\n1;10.5\n", encoding="utf-8")
        self.first_run()
        code, out, _ = self.pdip("dead-letters", "e1", "--root", str(self.root))
        self.assertEqual((code, out.strip()), (0, "execution 'e1' has no dead letters"))

    # -- executions ----------------------------------------------------------------------------------

    def test_executions_lists_a_header_and_each_run_s_counts(self):
        self.first_run()
        self.pdip("run", self.operation, "--execution-id", "e2")
        code, out, _ = self.pdip("executions", "--root", str(self.root))
        self.assertEqual(code, 0)
        header, *lines, counted = out.splitlines()
        self.assertEqual(counted, "2 runs: 2 finished")
        self.assertEqual(
            header.split(),
            ["EXECUTION", "OPERATION", "STATUS", "STARTED", "(UTC)", "SECONDS", "READ", "WRITTEN", "DEAD-LETTERED"],
        )
        self.assertEqual([line.split()[0] for line in lines], ["e2", "e1"])  # the latest first
        fields = lines[1].split()
        self.assertEqual(fields[:3], ["e1", "load-items", "finished"])
        self.assertRegex(fields[3], r"^\d{4}-\d\d-\d\d$")
        self.assertRegex(fields[5], r"^\d+\.\d\d$")
        self.assertEqual(fields[6:], ["3", "2", "1"])
        code, out, _ = self.pdip("executions", "--limit", "1", "--root", str(self.root))
        self.assertEqual([line.split()[0] for line in out.splitlines()[1:-1]], ["e2"])

    def test_executions_counts_runs_per_status(self):
        self.first_run()
        with open(self.root / "in.csv", "a") as source:
            source.write("4;x\n5;y\n6;z\n7;w\n8;v\n9;u\n10;t\n11;s\n12;r\n13;q\n")  # eleven refused: over max_errors
        self.pdip("run", self.operation, "--execution-id", "e2")
        _, out, _ = self.pdip("executions", "--root", str(self.root))
        self.assertEqual(out.splitlines()[-1], "2 runs: 1 failed, 1 finished")

    # -- run: metrics -------------------------------------------------------------------------------

    def test_run_writes_its_metrics_to_the_configured_textfile(self):
        (self.root / "application.yml").write_text("METRICS:\n  TEXTFILE: metrics/pdip.prom\n")
        (self.root / "metrics").mkdir()
        code, out, err = self.pdip("run", self.operation, "--root", str(self.root))
        self.assertEqual(code, 0, out + err)
        text = (self.root / "metrics" / "pdip.prom").read_text()
        labels = 'integration="items",operation="load-items"'
        self.assertIn(f"pdip_rows_read_total{{{labels}}} 3.0", text)
        self.assertIn(f"pdip_rows_written_total{{{labels}}} 2.0", text)
        self.assertIn(f"pdip_rows_dead_lettered_total{{{labels}}} 1.0", text)

    def test_run_says_when_its_metrics_could_not_be_handed_over_and_keeps_its_exit_code(self):
        (self.root / "application.yml").write_text("METRICS:\n  PUSHGATEWAY: http://127.0.0.1:9\n")
        code, out, err = self.pdip("run", self.operation, "--root", str(self.root))
        self.assertEqual(code, 0, out + err)
        self.assertIn("pdip run: METRICS.PUSHGATEWAY: could not push to http://127.0.0.1:9", err)
        self.assertIn("load-items finished", out)

    def test_run_with_a_metrics_destination_and_no_prometheus_client_exits_2_before_moving_data(self):
        (self.root / "application.yml").write_text("METRICS:\n  TEXTFILE: pdip.prom\n")
        with mock.patch.dict("sys.modules", {"prometheus_client": None}):
            code, _, err = self.pdip("run", self.operation, "--root", str(self.root))
        self.assertEqual(code, 2)
        self.assertIn("metrics (METRICS.TEXTFILE) need the prometheus-client package", err)
        self.assertFalse((self.root / "out.db").exists())

    def test_check_refuses_an_unknown_metrics_key(self):
        (self.root / "application.yml").write_text("METRICS:\n  GATEWAY: http://gateway:9091\n")
        code, _, err = self.pdip("check", str(self.root))
        self.assertEqual(code, 2)
        self.assertIn("METRICS.GATEWAY", err)

    def test_executions_show_details_each_integration(self):
        self.first_run()
        code, out, _ = self.pdip("executions", "show", "e1", "--root", str(self.root))
        self.assertEqual(code, 0)
        self.assertIn("execution e1 of load-items: finished", out)
        self.assertRegex(out, r"items +finished +3 +2 +1 +\d+\.\d\d")
        self.assertIn("dead letters stored: 1 (pdip dead-letters e1)", out)

    def test_executions_show_what_the_field_policy_did(self):
        (self.root / "op.yml").write_text(OPERATION + "    policy: true\n")
        (self.root / "in.csv").write_text("id;amount;api_key\n1;10.5;k1\n2;oops;k2\n3;7;k3\n")
        self.first_run()
        code, out, _ = self.pdip("executions", "show", "e1", "--root", str(self.root))
        self.assertEqual(code, 0)
        self.assertIn("items: field policy: redact 2", out)

    def test_executions_show_a_failed_run_s_error(self):
        (self.root / "op.yml").write_text(OPERATION.replace("create_target: true", "create_target: false"))
        code, _, _ = self.pdip("run", self.operation, "--execution-id", "e1")
        self.assertEqual(code, 1)
        code, out, _ = self.pdip("executions", "show", "e1", "--root", str(self.root))
        self.assertEqual(code, 0)
        self.assertIn("execution e1 of load-items: failed", out)
        self.assertIn("items: OperationError: table 'items' does not exist", out)

    def test_a_run_still_going_has_no_counts_yet(self):
        from pdip import Pdi
        from pdip.integrator import StateStore

        with Pdi(self.root) as pdi:
            pdi.get(StateStore).start_execution("load-items", "r1")
        _, out, _ = self.pdip("executions", "--root", str(self.root))
        self.assertEqual(out.splitlines()[1].split()[-4:], ["-"] * 4)  # seconds, read, written, dead-lettered
        _, out, _ = self.pdip("executions", "show", "r1", "--root", str(self.root))
        self.assertIn("execution r1 of load-items: running", out)
        self.assertRegex(out, r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, not finished")
        self.assertIn("no summary stored: the run is still going, or it stopped before it could write one", out)
        self.assertEqual(out.splitlines()[-1], "dead letters stored: 0")

    def test_executions_of_an_application_without_runs_says_where_it_looked(self):
        code, out, _ = self.pdip("executions", "--root", str(self.root))
        self.assertEqual(
            (code, out.strip()), (0, f"no executions in the state database (SQLite file {self.state_file})")
        )

    def test_executions_show_an_unknown_id_exits_2(self):
        code, out, err = self.pdip("executions", "show", "nope", "--root", str(self.root))
        self.assertEqual((code, out), (2, ""))
        self.assertIn(f"no execution 'nope' in the state database (SQLite file {self.state_file})", err)


if __name__ == "__main__":
    unittest.main()
