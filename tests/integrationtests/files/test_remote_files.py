"""Files behind fsspec URLs, on fsspec's in-process `memory://` filesystem."""

import contextlib
import io
import tempfile
import unittest
import uuid

import fsspec

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.file.rows import FileSource


class RemoteFilesTest(unittest.TestCase):
    def setUp(self):
        self.fs = fsspec.filesystem("memory")
        self.base = f"/pdip-{uuid.uuid4().hex[:8]}"
        self.addCleanup(self.fs.rm, self.base, recursive=True)
        self.pdi = Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-remote-"))
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        for day in range(1, 4):
            self.put(f"landing/day{day}.csv", "id,day\n" + "".join(f"{day}{i},{day}\n" for i in range(4)))
        self.put("landing/.hidden.csv", "id,day\n99,9\n")

    def put(self, name: str, text: str) -> None:
        with self.fs.open(f"{self.base}/{name}", "w") as stream:
            stream.write(text)

    def url(self, name: str) -> str:
        return f"memory://{self.base}/{name}"

    def run_one(self, integration: Integration):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.integrator.integrate(Operation("remote", [integration], executor="inline"))

    def test_a_remote_folder_goes_to_a_remote_parquet_file_placed_whole(self):
        result = self.run_one(
            Integration(
                "out",
                source=Connection("csv", {"path": self.url("landing"), "types": {"id": "int", "day": "int"}}),
                target=Connection("parquet", {"path": self.url("out/all.parquet")}),
                batch_size=5,
            )
        )
        self.assertTrue(result.ok, result["out"].error)
        self.assertEqual(self.fs.ls(f"{self.base}/out", detail=False), [f"{self.base}/out/all.parquet"])
        back = self.run_one(
            Integration(
                "back",
                source=Connection("parquet", {"path": self.url("out/*.parquet")}),
                target=Connection("memory", {"store": "back"}),
            )
        )
        self.assertEqual(back["back"].rows_read, 12)
        self.assertEqual(
            [row["id"] for row in self.integrator.stores["back"]], [d * 10 + i for d in (1, 2, 3) for i in range(4)]
        )
        checkpoint = self.pdi.get(StateStore).checkpoint("remote", "out")
        self.assertEqual(checkpoint.positions, {"": {"file": "day3.csv", "row": 4}})

    def test_an_appending_remote_target_keeps_what_was_there_and_a_failed_run_leaves_it_untouched(self):
        self.put("out/log.csv", "id,day\n1,1\n")
        source = Connection("csv", {"path": self.url("landing/day2.csv")})
        target = Connection("csv", {"path": self.url("out/log.csv"), "append": True})
        self.assertTrue(self.run_one(Integration("append", source=source, target=target)).ok)
        with self.fs.open(f"{self.base}/out/log.csv", "r") as stream:
            self.assertEqual(stream.read().splitlines(), ["id,day", "1,1", "20,2", "21,2", "22,2", "23,2"])
        broken = Connection("csv", {"path": self.url("landing/*.csv"), "columns": ["id", "nope"]})
        self.assertEqual(self.run_one(Integration("append", source=broken, target=target)).status, "failed")
        with self.fs.open(f"{self.base}/out/log.csv", "r") as stream:
            self.assertEqual(len(stream.read().splitlines()), 6)
        self.assertEqual([name for name in self.fs.ls(f"{self.base}/out", detail=False) if "pdip-tmp" in name], [])

    def test_a_remote_folder_splits_into_partitions_of_whole_files_and_resumes_by_name(self):
        source = FileSource(Connection("csv", {"path": self.url("landing")}), self.integrator)
        self.addCleanup(source.close)
        parts = source.partitions(ReadRequest(10), 2)
        self.assertEqual([part.bounds for part in parts], [("day1.csv", "day2.csv"), ("day3.csv",)])
        rows = [row for batch in source.read(ReadRequest(10, resume={"file": "day2.csv", "row": 2})) for row in batch]
        self.assertEqual(rows, [("22", "2"), ("23", "2"), ("30", "3"), ("31", "3"), ("32", "3"), ("33", "3")])

    def test_a_missing_path_and_an_unknown_protocol_are_named(self):
        missing = self.run_one(
            Integration(
                "x",
                source=Connection("csv", {"path": self.url("nowhere")}),
                target=Connection("memory", {"store": "x"}),
            )
        )
        self.assertIn(f"{self.url('nowhere')} does not exist", missing["x"].error)
        unknown = self.run_one(
            Integration(
                "y",
                source=Connection("csv", {"path": "nosuchproto://a/b.csv"}),
                target=Connection("memory", {"store": "y"}),
            )
        )
        self.assertIn("path: cannot open nosuchproto:// URLs", unknown["y"].error)


if __name__ == "__main__":
    unittest.main()
