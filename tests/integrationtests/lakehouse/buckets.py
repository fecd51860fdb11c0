"""A moto S3 server with a bucket `lake`, started once for a lakehouse test case's class
(tests/support/object_store.py)."""

from __future__ import annotations

from tests.support.object_store import ObjectStore, started_or_missing


class LakeBucket:
    """Mixed in before `unittest.TestCase`: `cls.store` is the running server."""

    store: ObjectStore

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.store = started_or_missing("lake", "lakehouse tables on S3")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.store.stop()
        super().tearDownClass()
