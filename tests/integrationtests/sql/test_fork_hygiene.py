"""A forked child forgets the database connections it inherited: when its parent dies, the
parent's sessions end with it, whatever the child is doing (no lock held by an orphan)."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest
import uuid

import sqlalchemy as sa

from tests.support.servers import mysql_url, postgres_url

# The "writer": holds a lock in an open transaction, forks a child that lives on (it does not die
# with its parent: this is the case where only the forgetting protects the lock), then dies.
WRITER = textwrap.dedent("""\
    import os, sys, time
    import sqlalchemy as sa
    from pdip.integrator.executors.children import forget_inherited_connections

    url, statement, forget = sys.argv[1], sys.argv[2], sys.argv[3] == "forget"
    engine = sa.create_engine(url)
    connection = engine.connect()
    connection.exec_driver_sql(statement)  # a lock, held by this session's open transaction
    child = os.fork()
    if child == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)  # the test reads the writer's output to its end: the child keeps none of it
        os.dup2(quiet, 2)
        if forget:
            forget_inherited_connections()
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    os.kill(os.getpid(), 9)
""")


class ForkHygieneBase:
    url = ""

    def lock_statement(self) -> str:
        raise NotImplementedError

    def lock_held(self) -> bool:
        raise NotImplementedError

    def run_writer(self, forget: bool) -> int:
        process = subprocess.run(
            [sys.executable, "-c", WRITER, self.url, self.lock_statement(), "forget" if forget else "keep"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(process.returncode, -signal.SIGKILL, process.stderr)
        child = int(process.stdout.split()[0])
        self.addCleanup(self.end, child)
        return child

    def end(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def released_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.lock_held():
                return True
            time.sleep(0.05)
        return not self.lock_held()

    def test_a_child_that_forgot_its_inherited_connections_lets_a_dead_parents_lock_go(self):
        child = self.run_writer(forget=True)
        self.assertTrue(self.released_within(5), "the dead writer's lock is still held")
        os.kill(child, 0)  # the child is still alive: the lock went because it forgot the socket

    def test_without_forgetting_the_orphan_keeps_the_dead_parents_session_and_lock(self):
        child = self.run_writer(forget=False)
        self.assertFalse(self.released_within(1), "the lock should stay while the orphan holds the socket")
        self.end(child)
        self.assertTrue(self.released_within(5))


class PostgresForkHygieneTest(ForkHygieneBase, unittest.TestCase):
    def setUp(self):
        self.url = postgres_url()
        self.table = f"fork_{uuid.uuid4().hex[:8]}"
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.table} (id integer)")
        self.addCleanup(self.drop)

    def drop(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")

    def lock_statement(self) -> str:
        return f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE"

    def lock_held(self) -> bool:
        with self.engine.connect() as connection:
            return bool(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_locks.relation = pg_class.oid "
                    f"WHERE pg_class.relname = '{self.table}'"
                ).scalar()
            )


class MariaDbForkHygieneTest(ForkHygieneBase, unittest.TestCase):
    def setUp(self):
        self.url = mysql_url()
        self.name = f"pdip_fork_{uuid.uuid4().hex[:8]}"
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)

    def lock_statement(self) -> str:
        return f"SELECT GET_LOCK('{self.name}', 0)"

    def lock_held(self) -> bool:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(f"SELECT IS_USED_LOCK('{self.name}')").scalar() is not None


if __name__ == "__main__":
    unittest.main()
