"""A Delta commit written while its batches arrive, and made only once the last one is in.

delta-rs takes a commit's metadata (the position it carries) when a write starts, so a commit
streamed from its batches could not carry the position of the last. The batches are therefore
streamed into a staging table in a folder of the table's own (`pdip-staged-<id>`), delta-rs
writing their Parquet files (with its statistics, partition folders and constraint checks)
while the source reads on; when the commit is due, the files that write added are committed to
the table in one commit carrying the position (`create_write_transaction`), so the rows and the
position become visible together. The files are not copied: the table's log names them in the
staging folder, as it names a replaced table's in its twin (docs/adr/0031). A run that stops
before the commit leaves files no commit names, which the table's `VACUUM` removes.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

FOLDER = "pdip-staged-"
_END, _STOP = object(), object()  # what the stream is told: the commit is due; the run is over
_WAIT = 0.5  # seconds between looks at the writing thread, while the stream is full


def stageable(table: Any) -> bool:
    """Files a staging table writes are the table's only without column mapping (whose files
    name columns by ids the staging table would not share)."""
    return table.metadata().configuration.get("delta.columnMapping.mode", "none") == "none"


class StagedCommits:
    """The commits of one target into `table` (at `uri`): each streamed into the staging table
    while its batches arrive, then committed with its position."""

    def __init__(self, deltalake: Any, table: Any, uri: str, options: dict[str, str]):
        self.deltalake, self.table, self.options = deltalake, table, options
        self.folder = f"{FOLDER}{uuid.uuid4().hex[:12]}"
        self.uri = f"{uri.rstrip('/')}/{self.folder}"
        self._staging: Any = None
        self._stream: Stream | None = None

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def add(self, record: Any) -> None:
        """`record`'s rows, on their way into the next commit's files (the first starts them)."""
        if self._stream is None:
            self._stream = Stream(self.deltalake, self._staging_table(), record.schema)
        self._stream.put(record)

    def commit(self, properties: Any) -> None:
        """The files written since the first `add`, committed to the table with `properties`
        (the position)."""
        stream, self._stream = self._stream, None
        stream.finish()
        self.table.create_write_transaction(
            self._added(),
            mode="append",
            schema=self.table.schema(),
            partition_by=self.table.metadata().partition_columns or None,
            commit_properties=properties,
        )

    def stop(self) -> None:
        """The stream ends without a commit (the run failed or stopped): its files stay unnamed."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()

    def _staging_table(self) -> Any:
        """The staging table: the table's schema, partitions and CHECK constraints, made at the
        first commit of rows."""
        if self._staging is None:
            metadata = self.table.metadata()
            self._staging = self.deltalake.DeltaTable.create(
                self.uri,
                self.table.schema(),
                partition_by=metadata.partition_columns or None,
                storage_options=self.options or None,
            )
            checks = {
                name.removeprefix("delta.constraints."): rule
                for name, rule in metadata.configuration.items()
                if name.startswith("delta.constraints.") and rule
            }
            if checks:
                self._staging.alter.add_constraint(checks)
        return self._staging

    def _added(self) -> list[Any]:
        """The files the staging table's last commit added, as the table's: read from that
        commit's log entry, so paths and statistics are the ones delta-rs wrote."""
        from deltalake.fs import DeltaStorageHandler

        self._staging.update_incremental()
        entry = f"_delta_log/{self._staging.version():020d}.json"
        with DeltaStorageHandler(self.uri, self.options or None).open_input_file(entry) as file:
            lines = file.read().decode("utf-8").splitlines()
        adds = [action["add"] for action in map(json.loads, filter(None, lines)) if "add" in action]
        return [
            self.deltalake.transaction.AddAction(
                f"{self.folder}/{urllib.parse.unquote(add['path'])}",  # the log's paths are URL-encoded
                add["size"],
                add.get("partitionValues") or {},
                add["modificationTime"],
                True,
                add.get("stats") or "{}",
            )
            for add in adds
        ]


class Stream:
    """One delta-rs write into the staging table, in a thread of its own, taking record batches
    from a short queue as the target receives them (a full queue holds the target back)."""

    def __init__(self, deltalake: Any, staging: Any, schema: Any):
        import pyarrow

        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        reader = pyarrow.RecordBatchReader.from_batches(schema, taken(self._queue))
        self._thread = threading.Thread(
            target=self._write, args=(deltalake, staging, reader), name="pdip-delta-stream", daemon=True
        )
        self._thread.start()

    def _write(self, deltalake: Any, staging: Any, reader: Any) -> None:
        try:
            deltalake.write_deltalake(staging, reader, mode="overwrite")
        except BaseException as error:  # noqa: BLE001 - handed to the target's thread, raised there
            self._error = error

    def put(self, record: Any) -> None:
        for batch in record.to_batches():
            self._send(batch)

    def finish(self) -> None:
        """The write ended; its error, if it failed, raised here."""
        self._send(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        try:
            self._queue.put(_STOP, timeout=_WAIT)
        except queue.Full:  # pragma: no cover - the thread is gone or stuck; it is a daemon
            return
        self._thread.join(timeout=60)

    def _send(self, item: Any) -> None:
        while self._thread.is_alive():  # once its write failed, it takes nothing more
            try:
                self._queue.put(item, timeout=_WAIT)
                return
            except queue.Full:
                continue
        self._thread.join()
        raise self._error or StreamStopped("the write into the staging table ended early")


def taken(waiting: queue.Queue) -> Iterator[Any]:
    """The record batches put in `waiting`, until the commit is due (`_END`); the run ending
    first (`_STOP`) fails the write. (Called by delta-rs, on a thread of its own.)"""
    while (item := waiting.get()) is not _END:
        if item is _STOP:
            raise StreamStopped("the run stopped before the commit")
        yield item


class StreamStopped(Exception):
    """A staged write ended without its commit."""
