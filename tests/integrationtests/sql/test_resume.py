"""A SQL-to-SQL run killed part-way (`kill -9`) resumes after its last durable batch: the
target stored each batch's position in the batch's own transaction, so no row is lost and
none is written twice, with or without a key, read whole or in key ranges."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from tests.support import servers

ROWS = 6000
ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pdip import Pdi
    from pdip.integrator.base import Integrator
    from pdip.integrator.events import BatchWritten
    from tests.integrationtests.sql.test_resume import operation

    folder, url, source, target, keyed, parallel = sys.argv[1:7]
    with Pdi(root_directory=folder) as pdi:
        integrator = pdi.get(Integrator)
        integrator.subscribe(BatchWritten, lambda event: time.sleep(0.05))  # a slow writer, to be killed
        integrator.integrate(operation(url, source, target, keyed == "1", int(parallel)))
    """
)


def operation(url: str, source: str, target: str, keyed: bool, parallelism: int) -> Operation:
    return Operation(
        "resumable",
        [
            Integration(
                "copy",
                source=(
                    Connection("csv", {"path": source})
                    if source.endswith(".csv")
                    else Connection("sql", {"url": url, "table": source})
                ),
                target=Connection("sql", {"url": url, "table": target}),
                key=["id"] if keyed else None,
                parallelism=parallelism,
                create_target=True,
                truncate_target=True,
                batch_size=200,
            )
        ],
    )


class ResumeAfterKillTest(unittest.TestCase):
    def setUp(self):
        self.url = servers.postgres_url()
        self.engine = sa.create_engine(self.url)
        self.source = f"pdip_resume_src_{uuid.uuid4().hex[:8]}"
        self.target = f"pdip_resume_dst_{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.source} (id integer, label text)")
            connection.exec_driver_sql(
                f"INSERT INTO {self.source} SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) AS g"
            )

    def tearDown(self):
        with self.engine.begin() as connection:
            for name in (self.source, self.target):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        self.engine.dispose()

    def written(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(self.target):
                return 0, 0
            return tuple(connection.exec_driver_sql(f"SELECT count(*), count(DISTINCT id) FROM {self.target}").one())

    def kill_then_resume(self, keyed: bool, parallelism: int, source: str | None = None) -> tuple[int, int]:
        """Kill a run after 1,000 rows, resume it; the rows and distinct ids then at the target."""
        folder = tempfile.mkdtemp(prefix="pdip-resume-")
        source = source or self.source
        arguments = [folder, self.url, source, self.target, "1" if keyed else "0", str(parallelism)]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *arguments], cwd=ROOT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while self.written()[0] < 1000 and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)
        finally:
            os.killpg(child.pid, signal.SIGKILL)  # the writer and its reader processes, mid-run
            child.wait(timeout=30)
        stopped = self.written()[0]
        self.assertGreaterEqual(stopped, 1000)
        self.assertLess(stopped, ROWS)
        with Pdi(root_directory=folder) as pdi:
            result = pdi.get(Integrator).integrate(
                operation(self.url, source, self.target, keyed, parallelism), resume=True
            )
        self.assertTrue(result.ok, result.integrations[0].error)
        self.assertLessEqual(result.integrations[0].rows_written, ROWS - stopped)
        return self.written()

    def test_a_keyed_copy_resumes_after_its_last_key(self):
        self.assertEqual(self.kill_then_resume(keyed=True, parallelism=1), (ROWS, ROWS))

    def test_a_copy_without_a_key_resumes_after_the_rows_it_wrote(self):
        self.assertEqual(self.kill_then_resume(keyed=False, parallelism=1), (ROWS, ROWS))

    def test_each_key_range_resumes_after_its_own_position(self):
        self.assertEqual(self.kill_then_resume(keyed=True, parallelism=3), (ROWS, ROWS))

    def test_a_csv_file_passed_to_copy_resumes_after_its_last_record(self):
        path = Path(tempfile.mkdtemp(prefix="pdip-resume-csv-")) / "rows.csv"
        path.write_text("id,label\n" + "".join(f"{i},row {i}\n" for i in range(1, ROWS + 1)))
        self.assertEqual(self.kill_then_resume(keyed=False, parallelism=1, source=str(path)), (ROWS, ROWS))


if __name__ == "__main__":
    unittest.main()
