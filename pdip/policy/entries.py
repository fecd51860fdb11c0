"""A policy applied to a change-log entry: what each selector reaches inside one.

An entry is about a record (the repository's outbox: `entity` is the table, `path` is None and
`before`/`after` are rows) or about a place inside a tracked container (`path` is
`orders[3].status` and `before`/`after` are the values there). Either way the values sit at a
path of the record, and rules reach them as they would reach the same place in the record:

- `column:`, `key:` and `field:` rules apply to `before` and `after`: to their fields when the
  entry is about a whole record, and to the value at `path` otherwise, where a decision made
  for any step on the way covers it (a redacted `address` redacts a change to `address.city`);
- a change to a place the policy drops (`drop`) is not reported: the entry is dropped;
- a composite `key` (a mapping) is treated like a row: its columns get the row's decisions;
- `entry:` rules apply to the entry's own fields: actor, tenant, entity, path, key, before,
  after, extra and `extra.<name>`.

The entry is seen in the scopes `entity:<entity>` and `table:<entity>` (an outbox entry carries a
table's rows, and the table's rules should follow them), plus any scope given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pdip.policy.decisions import Decision, ScopedRules
from pdip.policy.errors import RecordDropped
from pdip.policy.rules import ALLOW, DROP, DROP_RECORD
from pdip.policy.secrets import may_hold_password
from pdip.policy.walking import REMOVED, SCALARS, Scope, add_count, past_drop_record
from pdip.tracking.paths import steps

if TYPE_CHECKING:
    from pdip.policy.engine import Policy
    from pdip.tracking.entry import ChangeLogEntry

_PLAIN_FIELDS = ("actor", "tenant", "entity", "path")


def apply_to_entry(policy: Policy, entry: ChangeLogEntry, scope: Scope) -> ChangeLogEntry | None:
    scoped = policy.scoped_for_entity(entry.entity, scope)
    return entry if _untouched(scoped, entry) else _applied(policy, scoped, entry)


def apply_to_entries(policy: Policy, entries: Iterable[ChangeLogEntry], scope: Scope) -> list[ChangeLogEntry]:
    """`apply_to_entry` over a batch, the rules of each entity looked up once for the batch."""
    kept = []
    by_entity: dict[Any, ScopedRules] = {}
    for entry in entries:
        scoped = by_entity.get(entry.entity)
        if scoped is None:
            scoped = by_entity[entry.entity] = policy.scoped_for_entity(entry.entity, scope)
        if _untouched(scoped, entry):
            kept.append(entry)
        elif (applied := _applied(policy, scoped, entry)) is not None:
            kept.append(applied)
    return kept


def _applied(policy: Policy, scoped: ScopedRules, entry: ChangeLogEntry) -> ChangeLogEntry | None:
    counts: dict[tuple[str, str], int] = {}
    try:
        changes = _changes(policy, scoped, entry, counts)
    except RecordDropped:
        changes = None
    policy.add_counts(counts)
    if changes is None:
        return None
    return entry.replace(**changes) if changes else entry


def _untouched(scoped: ScopedRules, entry: ChangeLogEntry) -> bool:
    """True for an entry about a whole record (no path, no extra, a scalar key) whose images hold
    only scalars in fields that no rule acts on: nothing to do, decided per shape of images.
    Every entry of a change stream comes through here, so the usual shapes take the short way."""
    if entry.path is not None or entry.extra is not None or type(entry.key) not in SCALARS:
        return False
    before, after = entry.before, entry.after
    if before is None and type(after) is dict:  # an insert, or an update that kept no before
        if not scoped.allows_rows(tuple(after)):  # the names first: decided once per shape
            return False
        for value in after.values():  # one pass: scalars only, and no text that may hold a password
            kind = type(value)
            if kind is str:
                if may_hold_password(value):
                    return False
            elif kind not in SCALARS:
                return False
        return True
    names: tuple = ()
    for image in (before, after):
        if image is None:
            continue
        if type(image) is not dict or not SCALARS.issuperset(map(type, image.values())):
            return False
        if not _plain_texts(image.values()):
            return False
        names += tuple(image)
    return scoped.allows_rows(names)


def _plain_texts(values: Iterable[Any]) -> bool:
    """True when none of `values` is a text that may hold a connection string's password."""
    return not any(type(value) is str and may_hold_password(value) for value in values)


def _changes(policy: Policy, scoped: ScopedRules, entry: ChangeLogEntry, counts: dict) -> dict[str, Any]:
    if scoped.drops_everything:
        add_count(counts, DROP_RECORD, scoped.label)
        raise RecordDropped
    changes: dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        _plain(policy, scoped, name, getattr(entry, name), counts, changes)
    key = entry.key
    if scoped.decide_entry_field("key").action == ALLOW and isinstance(key, Mapping):
        new_key = policy.walker.mapping(scoped, key, counts, "", 1)
        if new_key is not key:
            changes["key"] = new_key
    else:
        _plain(policy, scoped, "key", key, counts, changes)
    _extra(policy, scoped, entry.extra, counts, changes)
    for name in ("before", "after"):
        value = getattr(entry, name)
        if scoped.decide_entry_field(name).action == ALLOW:
            new = _at_path(policy, scoped, value, entry.path, counts)
        else:
            new = _flat(policy, scoped, scoped.decide_entry_field(name), value, counts)
            new = None if new is REMOVED else new
        if new is not value:
            changes[name] = new
    return changes


def _plain(policy: Policy, scoped: ScopedRules, name: str, value: Any, counts: dict, changes: dict) -> None:
    decision = scoped.decide_entry_field(name)
    if decision.action != ALLOW:
        new = _flat(policy, scoped, decision, value, counts)
        if new is not value:
            changes[name] = None if new is REMOVED else new


def _extra(policy: Policy, scoped: ScopedRules, extra: Mapping[str, Any] | None, counts: dict, changes: dict) -> None:
    if not extra:
        return
    whole = scoped.decide_entry_field("extra")
    result: dict[str, Any] = {}
    changed = False
    for name, value in extra.items():
        decision = whole if whole.action != ALLOW else scoped.decide_entry_field(f"extra.{name}")
        new = _flat(policy, scoped, decision, value, counts)
        changed = changed or new is not value
        if new is not REMOVED:
            result[name] = new
    if changed:
        changes["extra"] = result or None


def _flat(policy: Policy, scoped: ScopedRules, decision: Decision, value: Any, counts: dict) -> Any:
    """A decision applied to a value as a whole (no looking inside)."""
    decision = past_drop_record(decision, value, counts, scoped.label)
    action = decision.action
    if action == ALLOW:
        return policy.walker.text(scoped, value, counts) if type(value) is str else value
    return policy.walker.acted(scoped, action, value, counts)


def _at_path(policy: Policy, scoped: ScopedRules, value: Any, path: str | None, counts: dict) -> Any:
    """`value`, which sits at `path` of the record (the whole record for None), with the policy applied."""
    if path is None:
        if isinstance(value, Mapping):
            return policy.walker.mapping(scoped, value, counts, "", 1)
        if isinstance(value, (list, tuple)):
            return policy.walker.sequence(scoped, value, counts, "[*]", 1)
        return value
    walked = ""
    written = steps(path)
    for depth, step in enumerate(written, 1):
        is_position = step.startswith("[")
        walked = walked + "[*]" if is_position else (f"{walked}.{step}" if walked else step)
        decision = scoped.decide(walked, None if is_position else step, depth)
        here = depth == len(written) and ":" not in step  # the value is the field itself, not inside it
        holds = None if here else (lambda rule: not rule.has_equals)
        decision = past_drop_record(decision, value, counts, scoped.label, holds)
        if decision.action == DROP:
            add_count(counts, DROP, scoped.label)
            raise RecordDropped  # a change to a field the policy removes is not reported
        if decision.action != ALLOW:
            return _flat(policy, scoped, decision, value, counts)
    depth = len(written)
    if ":" in written[-1]:  # a slice: the value is a list of items, each at `walked`
        if not isinstance(value, list):
            return value
        new = [policy.walker.value(scoped, _ALLOWED, item, counts, walked, depth) for item in value]
        return value if all(a is b for a, b in zip(new, value, strict=True)) else new
    return policy.walker.value(scoped, _ALLOWED, value, counts, walked, depth)


_ALLOWED = Decision(ALLOW)
