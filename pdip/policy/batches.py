"""A policy applied to a columnar batch, a column at a time.

Three shapes are understood: a mapping of column name -> list of values, a pyarrow `Table` or
`RecordBatch`, and the integrator's `Batch` (handled in its Arrow form, which it makes once, and
returned as a Batch at the same position). Each column gets one decision and is then
handled whole: an allowed column is passed on as it is (the same list or Arrow array, not a
copy), a redacted one becomes a run of "<redacted>" (nulls stay null), a hashed one is hashed
once per distinct value, a dropped one is left out. Rows are looked at one by one only where a
rule needs them: a `drop_record` rule on a column, and columns of nested values (mappings or
lists, judged by the first non-null value, or an Arrow struct, list or map type), where secrets
may hide deeper down, and allowed columns of text that hold a connection string's password
somewhere (found by one search of the whole column's text), whose passwords are masked.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any

from pdip.policy.decisions import Decision, ScopedRules
from pdip.policy.errors import RecordDropped
from pdip.policy.rules import ALLOW, DROP, DROP_RECORD, HASH, REDACT
from pdip.policy.secrets import may_hold_password
from pdip.policy.walking import REDACTED, Scope, add_count

if TYPE_CHECKING:
    from pdip.policy.engine import Policy


def apply_to_batch(policy: Policy, batch: Any, scope: Scope) -> Any:
    scoped = policy.scoped_for(scope)
    counts: dict[tuple[str, str], int] = {}
    if type(batch).__module__.startswith("pyarrow") and hasattr(batch, "schema"):
        result = _arrow(policy, scoped, batch, counts)
    elif hasattr(batch, "to_arrow") and hasattr(type(batch), "from_arrow"):  # pdip.integrator.Batch
        applied = _arrow(policy, scoped, batch.to_arrow(), counts)
        result = type(batch).from_arrow(applied, position=getattr(batch, "position", None))
    elif isinstance(batch, Mapping):
        result = _columns(policy, scoped, batch, counts)
    else:
        raise TypeError(
            f"apply_batch takes a dict of column name -> values, a pyarrow Table/RecordBatch or a Batch; "
            f"got {type(batch).__name__}"
        )
    policy.add_counts(counts)
    return result


def _decision(scoped: ScopedRules, name: Any) -> Decision:
    return scoped.decide(name if type(name) is str else "[*]", name, 1)


# -- a mapping of lists ----------------------------------------------------------------------------


def _columns(policy: Policy, scoped: ScopedRules, batch: Mapping[Any, Sequence[Any]], counts: dict) -> dict:
    rows = len(next(iter(batch.values()))) if batch else 0
    if scoped.drops_everything:
        add_count(counts, DROP_RECORD, scoped.label, rows)
        return {name: [] for name in batch}
    result: dict[Any, Any] = {}
    dropped: set[int] = set()  # positions of the rows a drop_record rule drops
    for name, column in batch.items():
        decision = _decision(scoped, name)
        while decision.action == DROP_RECORD:
            dropped.update(_drop_positions(decision, column))
            decision = decision.fallback
        action = decision.action
        if action == ALLOW:
            first = next((value for value in column if value is not None), None)
            if isinstance(first, (Mapping, list, tuple)):
                column = _nested_column(policy, scoped, decision, name, column, counts, dropped)
            elif type(first) is str:
                column = _texts(policy, scoped, column, counts)
            result[name] = column
            continue
        add_count(counts, action, scoped.label, len(column))
        if action == REDACT:
            result[name] = _redacted_list(column)
        elif action == HASH:
            result[name] = policy.hasher.column(column)
        # DROP: left out
    if dropped:
        add_count(counts, DROP_RECORD, scoped.label, len(dropped))
        positions = sorted(dropped)
        result = {name: _without_rows(column, positions) for name, column in result.items()}
    return result


def _drop_positions(decision: Decision, column: Sequence[Any]) -> list[int]:
    """The rows a drop_record rule drops. They are usually few, so they are counted and found
    with the list's own count and index, which scan at C speed."""
    rule = decision.rule
    if not isinstance(column, (list, tuple)):
        return [row for row, value in enumerate(column) if rule.drops(value)]
    if not rule.has_equals:
        if column.count(None) == len(column):
            return []
        return list(compress(range(len(column)), map(operator.is_not, column, repeat(None))))
    positions = []
    position = -1
    for _ in range(column.count(rule.equals)):
        position = column.index(rule.equals, position + 1)
        positions.append(position)
    return positions


def _without_rows(column: Sequence[Any], positions: list[int]) -> list[Any]:
    """`column` without the rows at `positions` (sorted): copied in slices between them when
    they are few (a copy at C speed), else through a mask."""
    if len(positions) * 16 > len(column):
        keep = [True] * len(column)
        for position in positions:
            keep[position] = False
        return list(compress(column, keep))
    kept: list[Any] = []
    start = 0
    for position in positions:
        kept += column[start:position]
        start = position + 1
    kept += column[start:]
    return kept


def _redacted_list(column: Sequence[Any]) -> list[Any]:
    if hasattr(column, "count") and column.count(None) == 0:  # the common case, at C speed
        return [REDACTED] * len(column)
    return [None if value is None else REDACTED for value in column]


def _texts(policy: Policy, scoped: ScopedRules, column: Sequence[Any], counts: dict) -> Sequence[Any]:
    """A column of text with any connection string's password masked; the column itself when
    no value can hold one, which one search of the joined text tells for the whole column."""
    try:
        try:
            joined = "\n".join(column)
        except TypeError:  # nulls, which a scan for them first would cost every column
            joined = "\n".join(filter(None, column))
        if not may_hold_password(joined):
            return column
    except TypeError:  # not text all through: looked at one by one
        pass
    text = policy.walker.text
    values = [text(scoped, value, counts) if type(value) is str else value for value in column]
    return values if any(map(operator.is_not, values, column)) else column


def _nested_column(
    policy: Policy,
    scoped: ScopedRules,
    decision: Decision,
    name: Any,
    column: Sequence[Any],
    counts: dict,
    dropped: set[int],
) -> Sequence[Any]:
    """The column with nested values looked into, a cell at a time (the column itself when
    nothing changed); rows a drop_record rule drops are added to `dropped`."""
    path = name if type(name) is str else "[*]"
    values = []
    changed = False
    for row, cell in enumerate(column):
        try:
            new = policy.walker.value(scoped, decision, cell, counts, path, 1)
        except RecordDropped:
            dropped.add(row)
            new = cell
        changed = changed or new is not cell
        values.append(new)
    return values if changed else column


# -- pyarrow -----------------------------------------------------------------------------------------


def _arrow(policy: Policy, scoped: ScopedRules, batch: Any, counts: dict) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = batch.num_rows
    if scoped.drops_everything:
        add_count(counts, DROP_RECORD, scoped.label, rows)
        return batch.slice(0, 0)
    names, arrays = [], []
    dropped = None  # boolean array: True where a drop_record rule drops the row
    for index, name in enumerate(batch.schema.names):
        column = batch.column(index)
        decision = _decision(scoped, name)
        while decision.action == DROP_RECORD:
            marks = _arrow_marks(pa, pc, column, decision)
            dropped = marks if dropped is None else pc.or_(dropped, marks)
            decision = decision.fallback
        action = decision.action
        if action == DROP:
            add_count(counts, DROP, scoped.label, rows)
            continue
        if action == ALLOW:
            if _arrow_nested(pa, column.type):
                column, marks = _arrow_nested_column(pa, policy, scoped, decision, name, column, counts)
                if marks is not None:
                    dropped = marks if dropped is None else pc.or_(dropped, marks)
            elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = _arrow_texts(pa, policy, scoped, column, counts)
        else:
            add_count(counts, action, scoped.label, rows)
            column = _arrow_redacted(pa, pc, column) if action == REDACT else _arrow_hashed(pa, pc, policy, column)
        names.append(name)
        arrays.append(column)
    result = type(batch).from_arrays(arrays, names=names, metadata=batch.schema.metadata)
    if dropped is not None:
        gone = pc.sum(pc.cast(dropped, pa.int64())).as_py() or 0
        if gone:
            add_count(counts, DROP_RECORD, scoped.label, gone)
            result = result.filter(pc.invert(dropped))
    return result


def _arrow_marks(pa: Any, pc: Any, column: Any, decision: Decision) -> Any:
    """True where `decision.rule` drops the row (never for null)."""
    rule = decision.rule
    if not rule.has_equals:
        return pc.is_valid(column)
    try:
        return pc.fill_null(pc.equal(column, pa.scalar(rule.equals)), False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
        return pa.array([rule.drops(value) for value in column.to_pylist()], type=pa.bool_())


def _arrow_redacted(pa: Any, pc: Any, column: Any) -> Any:
    if column.null_count == 0:
        return pa.repeat(REDACTED, len(column))
    return pc.if_else(pc.is_valid(column), pa.scalar(REDACTED), pa.scalar(None, pa.string()))


def _arrow_hashed(pa: Any, pc: Any, policy: Policy, column: Any) -> Any:
    """Each chunk dictionary-encoded, its distinct values hashed (once across chunks), then spread."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    seen: dict[Any, str | None] = {}
    hasher = policy.hasher
    hashed_chunks = []
    for chunk in chunks:
        encoded = pc.dictionary_encode(chunk)
        distinct = encoded.dictionary.to_pylist()
        hashes = []
        for value in distinct:
            try:
                hashed = seen[value]
            except KeyError:
                hashed = seen[value] = hasher(value)
            hashes.append(hashed)
        hashed_chunks.append(pc.take(pa.array(hashes, type=pa.string()), encoded.indices))
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array(hashed_chunks, type=pa.string())
    return hashed_chunks[0]


def _arrow_texts(pa: Any, policy: Policy, scoped: ScopedRules, column: Any, counts: dict) -> Any:
    """A text column with any connection string's password masked; the column itself when its
    characters (the chunks' data buffers, searched as bytes) hold no `://` and no `=`."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not any(_arrow_may_hold_password(chunk) for chunk in chunks):
        return column
    values = column.to_pylist()
    texts = _texts(policy, scoped, values, counts)
    return column if texts is values else pa.array(texts, type=column.type)


def _arrow_may_hold_password(chunk: Any) -> bool:
    data = chunk.buffers()[2]
    characters = b"" if data is None else memoryview(data).tobytes()  # None: no characters at all
    return b"://" in characters or b"=" in characters


def _arrow_nested(pa: Any, kind: Any) -> bool:
    types = pa.types
    return (
        types.is_struct(kind)
        or types.is_list(kind)
        or types.is_large_list(kind)
        or types.is_fixed_size_list(kind)
        or types.is_map(kind)
    )


def _arrow_nested_column(
    pa: Any, policy: Policy, scoped: ScopedRules, decision: Decision, name: str, column: Any, counts: dict
) -> tuple[Any, Any]:
    """Nested values, a row at a time (as Python values); the column itself when unchanged."""
    cells = column.to_pylist()
    dropped: set[int] = set()
    values = _nested_column(policy, scoped, decision, name, cells, counts, dropped)
    marks = None
    if dropped:
        marks = pa.array([row in dropped for row in range(len(cells))], type=pa.bool_())
    return (column if values is cells else pa.array(values)), marks
