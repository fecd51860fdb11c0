"""One rule of a policy: where it applies (scope selectors), to which fields (a field selector),
and what it does (an action).

    - table: customers          # scope selectors: source, table, topic, sink, entity, log, event
      column: email             # field selector: column, key, field or entry (at most one)
      action: hash              # allow | redact | hash | drop | drop_record

Scope selectors of different kinds must all match (`source: crm` and `table: customers`); a rule
without any applies everywhere. Field selectors:

- `column: name`: a top-level field of a record (a column of a row).
- `key: name`: a key at any depth of a record's nested mappings (the built-in secret rule is one).
- `field: path`: a path from the record's top, list items written `[*]` (`payment.card.number`,
  `lines[*].price`).
- `entry: name`: a field of a change-log entry itself: actor, tenant, entity, key, path, before,
  after, extra or `extra.<name>`.
- none: every top-level field of the record (and with `drop_record`, the record itself).

A decision covers everything inside the field it is made for: a redacted `address` is redacted
whole. `drop_record` with a field selector drops a record whose field holds a value (not None),
or, with `equals: value`, holds that value; without one it drops every record in scope.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from pdip.policy.errors import PolicyFileError, unknown_key
from pdip.policy.selectors import SCOPE_KINDS, Pattern

ALLOW, REDACT, HASH, DROP, DROP_RECORD = "allow", "redact", "hash", "drop", "drop_record"
ACTIONS = (ALLOW, REDACT, HASH, DROP, DROP_RECORD)
FIELD_KINDS = ("column", "key", "field", "entry")
# Keys below a record's top (never a top-level field): codetracer's `attr` value selector. Made
# by pdip.policy.tracefilters only; a pdip policy file selects fields by FIELD_KINDS.
ATTR = "attr"
ENTRY_FIELDS = ("actor", "tenant", "entity", "key", "path", "before", "after", "extra")
_OTHER_KEYS = ("action", "equals", "description")


class _Unset(enum.Enum):
    """No `equals` given (None is a value a rule can ask for); an enum, so it pickles as itself."""

    UNSET = "unset"


_UNSET = _Unset.UNSET


class Rule:
    """A parsed rule. `source` and `index` say where it was written (for errors and reports)."""

    __slots__ = ("action", "description", "equals", "field_kind", "fields", "index", "scopes", "source")

    def __init__(
        self,
        action: str,
        *,
        scopes: Sequence[tuple[str, Sequence[Pattern]]] = (),
        field_kind: str | None = None,
        fields: Sequence[Pattern] = (),
        equals: Any = _UNSET,
        source: str = "",
        index: int = 0,
        description: str | None = None,
    ):
        self.action = action
        self.scopes = tuple((kind, tuple(patterns)) for kind, patterns in scopes)
        self.field_kind = field_kind
        self.fields = tuple(fields)
        self.equals = equals
        self.source = source
        self.index = index
        self.description = description

    @property
    def where(self) -> str:
        return f"{self.source} rule {self.index}"

    @property
    def has_equals(self) -> bool:
        return self.equals is not _UNSET

    def in_scope(self, scopes: Sequence[tuple[str, str]]) -> bool:
        """Whether every scope selector of the rule matches one of the record's scopes."""
        for kind, patterns in self.scopes:
            names = [name for scope_kind, name in scopes if scope_kind == kind]
            if not any(pattern.matches(name) for pattern in patterns for name in names):
                return False
        return True

    def selects(self, path: str, name: Any, depth: int) -> bool:
        """Whether the rule's field selector picks the field at `path` (list items as `[*]`),
        whose own key is `name`, `depth` steps below the record's top. Entry rules pick none."""
        kind = self.field_kind
        if kind is None:
            return depth == 1
        if kind == "field":
            return any(pattern.matches(path) for pattern in self.fields)
        if kind == "entry" or not isinstance(name, str):
            return False
        if (kind == "column" and depth != 1) or (kind == ATTR and depth == 1):
            return False
        return any(pattern.matches(name) for pattern in self.fields)

    def for_scopes(self, scopes: Sequence[tuple[str, str]]) -> tuple[Rule, ...]:
        """The rules this one stands for in these scopes: itself, or none out of its scopes (a
        trace filter, `pdip.policy.tracefilters.TraceFilter`, stands for several)."""
        return (self,) if self.in_scope(scopes) else ()

    def selects_entry_field(self, name: str) -> bool:
        return self.field_kind == "entry" and any(pattern.matches(name) for pattern in self.fields)

    def drops(self, value: Any) -> bool:
        """For drop_record: whether a record with `value` in the selected field is dropped."""
        if self.equals is _UNSET:
            return value is not None
        return bool(value == self.equals)

    def __repr__(self) -> str:
        parts = [f"{kind}={'|'.join(p.text for p in patterns)}" for kind, patterns in self.scopes]
        if self.field_kind:
            parts.append(f"{self.field_kind}={'|'.join(p.text for p in self.fields)}")
        if self.has_equals:
            parts.append(f"equals={self.equals!r}")
        return f"Rule({self.where}: {' '.join(parts) or 'everything'} -> {self.action})"


def parse_rule(raw: Any, index: int, source: str) -> Rule:
    """A rule from its mapping in a policy file; PolicyFileError naming the file and rule otherwise."""

    def fail(problem: str) -> PolicyFileError:
        return PolicyFileError(source, problem, index)

    if not isinstance(raw, Mapping):
        raise fail(f"expected a mapping such as {{table: customers, column: email, action: hash}}; got {raw!r}")
    known = (*SCOPE_KINDS, *FIELD_KINDS, *_OTHER_KEYS)
    for key in raw:
        if key not in known:
            raise fail(unknown_key(key, known))
    action = raw.get("action")
    if action is None:
        raise fail(f"no action; expected one of {', '.join(ACTIONS)}")
    if action not in ACTIONS:
        raise fail(f"action: expected one of {', '.join(ACTIONS)}; got {action!r}")
    scopes = [(kind, _patterns(raw[kind], kind, fail)) for kind in SCOPE_KINDS if kind in raw]
    field_kinds = [kind for kind in FIELD_KINDS if kind in raw]
    if len(field_kinds) > 1:
        raise fail(f"selects fields by both {' and '.join(field_kinds)}; a rule selects fields one way")
    field_kind = field_kinds[0] if field_kinds else None
    fields = _patterns(raw[field_kind], field_kind, fail) if field_kind else ()
    if field_kind == "entry":
        for pattern in fields:
            name = pattern.literal_text()
            if pattern.is_literal() and name not in ENTRY_FIELDS and not name.startswith("extra."):
                raise fail(f"entry: {name!r} is not a change-log field; expected one of {', '.join(ENTRY_FIELDS)}")
    equals = raw.get("equals", _UNSET)
    if equals is not _UNSET and action != DROP_RECORD:
        raise fail(f"equals only goes with action drop_record (this rule's action is {action})")
    if equals is not _UNSET and field_kind is None:
        raise fail("equals needs a field selector (column, key, field or entry) to compare with")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise fail(f"description: expected text; got {description!r}")
    return Rule(
        action,
        scopes=scopes,
        field_kind=field_kind,
        fields=fields,
        equals=equals,
        source=source,
        index=index,
        description=description,
    )


def _patterns(value: Any, key: str, fail: Any) -> tuple[Pattern, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(item, str) and item for item in values):
        raise fail(f"{key}: expected a name or a list of names (text); got {value!r}")
    try:
        return tuple(Pattern(item) for item in values)
    except ValueError as error:
        raise fail(f"{key}: {error}") from None
