"""Remote files' staging (`adapters/file/remote.py`) on fsspec's in-process `memory://`
filesystem: how the store's failures are told, and what an upload leaves behind."""

import unittest
import uuid
from pathlib import Path
from unittest import mock

import fsspec

from pdip.integrator import OperationError
from pdip.integrator.adapters.file import remote

LABEL = "csv connection 'landing'"


class StoreErrorsTest(unittest.TestCase):
    def told(self, error: Exception, options=None) -> str:
        with self.assertRaises(OperationError) as raised, remote.store_errors("s3://b/a.csv", options, LABEL):
            raise error
        return str(raised.exception)

    def test_each_failure_names_the_setting_and_masks_every_option_value(self):
        options = {"key": "AKIA-KEY", "client_kwargs": {"tokens": ["tok-1234", True]}, "anon": False}
        told = self.told(RuntimeError("signed with AKIA-KEY and tok-1234 failed"), options)
        self.assertEqual(
            told, f"{LABEL}: path: s3://b/a.csv: the store failed (RuntimeError: signed with *** and *** failed)"
        )
        self.assertIn("path: s3://b/a.csv does not exist", self.told(FileNotFoundError("gone")))
        self.assertIn("storage_options: the store refused access", self.told(PermissionError()))
        no_credentials = type("NoCredentialsError", (Exception,), {})
        self.assertIn("storage_options: no credentials for s3://b/a.csv", self.told(no_credentials()))
        self.assertIn("storage_options: cannot reach the store", self.told(ConnectionRefusedError("refused")))

    def test_a_protocol_whose_package_is_missing_names_the_extra(self):
        with mock.patch("fsspec.core.url_to_fs", side_effect=ImportError("no gcsfs")):
            with self.assertRaises(OperationError) as raised:
                remote.filesystem("gs://bucket/a.csv", None, LABEL)
        self.assertEqual(
            str(raised.exception),
            f"{LABEL}: path: gs:// URLs need a package not installed here: pip install 'pdip[gcs]'",
        )
        with mock.patch("fsspec.core.url_to_fs", side_effect=ImportError("no such")):
            with self.assertRaises(OperationError) as raised:
                remote.filesystem("weird://bucket/a.csv", None, LABEL)
        self.assertIn("install the fsspec package of that protocol", str(raised.exception))


class StagingTest(unittest.TestCase):
    def setUp(self):
        self.fs = fsspec.filesystem("memory")
        self.base = f"/pdip-{uuid.uuid4().hex[:8]}"
        self.addCleanup(self.fs.rm, self.base, recursive=True)
        self.fs.pipe_file(f"{self.base}/a.csv", b"id\n1\n")

    def staging(self, name: str) -> remote.Staging:
        staging = remote.Staging(f"memory://{self.base}/{name}", None, LABEL)
        self.addCleanup(staging.close)
        return staging

    def test_a_file_gone_before_its_download_and_a_target_not_there_yet(self):
        staging = self.staging("b.csv")
        with self.assertRaises(OperationError) as raised:
            staging.download(f"{self.base}/gone.csv")
        self.assertIn("path: memory://", str(raised.exception))
        self.assertIn("does not exist", str(raised.exception))
        self.assertFalse(staging.fetch_existing(staging.local_target()))

    def test_a_move_that_fails_removes_the_uploaded_temporary_file(self):
        staging = self.staging("b.csv")
        local = Path(staging.folder) / "b.csv"
        local.write_text("id\n2\n")
        with mock.patch.object(staging.fs, "mv", side_effect=RuntimeError("no move today")):
            with self.assertRaises(OperationError) as raised:
                staging.publish(local)
        self.assertIn("the store failed (RuntimeError: no move today)", str(raised.exception))
        self.assertEqual(self.fs.ls(self.base, detail=False), [f"{self.base}/a.csv"])


if __name__ == "__main__":
    unittest.main()
