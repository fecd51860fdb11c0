"""Walking a value under a policy's decisions: the one place a record, a list or a nested value
is taken apart, acted on and put back together.

`Policy` (records, events, log records), `pdip.policy.entries` (change-log entries) and
`pdip.policy.batches` (columns) all walk values the same way, so the walk and the small pieces it
shares (the replacement text, the marker of a removed field, the signal of a dropped record, the
counters) live here, below all three: each of them imports this module and none imports another.

A walk never changes what it is given: an untouched value comes back as itself (the same object),
a changed mapping or list as a new one. `counts` is a dict of (action, scope label) -> number that
the caller adds to its policy's counters once the walk is over.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pdip.policy.decisions import Decision, ScopedRules
from pdip.policy.errors import MissingSaltError, RecordDropped
from pdip.policy.rules import ALLOW, DROP_RECORD, HASH, REDACT
from pdip.policy.secrets import mask_connection_string
from pdip.policy.selectors import parse_scope

if TYPE_CHECKING:
    from pdip.policy.hashing import ValueHasher

REDACTED = "<redacted>"
SALT_VARIABLE = "POLICY_SALT"

Scope = str | Sequence[str] | None

# Values with nothing inside for a policy to look at: allowed as they are without a closer look.
SCALARS = frozenset(
    {str, int, float, bool, type(None), bytes, dt.datetime, dt.date, dt.time, dt.timedelta, Decimal, uuid.UUID}
)

REMOVED: Any = object()  # what a dropped field becomes on the way out

Counts = dict[tuple[str, str], int]


def add_count(counts: Counts, action: str, label: str, number: int = 1) -> None:
    key = (action, label)
    counts[key] = counts.get(key, 0) + number


def parsed_scopes(scope: Scope) -> tuple[tuple[str, str], ...]:
    """A scope as callers write it (`"table:customers"`, a list of them, or None) as (kind, name) pairs."""
    if scope is None:
        return ()
    if isinstance(scope, str):
        return (parse_scope(scope),)
    return tuple(dict.fromkeys(parse_scope(item) for item in scope))


def with_scope(first: str, scope: Scope) -> list[str]:
    """`first` followed by the scopes of `scope`."""
    if scope is None:
        return [first]
    return [first, scope] if isinstance(scope, str) else [first, *scope]


def past_drop_record(decision: Decision, value: Any, counts: Counts, label: str, drops: Any = None) -> Decision:
    """Follow `drop_record` decisions: raise RecordDropped (counted) when one holds for `value`,
    else return the decision they fall back to. `drops(rule)` replaces `rule.drops(value)` when given."""
    while decision.action == DROP_RECORD:
        if drops(decision.rule) if drops is not None else decision.rule.drops(value):
            add_count(counts, DROP_RECORD, label)
            raise RecordDropped
        decision = decision.fallback
    return decision


class ValueWalker:
    """Applies decisions to values, looking inside mappings and lists; `hasher` hashes for the
    hash action (None for a policy without a salt, which then has no hash rules)."""

    def __init__(self, hasher: ValueHasher | None = None):
        self._hasher = hasher

    @property
    def hasher(self) -> ValueHasher:
        if self._hasher is None:  # only reachable for a policy made without hash rules
            raise MissingSaltError(f"this policy has no salt; set {SALT_VARIABLE} to hash values")
        return self._hasher

    def record(self, scoped: ScopedRules, record: Mapping[Any, Any], counts: Counts) -> Any:
        """The record with the decisions applied; the record itself when unchanged. Raises
        RecordDropped when a drop_record rule drops it."""
        if scoped.drops_everything:
            add_count(counts, DROP_RECORD, scoped.label)
            raise RecordDropped
        return self.mapping(scoped, record, counts, "", 1)

    def mapping(self, scoped: ScopedRules, mapping: Mapping[Any, Any], counts: Counts, prefix: str, depth: int) -> Any:
        """A mapping whose keys sit under `prefix` (`""` for a record's own fields) at `depth`."""
        result: dict[Any, Any] = {}
        changed = False
        decide = scoped.decide
        known = scoped.decisions.get
        for key, value in mapping.items():
            path = (f"{prefix}.{key}" if prefix else key) if type(key) is str else f"{prefix}[*]"
            decision = known(path) or decide(path, key, depth)
            if decision.action == ALLOW and type(value) in SCALARS:  # the common case, kept short
                if type(value) is str and ("://" in value or "=" in value):  # secrets.may_hold_password
                    value = self.text(scoped, value, counts)
                    changed = changed or value is not mapping[key]
                result[key] = value
                continue
            new = self.value(scoped, decision, value, counts, path, depth)
            if new is REMOVED:
                changed = True
                continue
            changed = changed or new is not value
            result[key] = new
        return result if changed else mapping

    def sequence(self, scoped: ScopedRules, items: Sequence[Any], counts: Counts, path: str, depth: int) -> Any:
        """Items of a list or tuple, each at `path` (already ending in `[*]`)."""
        decision = scoped.decide(path, None, depth)
        result = []
        changed = False
        for item in items:
            new = self.value(scoped, decision, item, counts, path, depth)
            if new is REMOVED:
                changed = True
                continue
            changed = changed or new is not item
            result.append(new)
        if not changed:
            return items
        return tuple(result) if isinstance(items, tuple) else result

    def value(self, scoped: ScopedRules, decision: Decision, value: Any, counts: Counts, path: str, depth: int) -> Any:
        """`value` under `decision`: itself, replaced, or REMOVED; raises RecordDropped for drop_record."""
        decision = past_drop_record(decision, value, counts, scoped.label)
        action = decision.action
        if action == ALLOW:
            if type(value) in SCALARS:
                return self.text(scoped, value, counts) if type(value) is str else value
            if isinstance(value, Mapping):
                return self.mapping(scoped, value, counts, path, depth + 1)
            if isinstance(value, (list, tuple)):
                return self.sequence(scoped, value, counts, f"{path}[*]", depth + 1)
            return value
        return self.acted(scoped, action, value, counts)

    def text(self, scoped: ScopedRules, value: str, counts: Counts) -> str:
        """An allowed text with any password of a connection string in it masked (counted as a
        redaction): the built-in rule for values, which holds whatever the field is called."""
        masked = mask_connection_string(value)
        if masked == value:
            return value
        add_count(counts, REDACT, scoped.label)
        return masked

    def acted(self, scoped: ScopedRules, action: str, value: Any, counts: Counts) -> Any:
        """`value` under a redact, hash or drop `action` (counted): its replacement or REMOVED."""
        add_count(counts, action, scoped.label)
        if action == REDACT:
            return None if value is None else REDACTED
        if action == HASH:
            return self.hasher(value)
        return REMOVED  # DROP
