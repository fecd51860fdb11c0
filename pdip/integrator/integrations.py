"""What an integration is: a source `Connection`, a target `Connection` and how to move rows.

Operations (`pdip.integrator.models.Operation`) hold these and `pdip.integrator.loading` builds
them from YAML. They live below both so that the arrow goes one way: models imports loading (for
`Operation.from_yaml`), loading imports only this module. Import these names from
`pdip.integrator` or `pdip.integrator.models`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pdip.configuration.errors import closest

Mode = Literal["full", "incremental", "changes"]
MODES = ("full", "incremental", "changes")
Write = Literal["append", "replace", "merge"]
WRITES = ("append", "replace", "merge")
SCHEMA_CHANGES = ("evolve", "freeze", "discard_row", "discard_value")


@dataclasses.dataclass(frozen=True)
class Retries:
    """How often an integration is tried when a transient failure stops it (a lost connection, a
    deadlock, a broker away), and how long it waits in between: `backoff` seconds before the
    second attempt, twice as long before each next one, never more than `max_backoff`, each wait
    shortened by a random part of up to half (jitter). `attempts: 1` (the default) tries once.
    The mechanism is `pdip.integrator.runs.retrying`; docs/adr/0029 says why it works this way."""

    attempts: int = 1
    backoff: float = 1.0
    max_backoff: float = 60.0

    @classmethod
    def of(cls, value: Any) -> tuple[Retries, list[str]]:
        """`value` as given (a `Retries`, a mapping of its fields as YAML has it, or None) and the
        problems of it, each naming the key and what was expected."""
        if value is None or isinstance(value, Retries):
            return value or cls(), (value or cls())._problems()
        if not isinstance(value, Mapping):
            return cls(), [f"retries: expected a mapping of attempts, backoff and max_backoff, got {value!r}"]
        names = [field.name for field in dataclasses.fields(cls)]
        problems = [_unknown_key(key, names) for key in value if key not in names]
        given = {}
        for name, wanted in (("attempts", int), ("backoff", float), ("max_backoff", float)):
            item = value.get(name, getattr(cls, name))
            if isinstance(item, bool) or not isinstance(item, (int, float)) or (wanted is int and item != int(item)):
                kind = "a whole number" if wanted is int else "a number of seconds"
                problems.append(f"retries.{name}: expected {kind}, got {item!r}")
            else:
                given[name] = wanted(item)
        if problems:
            return cls(), problems
        retries = cls(**given)
        return retries, retries._problems()

    def _problems(self) -> list[str]:
        problems = []
        if self.attempts < 1:
            problems.append(f"retries.attempts: expected 1 or more (1: no retry), got {self.attempts}")
        if self.backoff < 0:
            problems.append(f"retries.backoff: expected 0 or more seconds, got {self.backoff}")
        if self.max_backoff < self.backoff:
            problems.append(f"retries.max_backoff: expected at least backoff ({self.backoff}), got {self.max_backoff}")
        return problems


def _unknown_key(key: Any, known: list[str]) -> str:
    return f"retries.{key}: unknown key (expected one of {', '.join(known)}){closest(str(key), known, quoted=True)}"


@dataclasses.dataclass(frozen=True)
class Connection:
    kind: str
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def __repr__(self) -> str:
        from pdip.policy import mask_secrets

        label = f"{self.name}: " if self.name else ""
        return f"Connection({label}{self.kind}, {mask_secrets(dict(self.settings))})"


BATCH_SIZE = 10_000  # rows per batch when neither the integration nor its target says


@dataclasses.dataclass
class Integration:
    """One source-to-target move. With only a target it runs `sql` there (DDL, clean-ups).

    `mode`: `full` reads everything, `incremental` what is newer than the last run's high-water
    mark of `cursor`, `changes` moves `ChangeLogEntry` batches (outbox, topic, JSON Lines) and
    applies them at the target. `parallelism`: how many readers split the source (key ranges of
    a table on `key`, partitions of a topic). `policy`: whether the application's field policy
    is applied to every batch before the target sees it: by default only in `changes` mode;
    `true` or `false` decides, and a file path adds that policy file to the application's.
    `batch_size`: rows per batch (what is read, written and committed at once); None: what the
    target writes best (`Target.batch_rows`: a DuckDB row group), else `BATCH_SIZE`.
    `write`: how rows land (docs/adr/0014): `append` adds them, `replace` makes the target equal
    to what was read, swapped in whole at the end, `merge` upserts them by `key` (default: the
    target's primary key); with `delete_column`, a row whose flag is set (true, or a timestamp)
    deletes its key at the target instead.
    `schema`: what a target does with a source column it lacks or a source type wider than its
    column's: `evolve` (add or widen the column), `freeze` (refuse the run), `discard_row`
    (dead-letter the rows that carry a value there), `discard_value` (write them without it,
    counted); None: `evolve` for a table pdip created, `freeze` for any other (docs/adr/0015).
    `retries`: how often a transient failure is retried, from the last durable position (`Retries`,
    or its mapping: `{attempts: 5, backoff: 1, max_backoff: 30}`; docs/adr/0029).
    """

    name: str
    target: Connection
    source: Connection | None = None
    mode: Mode = "full"
    columns: Sequence[str] | None = None
    key: Sequence[str] | None = None
    cursor: str | None = None
    batch_size: int | None = None
    parallelism: int = 1
    truncate_target: bool = False
    create_target: bool = False
    max_errors: int = 0
    sql: str | None = None
    policy: bool | str | None = None
    write: Write = "append"
    delete_column: str | None = None
    schema: str | None = None
    retries: Retries | Mapping[str, Any] | None = None

    def __post_init__(self):
        if isinstance(self.key, str):  # `key: id` in YAML: one column
            self.key = (self.key,)
        self.retries, problems = Retries.of(self.retries)
        if self.mode not in MODES:
            problems.append(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        problems.extend(self._write_problems())
        if self.schema is not None and self.schema not in SCHEMA_CHANGES:
            problems.append(f"schema: expected one of {', '.join(SCHEMA_CHANGES)}, got {self.schema!r}")
        if self.mode == "incremental" and not self.cursor:
            problems.append("cursor: an incremental integration needs a cursor column")
        if self.source is None and not self.sql:
            problems.append("source: required unless the integration only runs `sql` at its target")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch_size: expected a positive number, got {self.batch_size}")
        if self.parallelism < 1:
            problems.append(f"parallelism: expected a positive number, got {self.parallelism}")
        if self.max_errors < 0:
            problems.append(f"max_errors: expected 0 or more, got {self.max_errors}")
        if problems:
            from pdip.integrator.errors import OperationError

            raise OperationError(f"integration {self.name!r}: " + "; ".join(problems), problems)

    def rows_per_batch(self, preferred: int | None) -> int:
        """The integration's `batch_size`, else the target's `preferred` one, else `BATCH_SIZE`."""
        return self.batch_size or preferred or BATCH_SIZE

    def _write_problems(self) -> list[str]:
        """`write` and what goes with it: settings that contradict each other are refused."""
        if self.write not in WRITES:
            return [f"write: expected one of {', '.join(WRITES)}, got {self.write!r}"]
        problems = []
        if self.write != "append" and self.mode == "changes":
            problems.append(f"write: {self.write} is for rows; a change stream is applied by key already")
        if self.write == "replace" and self.mode == "incremental":
            problems.append("write: replace makes the target what one run reads, and an incremental run reads new rows")
        if self.write == "replace" and self.truncate_target:
            problems.append(
                "truncate_target: true empties the target before the run, write: replace swaps it at the end; "
                "choose one"
            )
        if self.delete_column and self.write != "merge":
            problems.append(f"delete_column: deletes keys at the target, which write: merge does, not {self.write}")
        return problems
