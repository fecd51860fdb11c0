"""What the dask executor lets into a task graph, and what it refuses (no cluster needed)."""

import pickle
import unittest
import unittest.mock

from pdip.cryptography import CryptoService
from pdip.integrator import Connection, Integration, OperationError
from pdip.integrator.adapters import ReadRequest
from pdip.integrator.adapters.file.rows import FileTarget
from pdip.integrator.adapters.memory import MemoryTarget
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.executors.dask import DaskSession, _open, unsuited
from pdip.integrator.runs.partitions import PartitionJob


def job(password=None) -> PartitionJob:
    settings = {"url": "postgresql+psycopg://app@db/warehouse", "table": "orders"}
    if password:
        settings["password"] = password
    integration = Integration(
        "orders", source=Connection("postgresql", settings), target=Connection("postgresql", settings)
    )
    return PartitionJob(integration, ReadRequest(100), "rows", "op/orders", True, "run-1", None, None, "q", "l", "p")


def session(key):
    made = DaskSession.__new__(DaskSession)
    made.key = key
    return made


class SealingTest(unittest.TestCase):
    def test_with_a_key_the_job_travels_encrypted_and_the_worker_opens_it(self):
        key = CryptoService.generate_key()
        encrypted, payload = session(key).seal(job(password="s3cret-pw"))
        self.assertTrue(encrypted)
        self.assertNotIn(b"s3cret-pw", payload)
        opened = pickle.loads(CryptoService([key]).decrypt_bytes(payload))
        self.assertEqual(opened.integration.source.settings["password"], "s3cret-pw")

    def test_the_worker_decrypts_with_the_key_in_its_environment(self):
        key = CryptoService.generate_key()
        _, payload = session(key).seal(job(password="pw"))
        with unittest.mock.patch.dict("os.environ", {"APPLICATION_SECRET_KEY": key}):
            self.assertEqual(_open(True, payload).slot, "op/orders")

    def test_without_a_key_a_job_without_secrets_travels_as_it_is(self):
        encrypted, payload = session(None).seal(job())
        self.assertFalse(encrypted)
        self.assertEqual(_open(False, payload).integration.name, "orders")

    def test_without_a_key_a_job_with_a_secret_is_refused_with_what_to_set(self):
        with self.assertRaises(OperationError) as raised:
            session(None).seal(job(password="s3cret-pw"))
        self.assertIn("APPLICATION_SECRET_KEY is not set", str(raised.exception))
        self.assertNotIn("s3cret-pw", str(raised.exception))


class SuitabilityTest(unittest.TestCase):
    def test_memory_stores_and_whole_file_targets_cannot_run_as_tasks(self):
        memory = Integration(
            "m", source=Connection("memory", {"store": "a"}), target=Connection("memory", {"store": "b"})
        )
        self.assertRegex(
            unsuited(memory, MemoryTarget(memory.target, None), AdapterRegistry()),
            "a memory source lives in the calling process",
        )
        to_file = Integration("f", source=Connection("sqlite", {}), target=Connection("csv", {"path": "out.csv"}))
        self.assertRegex(
            unsuited(to_file, FileTarget(to_file.target, None), AdapterRegistry()),
            "a csv target is written whole at the end",
        )


if __name__ == "__main__":
    unittest.main()
