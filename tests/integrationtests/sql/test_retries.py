"""Transient failures on real servers are retried from the last durable batch (docs/adr/0029):
the writer's PostgreSQL connection terminated in the middle of a batch's transaction, a real
deadlock on PostgreSQL and on MariaDB; a constraint violation is not retried."""

import threading
import time
import unittest
import uuid

import sqlalchemy as sa

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.events import IntegrationRetried
from pdip.tracking.entry import ChangeLogEntry
from tests.support import servers

ROWS = 3000
BATCH = 500


class RetriesTest:
    """The scenario, for one database (`url()`)."""

    def url(self) -> str:
        raise NotImplementedError

    def setUp(self):
        self.engine = sa.create_engine(self.url())
        tag = uuid.uuid4().hex[:8]
        self.source, self.target = f"retry_src_{tag}", f"retry_dst_{tag}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.source} (id integer primary key, label varchar(40))")
            connection.execute(
                sa.text(f"INSERT INTO {self.source} VALUES (:id, :label)"),
                [{"id": number, "label": f"row {number}"} for number in range(1, ROWS + 1)],
            )
        self.pdi = Pdi()
        self.integrator = self.pdi.get(Integrator)
        self.retried = []
        self.integrator.subscribe(IntegrationRetried, self.retried.append)

    def tearDown(self):
        self.pdi.cleanup()
        with self.engine.begin() as connection:
            for table in (self.source, self.target):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        self.engine.dispose()

    def copy(self, executor="inline", attempts=3, max_errors=0):
        integration = Integration(
            "copy",
            source=Connection("sql", {"url": self.url(), "table": self.source}),
            target=Connection("sql", {"url": self.url(), "table": self.target}),
            batch_size=BATCH,
            max_errors=max_errors,
            retries={"attempts": attempts, "backoff": 0.05, "max_backoff": 0.1},
        )
        return self.integrator.integrate(Operation(f"retries-{uuid.uuid4().hex[:6]}", [integration], executor=executor))

    def assert_target_equals_source(self):
        with self.engine.connect() as connection:
            counted = connection.exec_driver_sql(f"SELECT count(*), count(DISTINCT id) FROM {self.target}").one()
            differ = connection.exec_driver_sql(
                f"SELECT count(*) FROM (SELECT id, label FROM {self.source} EXCEPT SELECT id, label FROM {self.target}) d"
            ).scalar()
        self.assertEqual(tuple(counted), (ROWS, ROWS))  # every row, none twice
        self.assertEqual(differ, 0)

    def deadlock_in_the_first_batch(self, block, wait_for_writer, cross):
        """A real deadlock: this test's session inserts key 200 (the first batch's), so the writer,
        having inserted keys 1-199, waits for it; then it inserts key 100, which the writer
        holds: each waits for the other, and the database ends one of them, the writer."""
        failures = []
        ready = threading.Event()

        def other_session():
            try:
                with self.engine.connect() as connection:
                    block(connection)
                    connection.exec_driver_sql(f"INSERT INTO {self.target} VALUES (200, 'theirs')")
                    ready.set()
                    wait_for_writer()
                    cross(connection)  # waits until the writer, the victim, rolled back
                    connection.rollback()
            except Exception as error:  # reported by the test
                failures.append(error)
            finally:
                ready.set()

        thread = threading.Thread(target=other_session)
        thread.start()
        ready.wait(30)  # the writer starts once this session holds key 200
        return thread, failures

    def wait_until(self, count_query):
        """Until `count_query` counts something (the writer waits for this session's lock)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.engine.connect() as watcher:
                if watcher.exec_driver_sql(count_query).scalar():
                    return
            time.sleep(0.05)
        raise AssertionError("the writer never waited for this session")

    def test_a_constraint_violation_is_not_retried(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.target} (id integer primary key, label varchar(40), CHECK (id <> 777))"
            )
        result = self.copy(attempts=5)
        self.assertEqual(result.status, "failed")
        self.assertEqual(result["copy"].retries, 0)  # one attempt: the same row would be refused again
        self.assertEqual(self.retried, [])
        self.assertEqual(result["copy"].rows_dead_lettered, 1)
        self.assertIn("more than max_errors=0", result["copy"].error)


class PostgresRetriesTest(RetriesTest, unittest.TestCase):
    def url(self):
        return servers.postgres_url()

    def create_target(self, trigger: str = ""):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.target} (id integer, label varchar(40))")
            if trigger:
                connection.exec_driver_sql(f"CREATE SEQUENCE {self.target}_once")
                connection.exec_driver_sql(
                    f"CREATE FUNCTION {self.target}_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.id = {trigger} AND nextval('{self.target}_once') = 1 THEN PERFORM pg_sleep(60); END IF; "
                    "RETURN NEW; END $$"
                )
                connection.exec_driver_sql(
                    f"CREATE TRIGGER pause BEFORE INSERT ON {self.target} FOR EACH ROW EXECUTE FUNCTION {self.target}_pause()"
                )

    def tearDown(self):
        super().tearDown()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {self.target}_pause()")
            connection.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {self.target}_once")

    def terminate_the_writer_when_it_pauses(self) -> threading.Thread:
        """Terminate (`pg_terminate_backend`) the session that sleeps in the trigger, in the
        middle of its batch's transaction."""
        database = self.engine.url.database

        def terminate():
            deadline = time.monotonic() + 30
            with self.engine.connect() as connection:
                while time.monotonic() < deadline:
                    pid = connection.exec_driver_sql(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %(database)s AND wait_event = 'PgSleep' "
                        "AND state = 'active' AND pid <> pg_backend_pid()",
                        {"database": database},
                    ).scalar()
                    if pid is not None:
                        connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
                        return
                    connection.rollback()
                    time.sleep(0.05)

        thread = threading.Thread(target=terminate)
        thread.start()
        return thread

    def test_a_writer_whose_connection_is_terminated_mid_transaction_retries_and_finishes(self):
        for executor in ("inline", "process"):
            with self.subTest(executor=executor):
                self.retried.clear()
                with self.engine.begin() as connection:
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.target}")
                    connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {self.target}_pause()")
                    connection.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {self.target}_once")
                self.create_target(trigger=str(BATCH * 3 + 200))  # in the fourth batch
                terminator = self.terminate_the_writer_when_it_pauses()
                result = self.copy(executor=executor)
                terminator.join()
                self.assertTrue(result.ok, result["copy"].error)
                self.assertEqual(result["copy"].retries, 1)
                self.assertEqual(len(self.retried), 1)
                self.assertIn("OperationalError", self.retried[0].error)
                self.assert_target_equals_source()
                self.assertEqual(result["copy"].rows_written, ROWS)  # the terminated batch counted once
                record = self.integrator.state.execution(result.execution_id)
                self.assertIn('"retries": 1', record["summary"])

    def test_a_deadlock_is_retried(self):
        self.create_target()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE UNIQUE INDEX ON {self.target} (id)")

        def block(connection):  # this session gives way: the writer's 1 s deadlock_timeout ends first
            connection.exec_driver_sql("SET deadlock_timeout = '20s'")

        def wait_for_writer():
            self.wait_until(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )

        def cross(connection):
            connection.exec_driver_sql(f"INSERT INTO {self.target} VALUES (100, 'theirs')")

        thread, failures = self.deadlock_in_the_first_batch(block, wait_for_writer, cross)
        result = self.copy()
        thread.join()
        self.assertEqual(failures, [])
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(result["copy"].retries, 1)
        self.assertIn("DeadlockDetected", self.retried[0].error)
        self.assert_target_equals_source()

    def refusing_and_failing_once(self, failing: int):
        """A target that refuses id 50 (a constraint) and fails once, with a serialization failure
        raised by a trigger, when `failing` is written."""
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {self.target} (id integer primary key, label varchar(40), CHECK (id <> 50))"
            )
            connection.exec_driver_sql(f"CREATE SEQUENCE {self.target}_once")
            connection.exec_driver_sql(
                f"CREATE FUNCTION {self.target}_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.id = {failing} AND nextval('{self.target}_once') = 1 THEN "
                "RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure'; END IF; "
                "RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER pause BEFORE INSERT ON {self.target} FOR EACH ROW "
                f"EXECUTE FUNCTION {self.target}_pause()"
            )

    def test_a_transient_failure_while_rows_are_written_one_by_one_is_retried_not_dead_lettered(self):
        self.refusing_and_failing_once(60)  # after the refused row: met while writing rows one by one
        result = self.copy(max_errors=1)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual((result["copy"].retries, result["copy"].rows_dead_lettered), (1, 1))
        self.assertIn("SerializationFailure", self.retried[0].error)
        letters = self.integrator.state.dead_letters(result.execution_id)
        self.assertEqual([letter["row"]["id"] for letter in letters], [50])  # the row refused, nothing else

    def test_a_dask_task_failing_on_a_transient_error_is_submitted_again(self):
        self.refusing_and_failing_once(1700)
        integration = Integration(
            "copy",
            source=Connection("sql", {"url": self.url(), "table": self.source}),
            target=Connection("sql", {"url": self.url(), "table": self.target}),
            batch_size=BATCH,
            max_errors=1,
            retries={"attempts": 2, "backoff": 0},
        )
        from distributed import LocalCluster

        # workers as threads of this process: quick to start, and what they run is measured
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
            operation = Operation(
                "retries-dask", [integration], executor="dask", scheduler=cluster.scheduler_address, retries=0
            )  # retries=0: no task retries by Dask, only the integration's
            result = self.integrator.integrate(operation)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(result["copy"].retries, 1)
        self.assertIn("TransientFailure", self.retried[0].error)
        self.assertIn("SerializationFailure", self.retried[0].error)
        with self.engine.connect() as connection:
            counted = connection.exec_driver_sql(f"SELECT count(*), count(DISTINCT id) FROM {self.target}").one()
        self.assertEqual(tuple(counted), (ROWS - 1, ROWS - 1))  # all but the refused row, none twice

    def test_a_transient_failure_of_a_change_stream_is_retried(self):
        for failing in (40, 60):  # met applying the batch; met applying its entries one by one
            with self.subTest(failing=failing):
                self.retried.clear()
                with self.engine.begin() as connection:
                    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.target}")
                    connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {self.target}_pause()")
                    connection.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {self.target}_once")
                self.refusing_and_failing_once(failing)
                self.integrator.stores["log"] = [
                    ChangeLogEntry("insert", entity=self.target, key=i, after={"id": i, "label": f"row {i}"})
                    for i in range(1, 101)
                ]
                apply = Integration(
                    "apply",
                    mode="changes",
                    max_errors=1,
                    source=Connection("memory", {"store": "log"}),
                    target=Connection("sql", {"url": self.url(), "table": self.target}),
                    retries={"attempts": 2, "backoff": 0},
                )
                result = self.integrator.integrate(Operation(f"apply-{failing}", [apply], executor="inline"))
                self.assertTrue(result.ok, result["apply"].error)
                self.assertEqual((result["apply"].retries, result["apply"].rows_dead_lettered), (1, 1))
                with self.engine.connect() as connection:
                    ids = connection.exec_driver_sql(f"SELECT id FROM {self.target} ORDER BY id").scalars().all()
                self.assertEqual(ids, [i for i in range(1, 101) if i != 50])


class MariaDbRetriesTest(RetriesTest, unittest.TestCase):
    def url(self):
        return servers.mysql_url()

    def test_a_deadlock_is_retried(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {self.target} (id integer primary key, label varchar(40))")
            connection.exec_driver_sql(f"CREATE TABLE {self.target}_weight (n integer)")

        def block(connection):  # InnoDB ends the lighter transaction: make this one heavier
            connection.exec_driver_sql(f"INSERT INTO {self.target}_weight SELECT seq FROM seq_1_to_20000")

        def wait_for_writer():
            self.wait_until(  # the writer's statement into the table has run for a second: it waits for us
                "SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() AND command = 'Query' "
                f"AND id <> CONNECTION_ID() AND time >= 1 AND info LIKE '%%{self.target}%%'"
            )

        def cross(connection):
            connection.exec_driver_sql(f"INSERT INTO {self.target} VALUES (100, 'theirs')")

        try:
            thread, failures = self.deadlock_in_the_first_batch(block, wait_for_writer, cross)
            result = self.copy()
            thread.join()
        finally:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.target}_weight")
        self.assertEqual(failures, [])
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(result["copy"].retries, 1)
        self.assertIn("1213", self.retried[0].error)
        self.assert_target_equals_source()
