"""`S3Exporter`: change-log entries written to S3 (or any S3-compatible store), one object per batch.

    exporter = S3Exporter("audit-bucket", prefix="carts/", batch_size=1_000, max_delay=60)
    cart = TrackedDict({}, name="cart", observers=[exporter])

Each batch becomes one JSON Lines object (`read_json_lines` reads a downloaded one back), named
`<prefix><UTC time of the write>-<random>.jsonl`, so objects list in the order they were
written and two writers never share a name. The client is boto3's, with its usual credential
chain (environment, profile, instance role); `client_options` go to `boto3.client("s3", ...)`
(`endpoint_url`, `region_name`, ...) and `client=` takes a client of your own. A write that
fails raises `ExportError` naming the bucket, the object and the store's error code, and the
entries wait for the next flush (see `BatchingExporter`). Credentials are never shown.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.errors import ExportError
from pdip.tracking.exporters import BatchingExporter


class S3Exporter(BatchingExporter):
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "changes/",
        client: Any = None,
        client_options: Mapping[str, Any] | None = None,
        batch_size: int = 1_000,
        max_delay: float | None = None,
        max_pending: int = 100_000,
        priority: int = 0,
        logger: Any = None,
    ):
        super().__init__(
            batch_size=batch_size, max_delay=max_delay, max_pending=max_pending, priority=priority, logger=logger
        )
        if not isinstance(bucket, str) or not bucket:
            raise ValueError(f"bucket: expected a bucket name; got {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix
        self.client = client if client is not None else _client(client_options or {})
        self.objects: list[str] = []  # the names written, oldest first

    def _prepare(self, entry: ChangeLogEntry) -> str:
        return entry.to_json() + "\n"

    def _write(self, batch: list[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = dt.datetime.now(dt.timezone.utc)
        name = f"{self.prefix}{now:%Y%m%dT%H%M%S.%f}Z-{os.urandom(4).hex()}.jsonl"
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body="".join(batch).encode(), ContentType="application/x-ndjson"
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            raise ExportError(
                f"s3://{self.bucket}/{name}: the store refused {len(batch)} change-log entries ({code}); "
                "they wait for the next flush"
            ) from None
        except BotoCoreError as error:
            raise ExportError(
                f"s3://{self.bucket}/{name}: cannot write {len(batch)} change-log entries "
                f"({type(error).__name__}); they wait for the next flush"
            ) from None
        self.objects.append(name)

    def __repr__(self) -> str:
        return f"S3Exporter('s3://{self.bucket}/{self.prefix}', pending={self.pending})"


def _client(options: Mapping[str, Any]) -> Any:
    try:
        import boto3
    except ImportError:  # pragma: no cover - only without the [s3] extra
        raise ImportError("S3Exporter needs boto3: pip install 'pdip[s3]', or pass client=") from None
    return boto3.client("s3", **options)
