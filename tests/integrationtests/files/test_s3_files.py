"""Files at s3:// URLs, on a real S3 server (moto_server on a loopback port) through s3fs:
folders and globs read, files written whole, new files picked up by incremental runs, and the
store's failures (no bucket, no credentials, wrong ones, no server) told with the connection and
setting, never with a secret."""

import contextlib
import io
import json
import os
import tempfile
import unittest
import uuid
from unittest import mock

import pyarrow.parquet

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation, StateStore
from pdip.integrator.events import Event
from tests.support.kafka_broker import free_port
from tests.support.object_store import ObjectStore, fsspec_options, started_or_missing

BUCKET = "pdip-files"
_SERVER: ObjectStore | None = None


def setUpModule():
    global _SERVER
    _SERVER = started_or_missing(BUCKET, "files at s3:// URLs")


def tearDownModule():
    if _SERVER is not None:
        _SERVER.stop()


class S3FilesTest(unittest.TestCase):
    def setUp(self):
        self.fs = _SERVER.filesystem()
        self.prefix = f"{BUCKET}/{uuid.uuid4().hex[:10]}"
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-s3-"))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.events: list[Event] = []
        self.integrator.subscribe(Event, self.events.append)
        self.printed = io.StringIO()

    def put(self, name: str, text: str) -> None:
        self.fs.pipe_file(f"{self.prefix}/{name}", text.encode())

    def text(self, name: str) -> str:
        return self.fs.cat_file(f"{self.prefix}/{name}").decode()

    def url(self, name: str) -> str:
        return f"s3://{self.prefix}/{name}"

    def connection(self, kind: str, name: str, **settings) -> Connection:
        return Connection(kind, {"path": self.url(name), "storage_options": _SERVER.fsspec_options(), **settings})

    def run_one(self, integration: Integration, operation: str = "s3"):
        with contextlib.redirect_stdout(self.printed), contextlib.redirect_stderr(self.printed):
            return self.integrator.integrate(Operation(operation, [integration], executor="inline"))

    def test_a_glob_of_csv_files_goes_to_parquet_then_to_json_lines_and_back_all_on_s3(self):
        for day in (1, 2):
            self.put(f"landing/2026-03-0{day}.csv", "id,amount\n" + "".join(f"{day}{i},{i}.5\n" for i in range(3)))
        self.put("landing/notes.txt", "not a csv of this glob\n")
        types = {"id": "int", "amount": "decimal"}
        first = self.run_one(
            Integration(
                "to-parquet",
                source=self.connection("csv", "landing/*.csv", types=types),
                target=self.connection("parquet", "out/orders.parquet"),
                batch_size=2,
            )
        )
        self.assertTrue(first.ok, first["to-parquet"].error)
        with self.fs.open(f"{self.prefix}/out/orders.parquet", "rb") as stream:
            table = pyarrow.parquet.read_table(stream)
        self.assertEqual(table.column("id").to_pylist(), [10, 11, 12, 20, 21, 22])
        self.assertEqual(str(table.schema.field("id").type), "int64")  # the declared type, not the values'
        second = self.run_one(
            Integration(
                "to-jsonl",
                source=self.connection("parquet", "out"),
                target=self.connection("jsonl", "out/orders.jsonl"),
            )
        )
        self.assertTrue(second.ok, second["to-jsonl"].error)
        lines = [json.loads(line) for line in self.text("out/orders.jsonl").splitlines()]
        self.assertEqual(lines[0], {"id": 10, "amount": "0.5"})
        self.assertEqual(len(lines), 6)
        self.assertEqual(
            sorted(self.fs.ls(f"{self.prefix}/out", detail=False)),
            [f"{self.prefix}/out/orders.jsonl", f"{self.prefix}/out/orders.parquet"],  # no temporary object left
        )

    def test_an_incremental_read_of_an_s3_folder_takes_only_the_rows_of_new_files(self):
        self.put("feed/a.csv", "id,name\n1,ada\n2,bob\n")
        integration = Integration(
            "feed",
            source=self.connection("csv", "feed", types={"id": "int"}),
            target=Connection("memory", {"store": "feed"}),
            mode="incremental",
            cursor="id",
        )
        self.assertTrue(self.run_one(integration).ok)
        self.assertEqual([row["id"] for row in self.integrator.stores["feed"]], [1, 2])
        self.put("feed/b.csv", "id,name\n3,cyd\n4,dee\n")  # arrives between two runs
        again = self.run_one(integration)
        self.assertTrue(again.ok, again["feed"].error)
        self.assertEqual(again["feed"].rows_written, 2)
        self.assertEqual([row["id"] for row in self.integrator.stores["feed"]], [1, 2, 3, 4])
        self.assertEqual(self.pdi.get(StateStore).checkpoint("s3", "feed").high_watermark, 4)
        nothing_new = self.run_one(integration)
        self.assertEqual(nothing_new["feed"].rows_written, 0)

    def test_an_appending_target_keeps_the_object_and_a_failed_run_leaves_it_as_it_was(self):
        self.put("log/all.csv", "id,day\n1,1\n")
        self.put("in/day2.csv", "id,day\n20,2\n21,2\n")
        target = self.connection("csv", "log/all.csv", append=True)
        self.assertTrue(self.run_one(Integration("append", source=self.connection("csv", "in"), target=target)).ok)
        self.assertEqual(self.text("log/all.csv").splitlines(), ["id,day", "1,1", "20,2", "21,2"])
        broken = self.connection("csv", "in", columns=["id", "nope"])
        self.assertEqual(self.run_one(Integration("append", source=broken, target=target)).status, "failed")
        self.assertEqual(self.text("log/all.csv").splitlines(), ["id,day", "1,1", "20,2", "21,2"])

    def test_an_empty_source_makes_a_parquet_object_with_the_columns_of_the_first_remote_file(self):
        self.put("empty/only-header.csv", "id,name\n")
        result = self.run_one(
            Integration(
                "empty",
                source=self.connection("csv", "empty", types={"id": "int"}),
                target=self.connection("parquet", "out/empty.parquet"),
            )
        )
        self.assertTrue(result.ok, result["empty"].error)
        with self.fs.open(f"{self.prefix}/out/empty.parquet", "rb") as stream:
            schema = pyarrow.parquet.read_schema(stream)
        self.assertEqual([(field.name, str(field.type)) for field in schema], [("id", "int64"), ("name", "string")])

    # -- what the store refuses ------------------------------------------------------------------

    def failure(self, source: Connection) -> str:
        result = self.run_one(Integration("x", source=source, target=Connection("memory", {"store": "x"})))
        self.assertEqual(result.status, "failed")
        error = result["x"].error
        self.assertNotIn("Traceback", error)
        return error

    def assert_nowhere(self, secret: str, error: str) -> None:
        self.assertNotIn(secret, error)
        self.assertNotIn(secret, self.printed.getvalue())
        for event in self.events:
            self.assertNotIn(secret, repr(event))

    def test_a_missing_bucket_and_a_missing_file_name_the_path(self):
        error = self.failure(
            Connection("csv", {"path": "s3://no-such-bucket/a.csv", "storage_options": _SERVER.fsspec_options()})
        )
        self.assertIn("csv connection: path: s3://no-such-bucket/a.csv does not exist", error)
        error = self.failure(self.connection("csv", "nothing/here.csv"))
        self.assertIn(f"path: {self.url('nothing/here.csv')} does not exist", error)

    def test_an_endpoint_that_does_not_answer_names_storage_options_and_shows_no_secret(self):
        secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
        options = fsspec_options(
            f"http://127.0.0.1:{free_port()}", secret=secret, config_kwargs={"retries": {"max_attempts": 1}}
        )
        error = self.failure(Connection("csv", {"path": self.url("a.csv"), "storage_options": options}))
        self.assertIn("csv connection: storage_options: cannot reach the store of", error)
        self.assert_nowhere(secret, error)

    def test_no_credentials_at_all_name_storage_options(self):
        empty = tempfile.NamedTemporaryFile(prefix="pdip-aws-")  # noqa: SIM115 - closed by the cleanup
        self.addCleanup(empty.close)
        environment = {
            "AWS_SHARED_CREDENTIALS_FILE": empty.name,
            "AWS_CONFIG_FILE": empty.name,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        hidden = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
        options = {"endpoint_url": _SERVER.endpoint, "client_kwargs": {"region_name": "us-east-1"}}
        with mock.patch.dict(os.environ, environment):
            for name in hidden:
                os.environ.pop(name, None)
            error = self.failure(Connection("csv", {"path": self.url("a.csv"), "storage_options": options}))
        self.assertIn("csv connection: storage_options: no credentials for", error)

    def test_credentials_the_store_refuses_name_storage_options_and_show_no_secret(self):
        checking = started_or_missing(BUCKET, "a check of credentials", checks_credentials=True)
        self.addCleanup(checking.stop)
        secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
        options = checking.fsspec_options(key="AKIAWRONGKEY0000", secret=secret)
        connection = Connection("csv", {"path": f"s3://{BUCKET}/a.csv", "storage_options": options}, name="landing")
        error = self.failure(connection)
        self.assertIn("csv connection 'landing': storage_options: the store refused access to", error)
        self.assertIn("check the credentials", error)
        self.assert_nowhere(secret, error)
        self.integrator.stores["one"] = [{"id": 1}]
        written = self.run_one(Integration("y", source=Connection("memory", {"store": "one"}), target=connection))
        self.assertEqual(written.status, "failed")
        self.assertIn("csv connection 'landing': storage_options: the store refused access", written["y"].error)
        self.assert_nowhere(secret, written["y"].error)


if __name__ == "__main__":
    unittest.main()
