"""A row a Delta or Iceberg table refuses is dead-lettered before a commit carries a position
past it (`Target.refusing`). These targets gather batches into one commit with the position of
the last: were the refused rows stored in the state database only once the commit was made, a
crash between the two would lose them for good, the resumed run starting after them. Here the
run is killed (SIGKILL) the moment its first commit is made, then resumed."""

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

RUN = textwrap.dedent("""\
    import os, signal, sys

    from pdip import Pdi
    from pdip.integrator import Connection, Integration, Operation
    from pdip.integrator.base import Integrator

    root, how, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    if kind == "delta":
        from pdip.integrator.adapters.lakehouse.delta import DeltaTarget as Target
        target = Connection("delta", {"path": "lake/people"})
    else:
        from pdip.integrator.adapters.lakehouse.iceberg import IcebergTarget as Target
        target = Connection("iceberg", {"catalog_uri": "sqlite:///catalog.db", "warehouse": "lake",
                                        "table": "sales.people"})
    if how == "first":
        committed = Target._commit_held

        def commit_then_die(self):
            holding = self.holding()
            committed(self)  # rows and position committed
            if holding:
                os.kill(os.getpid(), signal.SIGKILL)

        Target._commit_held = commit_then_die
    source = Connection("jsonl", {"path": "created.jsonl" if how == "create" else "people.jsonl"})
    integration = Integration("people", source=source, target=target, create_target=how == "create",
                              batch_size=2, max_errors=5)
    with Pdi(root_directory=root) as pdi:
        result = pdi.get(Integrator).integrate(
            Operation("lake", [integration], executor="inline"),
            execution_id=None if how == "create" else "kills-1", resume=how == "resume",
        )
    sys.exit(0 if result.ok else 1)
    """)

LINES = ['{"id": 2, "count": "two"}', '{"id": 3, "count": 3}', '{"id": 4, "count": 4}', '{"id": 5, "count": 5}']


class LakehouseDeadLettersBeforeCommitTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-lake-dead-before-commit-"))
        self.root.joinpath("created.jsonl").write_text('{"id": 1, "count": 1}\n')
        self.root.joinpath("people.jsonl").write_text("".join(line + "\n" for line in LINES))

    def run_pdip(self, how: str, kind: str) -> int | str:
        """The exit code, or what the run wrote to stderr when it failed (1)."""
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        finished = subprocess.run(
            [sys.executable, "-c", RUN, str(self.root), how, kind], env=environment, capture_output=True, timeout=180
        )
        return finished.returncode if finished.returncode != 1 else finished.stderr.decode()[-2000:]

    def dead_letters(self) -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(self.root / ".pdip" / "state.db")) as connection:
            return connection.execute(
                "SELECT position, reason FROM pdip_dead_letter WHERE execution_id = 'kills-1' ORDER BY id"
            ).fetchall()

    def assert_stored_before_the_commit(self, kind: str, ids) -> None:
        self.assertEqual(self.run_pdip("create", kind), 0)
        self.assertEqual(self.run_pdip("first", kind), -9)
        refused = self.dead_letters()
        self.assertEqual(len(refused), 1, refused)
        self.assertIn("does not fit the table's schema", refused[0][1])
        self.assertEqual(self.run_pdip("resume", kind), 0)
        self.assertEqual(self.dead_letters(), refused)
        self.assertEqual(sorted(ids()), [1, 3, 4, 5])

    def test_a_row_a_delta_table_refuses_is_stored_before_the_commit_that_passes_it(self):
        from deltalake import DeltaTable

        def ids():  # read once the runs are over: the table does not exist before
            return DeltaTable(str(self.root / "lake/people")).to_pyarrow_table()["id"].to_pylist()

        self.assert_stored_before_the_commit("delta", ids)

    def test_a_row_an_iceberg_table_refuses_is_stored_before_the_commit_that_passes_it(self):
        from pyiceberg.catalog.sql import SqlCatalog

        def ids():
            catalog = SqlCatalog("pdip", uri=f"sqlite:///{self.root}/catalog.db", warehouse=str(self.root / "lake"))
            return catalog.load_table("sales.people").scan().to_arrow()["id"].to_pylist()

        self.assert_stored_before_the_commit("iceberg", ids)


if __name__ == "__main__":
    unittest.main()
