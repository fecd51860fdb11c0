"""The adapter contract: what every store's adapter does, written once and run against each store.

    class ThingContract(AdapterContract, unittest.TestCase):
        kind = "thing"
        def store(self, name): return Connection("thing", {"where": name})   # a table, file, topic...
        def refusal(self): ...                                                 # a row the store refuses
        def with_secret(self, secret): ...                                     # a failing connection holding it

A new adapter is done when its subclass passes. The hooks say what differs between stores: how a
store is named (`store`), how one is filled (`fill`, by default through the store's own target)
and read back (`read_back`, by default through its own source), which types it keeps and how
each comes back (`supported`, `returned`), whether its target commits per batch and stores
positions, and what it refuses. Everything runs through the public `Integrator.integrate`, on
the store's `executor`; `close()`, `describe()` and settings are also checked on the store's
`Source` and `Target` directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import tempfile
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation, OperationError, StateStore
from pdip.integrator.adapters.base import ReadRequest
from pdip.integrator.adapters.registry import AdapterRegistry
from pdip.integrator.base import Integrator
from pdip.integrator.batch import Batch
from pdip.integrator.events import BatchWritten, Event
from pdip.integrator.results import ExecutionResult, RunContext

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))

# One column per type, with values at the edges of each; `id` orders the rows.
COLUMNS: dict[str, pyarrow.DataType] = {
    "id": pyarrow.int64(),
    "small": pyarrow.int32(),
    "big": pyarrow.int64(),
    "ratio": pyarrow.float64(),
    "amount": pyarrow.decimal128(38, 4),
    "flag": pyarrow.bool_(),
    "label": pyarrow.string(),
    "day": pyarrow.date32(),
    "at": pyarrow.timestamp("us", tz="+02:00"),
    "blob": pyarrow.binary(),
}
SAMPLE: list[dict[str, Any]] = [
    {
        "id": 1,
        "small": 2_147_483_647,
        "big": 9_223_372_036_854_775_807,
        "ratio": 0.1,
        "amount": Decimal("12345678901234.5678"),
        "flag": True,
        "label": "héllo wörld ✓ 日本語 🚀",
        "day": dt.date(2024, 2, 29),
        "at": dt.datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=PLUS_TWO),
        "blob": b"\x00\xffbytes",
    },
    {
        "id": 2,
        "small": -2_147_483_648,
        "big": -9_223_372_036_854_775_808,
        "ratio": -1.5e300,
        "amount": Decimal("-0.0001"),
        "flag": False,
        "label": "",
        "day": dt.date(1970, 1, 1),
        "at": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=PLUS_TWO),
        "blob": b"",
    },
    {"id": 3, **dict.fromkeys(["small", "big", "ratio", "amount", "flag", "label", "day", "at", "blob"])},
]
CORE = ("id", "small", "big", "ratio", "amount", "flag", "label", "day", "at")  # every store keeps these


def table_of(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pyarrow.Table:
    """`rows` as an Arrow table of `columns` with their declared types (a memory store that knows them)."""
    schema = pyarrow.schema([(name, COLUMNS[name]) for name in columns])
    return pyarrow.Table.from_pylist([{name: row[name] for name in columns} for row in rows], schema=schema)


def typed(values) -> list[tuple[str, Any]]:
    return [(type(value).__name__, value) for value in values]


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    """How a datetime comes back from a store without time zones: the same instant, in UTC."""
    return None if value is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def iso_text(value: Any) -> str | None:
    """How a date or datetime comes back from a store that keeps them as JSON text."""
    return None if value is None else value.isoformat()


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# Rows whose `count` is a number but for two, and a table whose `count` takes only integers: what
# a typed target (Parquet, Delta, Iceberg) refuses, row by row.
COUNTED = [{"id": 1, "count": 10}, {"id": 3, "count": 30}, {"id": 5, "count": 50}]
UNCOUNTED = [{"id": 2, "count": "twenty"}, {"id": 4, "count": "forty"}]
COUNTS = pyarrow.schema([("id", pyarrow.int64()), ("count", pyarrow.int64())])


@dataclasses.dataclass
class Refusal:
    """An integration in which the store refuses some rows (as target, or as source: a bad line)
    and the ids of the rows that land, read back from `landed`."""

    source: Connection
    target: Connection
    refused: int
    landed_ids: list[int]
    landed: Callable[[], list[dict[str, Any]]]


class AdapterContract:
    """The contract's tests; mix into `unittest.TestCase` and fill in the hooks below."""

    kind: str  # the connection kind under test
    executor = "inline"  # the executor its runs use ("process" for stores read in a reader process)
    supported: tuple[str, ...] = CORE  # the columns of SAMPLE whose type the store keeps
    returned: dict[str, Callable[[Any], Any]] = {}  # how a column's values come back (default: equal)
    commits_per_batch = True  # its target makes each batch durable (a resumed run goes on)
    stores_positions = False  # its target stores each batch's position with its rows
    truncates = True  # its target can be emptied (a topic cannot)
    knows_empty_columns = True  # an empty store still says its columns (`columns_of`)
    misspelt = ("pth", "path")  # an unknown setting and the closest declared one

    # -- hooks --------------------------------------------------------------------------------------

    def store(self, name: str) -> Connection:
        """The connection of a store called `name` (a table, a file, a topic), read or written."""
        raise NotImplementedError

    def source_of(self, name: str) -> Connection:
        """The store `name` as a source (a CSV file adds its `types:`); the store by default."""
        return self.store(name)

    def fill(self, name: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Make `name` hold `rows` (none: an empty store with these columns), by default through
        the store's own target from a memory store that declares the columns' types."""
        self.integrator.stores[f"fill-{name}"] = table_of(rows, columns)
        self.run_ok(Connection("memory", {"store": f"fill-{name}"}), self.store(name), name=f"fill-{name}")

    def read_back(self, name: str) -> list[dict[str, Any]]:
        """What the store `name` holds, by default read through its own source into memory."""
        back = f"back-{uuid.uuid4().hex[:8]}"
        self.run_ok(self.source_of(name), Connection("memory", {"store": back}), name=back, create=False)
        return self.integrator.stores.records(back)

    def columns_of(self, name: str) -> list[str] | None:
        """The columns the store `name` has (None: it cannot say, when it holds no rows)."""
        raise NotImplementedError

    def refusal(self) -> Refusal:
        """An integration in which the store refuses some rows."""
        raise NotImplementedError

    def with_secret(self, secret: str) -> Connection:
        """A connection of this kind holding `secret` (a password, a token) whose read fails."""
        raise NotImplementedError

    def check_resumed(self, source: str) -> None:
        """What else a resumed run leaves in the store `source` it read (a consumer group's offsets)."""

    def refused_by_the_target(
        self, good: list[dict[str, Any]] = COUNTED, bad: list[dict[str, Any]] = UNCOUNTED, target: str | None = None
    ) -> Refusal:
        """Rows from memory (in id order), of which the store `target` (a new one by default; one
        made beforehand with the columns that refuse them) refuses `bad`."""
        self.integrator.stores["refusing"] = sorted([*good, *bad], key=lambda row: row["id"])
        target = target or self.unique("refusing")
        landed = sorted(row["id"] for row in good)
        return Refusal(
            Connection("memory", {"store": "refusing"}),
            self.store(target),
            len(bad),
            landed,
            lambda: self.read_back(target),
        )

    # -- the run ------------------------------------------------------------------------------------

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix=f"pdip-contract-{self.kind}-")
        self.addCleanup(folder.cleanup)
        self.root = Path(folder.name)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.integrator = self.pdi.get(Integrator)
        self.events: list[Event] = []
        self.integrator.subscribe(Event, self.events.append)
        self.printed = io.StringIO()  # what the run logs (failures), kept out of the test output

    def unique(self, role: str) -> str:
        return f"pdip_contract_{role}_{uuid.uuid4().hex[:8]}"

    def integrate(self, source: Connection, target: Connection, name: str = "copy", resume: bool = False, **options):
        create = options.pop("create", True)
        integration = Integration(
            "copy",
            source=source,
            target=target,
            create_target=create,
            truncate_target=create and self.truncates,
            **options,
        )
        with contextlib.redirect_stdout(self.printed), contextlib.redirect_stderr(self.printed):
            return self.integrator.integrate(Operation(name, [integration], executor=self.executor), resume=resume)

    def run_ok(self, source: Connection, target: Connection, name: str = "copy", **options) -> ExecutionResult:
        result = self.integrate(source, target, name, **options)
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        return result

    def expected(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
        """`rows` as the store gives them back."""
        kept = {name: self.returned.get(name, lambda value: value) for name in columns}
        return [{name: convert(row[name]) for name, convert in kept.items()} for row in rows]

    def by_id(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda row: int(row["id"]))

    def context(self) -> RunContext:
        return RunContext(self.integrator.stores, uuid.uuid4().hex, self.root)

    # -- the contract -------------------------------------------------------------------------------

    def test_the_adapter_declares_what_its_target_does(self):
        adapter = self.pdi.get(AdapterRegistry).adapter(self.kind)
        self.assertEqual(adapter.capabilities.stores_positions, self.stores_positions)
        self.assertEqual(adapter.target.commits_per_batch, self.commits_per_batch)
        self.assertIsNotNone(adapter.settings, "an adapter declares its settings")

    def test_every_supported_type_comes_back_equal(self):
        name = self.unique("types")
        self.fill(name, SAMPLE, self.supported)
        back, expected = self.by_id(self.read_back(name)), self.expected(SAMPLE, self.supported)
        self.assertEqual([row["id"] for row in back], [row["id"] for row in expected])
        for column in self.supported:
            with self.subTest(column=column):  # equal, and of the same type (True is not 1, 1.0 is not 1)
                self.assertEqual(typed(row[column] for row in back), typed(row[column] for row in expected))

    def test_an_empty_source_finishes_and_its_target_has_the_declared_columns(self):
        source, target = self.unique("empty"), self.unique("empty_copy")
        self.fill(source, [], self.supported)
        result = self.run_ok(self.source_of(source), self.store(target))
        self.assertEqual((result.integrations[0].rows_read, result.integrations[0].rows_written), (0, 0))
        if self.knows_empty_columns:
            self.assertEqual(self.columns_of(target), list(self.supported))
        self.assertEqual(self.read_back(target), [])

    def test_a_run_interrupted_after_two_batches_resumes_without_duplicates_or_losses(self):
        source, target = self.unique("resume"), self.unique("resume_copy")
        rows = [{**SAMPLE[0], "id": number, "label": f"row {number}"} for number in range(1, 11)]
        columns = ("id", "label", "day")
        self.fill(source, rows, columns)
        batches = []

        def interrupt(event: BatchWritten) -> None:
            batches.append(event.rows)
            if len(batches) == 2:
                raise KeyboardInterrupt  # as Ctrl-C would, once two batches are durable

        self.integrator.subscribe(BatchWritten, interrupt)
        stopped = self.integrate(self.source_of(source), self.store(target), "resumable", batch_size=3)
        self.assertEqual(stopped.status, "interrupted")
        batches.append("resumed")  # the subscriber interrupts no more
        resumed = self.integrate(self.source_of(source), self.store(target), "resumable", resume=True, batch_size=3)
        self.assertEqual(resumed.status, "finished", resumed.integrations[0].error)
        self.assertEqual(resumed.execution_id, stopped.execution_id)
        # a target that commits per batch goes on after the 6 rows it has; a file starts over
        self.assertEqual(resumed.integrations[0].rows_written, 4 if self.commits_per_batch else 10)
        self.assertEqual(self.by_id(self.read_back(target)), self.expected(rows, columns))
        self.check_resumed(source)

    def test_refused_rows_are_dead_lettered_with_their_position_and_the_others_land(self):
        refusal = self.refusal()
        result = self.integrate(refusal.source, refusal.target, "refusing", max_errors=10)
        self.assertEqual(result.status, "finished", result.integrations[0].error)
        self.assertEqual(result.integrations[0].rows_dead_lettered, refusal.refused)
        letters = self.pdi.get(StateStore).dead_letters(result.execution_id)
        self.assertEqual(len(letters), refusal.refused)
        for letter in letters:
            self.assertIsNotNone(letter["position"], letter)
            self.assertTrue(letter["reason"].strip(), letter)
        self.assertEqual(sorted(int(row["id"]) for row in refusal.landed()), refusal.landed_ids)

    def test_an_unknown_setting_is_refused_before_any_data_moves(self):
        wrong, closest = self.misspelt
        name = self.unique("unknown")
        misspelt = Connection(self.kind, {**self.store(name).settings, wrong: "x"})
        self.integrator.stores["unknown"] = [{"id": 1}]
        for role, source, target in (
            ("source", misspelt, Connection("memory", {"store": "never"})),
            ("target", Connection("memory", {"store": "unknown"}), misspelt),
        ):
            with self.subTest(role=role):
                with self.assertRaises(OperationError) as raised:
                    self.integrate(source, target, f"unknown-{role}")
                self.assertIn(f"{role}.{wrong}", str(raised.exception))
                self.assertIn(f"did you mean {closest!r}", str(raised.exception))
        self.assertNotIn("never", self.integrator.stores)
        self.assertEqual(self.pdi.get(StateStore).executions(), [])  # no run even started

    def test_closing_twice_a_fresh_or_a_used_source_and_target_does_not_raise(self):
        registry, name = self.pdi.get(AdapterRegistry), self.unique("close")
        self.fill(name, SAMPLE[:2], ("id", "label"))
        for used in (False, True):
            with self.subTest(used=used):
                source = registry.source(self.source_of(name), self.context())
                target = registry.target(self.store(self.unique("closed")), self.context())
                if used:
                    self.assertEqual(sum(len(batch) for batch in source.read(ReadRequest(100))), 2)
                    target.prepare(["id", "label"], create=True, truncate=self.truncates)
                    self.assertEqual(target.write(Batch.from_dicts([{"id": 1, "label": "a"}])).written, 1)
                    target.commit()
                source.close()
                source.close()
                target.close()
                target.close()

    def test_neither_describe_nor_a_failed_run_shows_a_secret(self):
        secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
        connection = self.with_secret(secret)
        registry = self.pdi.get(AdapterRegistry)
        for made in (registry.source(connection, self.context()), registry.target(connection, self.context())):
            try:
                self.assertNotIn(secret, made.describe())
            finally:
                made.close()
        self.assertNotIn(secret, repr(connection))
        result = self.integrate(connection, Connection("memory", {"store": "leak"}), "secret", create=False)
        self.assertEqual(result.status, "failed")
        self.assertNotIn(secret, result.integrations[0].error)
        self.assertTrue(self.events)
        for event in self.events:
            self.assertNotIn(secret, repr(event))
        self.assertNotIn(secret, self.printed.getvalue())
