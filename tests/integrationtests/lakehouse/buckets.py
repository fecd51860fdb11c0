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

    def options(self, secret: str = "pdip-test") -> dict[str, str]:
        """delta-rs's storage options for the server, with `secret` as the secret key."""
        return {
            "AWS_ENDPOINT_URL": self.store.endpoint,
            "AWS_ACCESS_KEY_ID": "pdip-test",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
