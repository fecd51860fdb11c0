"""`python -m examples.change_stream` with PostgreSQL for source and replica (DATABASE_URL), in a
database of its own, and this test run's broker."""

import os
import subprocess
import sys
import tempfile
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from tests.support import servers

ROOT = Path(__file__).resolve().parents[3]


class ChangeStreamOnPostgresTest(unittest.TestCase):
    def test_the_example_replicates_to_postgres_and_no_secret_gets_out(self):
        url = sa.make_url(servers.postgres_url())
        bootstrap = servers.kafka_bootstrap()
        name = f"pdip_it_stream_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.addCleanup(admin.dispose)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.addCleanup(self._drop, admin, name)
        database = url.set(database=name).render_as_string(hide_password=False)
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **os.environ,
                "DATABASE_URL": database,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "CHANGE_STREAM_WORKDIR": folder,
            }
            result = subprocess.run(
                [sys.executable, "-m", "examples.change_stream"],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
                cwd=ROOT,
            )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        summary = result.stdout.splitlines()[-1]
        self.assertRegex(
            summary, r"^change stream: 271 source rows, 271 replica rows, 0 differing; 431 entries on Kafka"
        )
        self.assertTrue(summary.endswith("secrets in Kafka: 0, in the file: 0 -> OK"), summary)

    @staticmethod
    def _drop(admin, name):
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    unittest.main()
