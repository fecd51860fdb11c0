"""The dask executor on a local cluster of two worker processes, against real PostgreSQL."""

import os
import signal
import tempfile
import threading
import unittest
import uuid
from pathlib import Path

import sqlalchemy as sa

from pdip import Pdi
from pdip.cryptography import CryptoService
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.events import BatchWritten, Event
from pdip.integrator.executors.dask import KEY_VARIABLE
from tests.support.dask_cluster import start_cluster, stop_cluster
from tests.support.servers import postgres_url

ROWS = 2_000


class DaskExecutorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url = postgres_url()
        cls.saved_key = os.environ.get(KEY_VARIABLE)
        os.environ[KEY_VARIABLE] = CryptoService.generate_key()
        cls.cluster = start_cluster(2)
        cls.engine = sa.create_engine(cls.url)
        cls.prefix = f"dask_{uuid.uuid4().hex[:8]}"
        with cls.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {cls.prefix}_source (id integer primary key, name text, score float)"
            )
            connection.execute(
                sa.text(f"INSERT INTO {cls.prefix}_source VALUES (:id, :name, :score)"),
                [{"id": i, "name": f"name {i}", "score": i / 4} for i in range(ROWS)],
            )

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.cluster)  # first: a worker may still hold a connection to the tables
        with cls.engine.begin() as connection:
            for suffix in (
                "source",
                "process",
                "dask",
                "killed",
                "picky",
                "missing",
                "csv_process",
                "csv_dask",
                "kafka_process",
                "kafka_dask",
                "changes_process",
                "changes_dask",
            ):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {cls.prefix}_{suffix}")
        cls.engine.dispose()
        if cls.saved_key is None:
            os.environ.pop(KEY_VARIABLE, None)
        else:
            os.environ[KEY_VARIABLE] = cls.saved_key

    def setUp(self):
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-dask-"))
        self.integrator = self.pdi.get(Integrator)

    def tearDown(self):
        self.pdi.cleanup()

    def operation(self, target: str, executor: str, **settings) -> Operation:
        integration = Integration(
            "copy",
            source=Connection("postgresql", {"url": self.url, "table": f"{self.prefix}_source"}),
            target=Connection("postgresql", {"url": self.url, "table": f"{self.prefix}_{target}"}),
            key=["id"],
            create_target=True,
            batch_size=300,
            parallelism=2,
            **settings,
        )
        return Operation(f"dask-{target}", [integration], executor=executor, scheduler=self.cluster.scheduler_address)

    def rows(self, suffix: str) -> list[tuple]:
        with self.engine.connect() as connection:
            return [
                tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {self.prefix}_{suffix} ORDER BY id")
            ]

    def test_two_workers_copy_what_the_process_executor_copies_row_for_row_with_the_same_events(self):
        events = []
        self.integrator.subscribe(Event, events.append)
        by_processes = self.integrator.integrate(self.operation("process", "process"))
        by_dask = self.integrator.integrate(self.operation("dask", "dask"))
        self.assertTrue(by_dask.ok, by_dask["copy"].error)
        self.assertEqual(self.rows("dask"), self.rows("process"))
        self.assertEqual(len(self.rows("dask")), ROWS)
        self.assertEqual((by_dask["copy"].rows_read, by_dask["copy"].rows_written), (ROWS, ROWS))
        self.assertEqual(by_dask["copy"].rows_written, by_processes["copy"].rows_written)
        kinds = [type(event).__name__ for event in events if event.execution_id == by_dask.execution_id]
        self.assertEqual(kinds[:2], ["OperationStarted", "IntegrationStarted"])
        self.assertEqual(kinds[-2:], ["IntegrationFinished", "OperationFinished"])
        batches = [
            event for event in events if isinstance(event, BatchWritten) and event.execution_id == by_dask.execution_id
        ]
        self.assertEqual(sum(event.rows for event in batches), ROWS)
        self.assertEqual(batches[-1].total_rows, ROWS)

    def test_a_csv_folder_is_split_by_file_and_lands_like_the_process_executor_lands_it(self):
        landing = Path(self.pdi.root_directory) / "landing"
        landing.mkdir()
        for part in range(4):
            lines = "".join(f"{i},name {i},{i / 4}\n" for i in range(part * 250, (part + 1) * 250))
            (landing / f"part{part}.csv").write_text("id,name,score\n" + lines, encoding="utf-8")
        results = {}
        for executor in ("process", "dask"):
            integration = Integration(
                "load",
                source=Connection("csv", {"path": "landing", "types": {"id": "int", "score": "float"}}),
                target=Connection("postgresql", {"url": self.url, "table": f"{self.prefix}_csv_{executor}"}),
                create_target=True,
                parallelism=4,
                batch_size=100,
            )
            operation = Operation(
                f"csv-{executor}", [integration], executor=executor, scheduler=self.cluster.scheduler_address
            )
            results[executor] = self.integrator.integrate(operation)
            self.assertTrue(results[executor].ok, results[executor]["load"].error)
        self.assertEqual(self.rows("csv_dask"), self.rows("csv_process"))
        self.assertEqual(len(self.rows("csv_dask")), 1000)
        positions = self.integrator.state.checkpoint("csv-dask", "load").positions
        self.assertEqual(positions, {f"{n}/4": {"file": f"part{n - 1}.csv", "row": 250} for n in range(1, 5)})

    def test_a_kafka_topic_is_split_by_partition_and_lands_like_the_process_executor_lands_it(self):
        from tests.integrationtests.kafka.support import create_topic, kafka, topic_name
        from tests.integrationtests.kafka.test_kafka_rows import ROWS, written
        from tests.support.servers import kafka_bootstrap

        bootstrap = kafka_bootstrap()
        topic = create_topic(bootstrap, topic_name("dask"), partitions=4)
        written(bootstrap, topic, key=["id"])
        for executor in ("process", "dask"):
            integration = Integration(
                "load",
                source=kafka(bootstrap, topic, group=f"{topic}-{executor}", start="earliest"),
                target=Connection("postgresql", {"url": self.url, "table": f"{self.prefix}_kafka_{executor}"}),
                create_target=True,
                parallelism=4,
                batch_size=10,
            )
            operation = Operation(
                f"kafka-{executor}", [integration], executor=executor, scheduler=self.cluster.scheduler_address
            )
            result = self.integrator.integrate(operation)
            self.assertTrue(result.ok, result["load"].error)
            self.assertEqual(result["load"].rows_written, len(ROWS))
        self.assertEqual(self.rows("kafka_dask"), self.rows("kafka_process"))
        positions = self.integrator.state.checkpoint("kafka-dask", "load").positions
        self.assertEqual(len(positions), 4)

    def test_change_logs_are_applied_with_the_field_policy_like_the_process_executor_applies_them(self):
        """`mode: changes` applies the application's policy by default: it travels to the workers."""
        from pdip.integrator.adapters.kafka.topics import KafkaChangesTarget
        from pdip.integrator.changes import entries_batch
        from pdip.tracking import ChangeLogEntry
        from tests.integrationtests.kafka.support import Context, create_topic, kafka, topic_name
        from tests.support.servers import kafka_bootstrap

        bootstrap = kafka_bootstrap()
        topic = create_topic(bootstrap, topic_name("dask-changes"), partitions=2)
        entries = [
            ChangeLogEntry("insert", entity="users", key=i, after={"id": i, "name": f"user {i}", "password": f"p{i}"})
            for i in range(40)
        ] + [ChangeLogEntry("update", entity="users", key=i, after={"name": f"renamed {i}"}) for i in range(0, 40, 3)]
        sender = KafkaChangesTarget(kafka(bootstrap, topic), Context())
        sender.write(entries_batch(entries))
        sender.commit()
        sender.close()
        for executor in ("process", "dask"):
            table = f"{self.prefix}_changes_{executor}"
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f"CREATE TABLE {table} (id integer primary key, name text, password text)")
            integration = Integration(
                "apply",
                source=kafka(bootstrap, topic, group=f"{topic}-{executor}", start="earliest"),
                target=Connection("postgresql", {"url": self.url, "table": table}),
                mode="changes",
                parallelism=2,
                batch_size=10,
            )
            operation = Operation(
                f"changes-{executor}", [integration], executor=executor, scheduler=self.cluster.scheduler_address
            )
            result = self.integrator.integrate(operation)
            self.assertTrue(result.ok, result["apply"].error)
        applied = self.rows("changes_dask")
        self.assertEqual(applied, self.rows("changes_process"))
        self.assertEqual(len(applied), 40)
        self.assertEqual(applied[3], (3, "renamed 3", "<redacted>"))
        self.assertEqual(applied[4], (4, "user 4", "<redacted>"))

    def test_refused_rows_are_dead_lettered_and_a_second_incremental_run_reads_nothing_new(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.prefix}_picky")
            connection.exec_driver_sql(
                f"CREATE TABLE {self.prefix}_picky (id integer primary key, name text, score float CHECK (score < 400))"
            )
            connection.exec_driver_sql(f"INSERT INTO {self.prefix}_picky VALUES (-1, 'stale', 0)")
        operation = self.operation(
            "picky", "dask", mode="incremental", cursor="id", max_errors=ROWS, truncate_target=True
        )
        operation.integrations[0].create_target = False
        first = self.integrator.integrate(operation)
        self.assertTrue(first.ok, first["copy"].error)
        self.assertEqual(first["copy"].rows_dead_lettered, ROWS - 1600)
        self.assertEqual(first["copy"].rows_written, 1600)
        ids = [row[0] for row in self.rows("picky")]
        self.assertEqual(ids, list(range(1600)))  # emptied once, by the first task to write
        letters = self.integrator.state.dead_letters(first.execution_id)
        self.assertEqual(len(letters), ROWS - 1600)
        self.assertIn("CheckViolation", letters[0]["reason"])
        checkpoint = self.integrator.state.checkpoint(operation.name, "copy")
        self.assertEqual(checkpoint.high_watermark, ROWS - 1)
        operation.integrations[0].truncate_target = False
        second = self.integrator.integrate(operation)
        self.assertEqual((second["copy"].rows_read, second["copy"].rows_written), (0, 0))

    def test_a_task_that_fails_every_attempt_fails_the_integration_with_its_reason(self):
        operation = self.operation("missing", "dask")
        operation.integrations[0].create_target = False
        operation.retries = 1
        result = self.integrator.integrate(operation)
        self.assertEqual(result.status, "failed")
        self.assertIn("a task failed: RuntimeError: partition", result["copy"].error)
        self.assertIn("does not exist", result["copy"].error)

    def test_a_scheduler_that_logs_more_than_a_pipe_holds_goes_on_answering(self):
        from distributed import Client

        def shout() -> int:
            import sys

            for _ in range(300):  # 300 KiB on the scheduler's stderr, more than a pipe holds
                sys.stderr.write("x" * 1023 + "\n")
            sys.stderr.flush()
            return 1

        answers = []
        with Client(self.cluster.scheduler_address, timeout=10) as client:
            asking = threading.Thread(target=lambda: answers.append(client.run_on_scheduler(shout)), daemon=True)
            asking.start()
            asking.join(30)
            self.assertEqual(answers, [1], "the scheduler blocked writing to its stderr")
            self.assertEqual(client.run_on_scheduler(shout), 1)

    def test_a_worker_killed_mid_task_is_retried_and_the_keyed_target_has_no_duplicates(self):
        cluster = start_cluster(2)
        try:
            workers = cluster.scheduler_address
            operation = self.operation("killed", "dask")
            operation.scheduler = workers
            operation.integrations[0].batch_size = 50
            from distributed import Client

            with Client(workers) as client:
                pids = list(client.run(os.getpid).values())
            killed = []

            def kill_one(event):
                if not killed:
                    killed.append(pids[0])
                    os.kill(pids[0], signal.SIGKILL)

            self.integrator.subscribe(BatchWritten, kill_one)
            result = self.integrator.integrate(operation)
        finally:
            stop_cluster(cluster)
        self.assertTrue(result.ok, result["copy"].error)
        self.assertEqual(killed, pids[:1])
        self.assertGreaterEqual(result["copy"].retries, 1)
        ids = [row[0] for row in self.rows("killed")]
        self.assertEqual(ids, list(range(ROWS)))
        summary = self.pdi.get(Integrator).state.executions()[0]["summary"]
        self.assertIn('"retries": ', summary)
        self.assertNotIn('"retries": 0', summary)


if __name__ == "__main__":
    unittest.main()
