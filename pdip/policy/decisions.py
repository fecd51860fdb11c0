"""Decisions: which action a policy takes for a field of a record in a given scope, worked out once.

A policy's rules are many and records are more, so nothing is matched per record. For a set of
scopes (`table:customers`, or `source:crm` + `table:customers`) the rules that apply are picked
once (`ScopedRules`); for a field path within that scope the winning rule is found once, later
rules winning where selectors overlap, and kept (`ScopedRules.decide`). Applying a policy to a
batch therefore costs one lookup per column, and to a record one dictionary lookup per field.

List positions are not part of a decided path (`lines[*].price`, never `lines[3].price`), so
the number of decisions kept stays that of the distinct field paths, not of the values.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from pdip.policy.rules import ALLOW, DROP_RECORD, ENTRY_FIELDS, Rule

# A bracketed step (a list position or slice, or a non-text key) is one anonymous item: [*].
_POSITIONS = re.compile(r"\[[^\]]*\]")
_MAX_DECISIONS = 65_536  # per scope: past that the cache starts again (paths with ever-new keys)


def normalized_path(path: str) -> str:
    """`lines[3].price` -> `lines[*].price`: the form decisions and `field:` selectors use."""
    return _POSITIONS.sub("[*]", path) if "[" in path else path


class Decision:
    """The action for one field. For drop_record, `rule.drops(value)` says whether the record
    goes; if it does not, `fallback` (the decision of the earlier rules) applies."""

    __slots__ = ("action", "fallback", "rule")

    def __init__(self, action: str, rule: Rule | None = None, fallback: Decision | None = None):
        self.action = action
        self.rule = rule
        self.fallback = fallback

    def __repr__(self) -> str:
        return f"Decision({self.action}, {self.rule.where if self.rule else 'no rule'})"


ALLOWED = Decision(ALLOW)


class ScopedRules:
    """The rules of a policy that apply in one set of scopes, and the decisions made from them."""

    __slots__ = ("_entry_decisions", "_lock", "_row_shapes", "decisions", "drops_everything", "label", "rules")

    def __init__(self, rules: Sequence[Rule], scopes: Sequence[tuple[str, str]]):
        self.rules = tuple(rule for unit in rules for rule in unit.for_scopes(scopes))
        self.label = _label(scopes)
        # The last rule without a field selector decides the fate of the whole record.
        blanket = [rule for rule in self.rules if rule.field_kind is None]
        self.drops_everything = bool(blanket) and blanket[-1].action == DROP_RECORD
        self.decisions: dict[str, Decision] = {}  # path -> decision, filled by decide()
        self._entry_decisions: dict[str, Decision] = {}
        self._row_shapes: dict[tuple, bool] = {}
        self._lock = threading.Lock()

    def decide(self, path: str, name: Any, depth: int) -> Decision:
        """The decision for the field at `path` (normalised), named `name`, at `depth` (1 = top)."""
        decision = self.decisions.get(path)
        if decision is None:
            candidates = [
                rule
                for rule in self.rules
                if not (rule.field_kind is None and rule.action == DROP_RECORD) and rule.selects(path, name, depth)
            ]
            decision = self._keep(self.decisions, path, _chain(candidates))
        return decision

    def decide_entry_field(self, name: str) -> Decision:
        """The decision for a field of a change-log entry itself (`entry:` rules only)."""
        decision = self._entry_decisions.get(name)
        if decision is None:
            candidates = [rule for rule in self.rules if rule.selects_entry_field(name)]
            decision = self._keep(self._entry_decisions, name, _chain(candidates))
        return decision

    def allows_rows(self, names: tuple) -> bool:
        """True when no rule acts on a change-log entry about a record whose images hold fields
        named `names` with scalar values, nor on the entry's own fields. The outbox sends entries
        of a few shapes by the million, so this is worked out once per shape."""
        allowed = self._row_shapes.get(names)
        if allowed is None:
            allowed = (
                not self.drops_everything
                and all(self.decide_entry_field(field).action == ALLOW for field in ENTRY_FIELDS)
                and all(self.decide(name if type(name) is str else "[*]", name, 1).action == ALLOW for name in names)
            )
            self._keep(self._row_shapes, names, allowed)
        return allowed

    def _keep(self, cache: dict, key: Any, decision: Any) -> Any:
        with self._lock:
            if len(cache) >= _MAX_DECISIONS:
                cache.clear()
            cache[key] = decision
        return decision


def _label(scopes: Sequence[tuple[str, str]]) -> str:
    """How counters name these scopes: `table:customers`; a change-log entry's `table:<entity>`,
    implied by its `entity:<entity>`, and a log record's `pkg:<logger>`, implied by its
    `log:<logger>`, are left out; "*" for no scope."""
    entities = {name for kind, name in scopes if kind == "entity"}
    loggers = {name for kind, name in scopes if kind == "log"}
    shown = [
        f"{kind}:{name}"
        for kind, name in scopes
        if not (kind == "table" and name in entities) and not (kind == "pkg" and name in loggers)
    ]
    return ",".join(shown) or "*"


def _chain(candidates: list[Rule]) -> Decision:
    """The decision of the last candidate, falling back through earlier ones for drop_record."""
    decision = ALLOWED
    for rule in candidates:
        decision = Decision(rule.action, rule, decision if rule.action == DROP_RECORD else None)
    return decision
