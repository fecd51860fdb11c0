"""`Policy`: field rules applied to records, change-log entries, batches, log records and events.

    policy = Policy.load("policy.yml", salt=os.environ["POLICY_SALT"])
    row = policy.apply({"email": "a@b.com", "password": "x"}, scope="table:customers")
    entry = policy.apply_entry(entry)              # None when the policy drops it
    batch = policy.apply_batch({"email": [...], "country": [...]}, scope="table:customers")

The built-in rules come first in every policy (redact secret-looking names, see
`pdip.policy.secrets`), then the files in the order given; where rules overlap, later ones win.
Nothing given to a policy is changed: `apply` returns a new dict and `apply_entry` a new entry
(or the same entry when no rule touched it). `counters` counts, per action and scope, the
fields each action applied to and the records dropped; `metadata()` adds each file's SHA-256.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pdip.policy.batches import apply_to_batch
from pdip.policy.decisions import ScopedRules, normalized_path
from pdip.policy.entries import apply_to_entries, apply_to_entry
from pdip.policy.errors import MissingSaltError, RecordDropped
from pdip.policy.files import PolicyFile, load_policy_file
from pdip.policy.rules import HASH, REDACT, Rule
from pdip.policy.secrets import is_secret_name
from pdip.policy.selectors import PredicatePattern
from pdip.policy.walking import (
    REMOVED,
    SALT_VARIABLE,
    Counts,
    Scope,
    ValueWalker,
    parsed_scopes,
    with_scope,
)
from pdip.tracking.paths import steps

if TYPE_CHECKING:
    from pdip.configuration import Configuration
    from pdip.policy.hashing import ValueHasher
    from pdip.tracking.entry import ChangeLogEntry

BUILT_IN = "built-in"
_MAX_SCOPES = 4_096


def built_in_rules() -> tuple[Rule, ...]:
    """The rules every policy starts with: redact the value of any key that looks secret."""
    secret_names = PredicatePattern("secret-looking name", is_secret_name)
    return (
        Rule(
            REDACT,
            field_kind="key",
            fields=(secret_names,),
            source=BUILT_IN,
            index=1,
            description="values of secret-looking keys (password, token, api key, cvv, iban, ...) are redacted",
        ),
    )


class Policy:
    """Rules in order (built-in first, later rules win), applied with decisions cached per scope
    and field. Make one with `Policy.default()`, `Policy.load(*paths)` or
    `Policy.for_configuration(configuration)`."""

    def __init__(self, rules: Iterable[Rule], files: Iterable[PolicyFile] = (), salt: str | bytes | None = None):
        self.rules = tuple(rules)
        self.files = tuple(files)
        hashing = [rule for rule in self.rules if rule.action == HASH]
        if salt is None:
            salt = os.environ.get(SALT_VARIABLE) or None
        if hashing and salt is None:
            raise MissingSaltError(
                f"{hashing[0].where} hashes values but no salt is set; give salt=..., "
                f"POLICY.SALT in application.yml or the {SALT_VARIABLE} environment variable"
            )
        hasher: ValueHasher | None = None
        if salt is not None:
            from pdip.policy.hashing import ValueHasher  # hashlib loads OpenSSL: only when hashing

            hasher = ValueHasher(salt)
        self.walker = ValueWalker(hasher)
        self._scoped: dict[tuple[tuple[str, str], ...], ScopedRules] = {}
        self._by_written_scope: dict[Any, ScopedRules] = {}
        self._by_entity: dict[tuple[Any, Any], ScopedRules] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    _CACHES = ("_scoped", "_by_written_scope", "_by_entity", "_counts")

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a Dask task carries its integration's policy) as its rules, files and hasher;
        the decisions are made again on the other side, and the counters start from zero there."""
        state = self.__dict__.copy()
        for name in ("_lock", *self._CACHES):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in self._CACHES:
            setattr(self, name, {})
        self._lock = threading.Lock()

    # -- making ------------------------------------------------------------------------------------

    @classmethod
    def default(cls, salt: str | bytes | None = None) -> Policy:
        """The built-in rules alone."""
        return cls(built_in_rules(), salt=salt)

    @classmethod
    def load(cls, *paths: str | os.PathLike[str], salt: str | bytes | None = None) -> Policy:
        """The built-in rules, then each file's rules in the order given."""
        files = [load_policy_file(path) for path in paths]
        return cls([*built_in_rules(), *(rule for file in files for rule in file.rules)], files, salt=salt)

    @classmethod
    def for_configuration(cls, configuration: Configuration, environ: Mapping[str, str] | None = None) -> Policy:
        """The application's chain: built-in, `.pdip/policy.yml` under the root, `POLICY.FILES`,
        then `PDIP_POLICY=a.yml::b.yml`; the salt from `POLICY.SALT` (or `POLICY_SALT`)."""
        from pdip.policy.config import policy_chain

        paths, salt = policy_chain(configuration, environ)
        return cls.load(*paths, salt=salt)

    # -- records -----------------------------------------------------------------------------------

    def apply(self, record: Mapping[str, Any], scope: Scope = None) -> dict[str, Any] | None:
        """A new dict with the policy applied, or None when a drop_record rule drops the record."""
        scoped = self.scoped_for(scope)
        counts: dict[tuple[str, str], int] = {}
        try:
            result = self.walker.record(scoped, record, counts)
        except RecordDropped:
            result = None
        self.add_counts(counts)
        return dict(result) if result is record else result

    def decide(self, field: str, scope: Scope = None) -> str:
        """The action for a field path (`email`, `address.city`, `lines[*].price`) in a scope;
        for drop_record, the record is dropped when the field holds a (matching) value."""
        steps_ = steps(normalized_path(field))
        name = steps_[-1] if steps_ and not steps_[-1].startswith("[") else None
        return self.scoped_for(scope).decide(normalized_path(field), name, len(steps_)).action

    def scoped_for(self, scope: Scope) -> ScopedRules:
        """The rules in force for a scope as callers write it (`"table:customers"`, a list of
        them, or None); the written form is remembered, so it is parsed once."""
        key = scope if scope is None or isinstance(scope, str) else tuple(scope)
        scoped = self._by_written_scope.get(key)
        if scoped is None:
            scoped = self.scoped(parsed_scopes(scope))
            with self._lock:
                if len(self._by_written_scope) >= _MAX_SCOPES:
                    self._by_written_scope.clear()
                self._by_written_scope[key] = scoped
        return scoped

    def scoped_for_entity(self, entity: str | None, scope: Scope) -> ScopedRules:
        """The rules for a change-log entry about `entity`: its scopes `entity:<entity>` and
        `table:<entity>`, plus `scope`; remembered per entity, since entries come by the million."""
        key = (entity, scope if scope is None or isinstance(scope, str) else tuple(scope))
        scoped = self._by_entity.get(key)
        if scoped is None:
            scopes = scope if entity is None else with_scope(f"entity:{entity}", with_scope(f"table:{entity}", scope))
            scoped = self.scoped_for(scopes)
            with self._lock:
                if len(self._by_entity) >= _MAX_SCOPES:
                    self._by_entity.clear()
                self._by_entity[key] = scoped
        return scoped

    def scoped(self, scopes: tuple[tuple[str, str], ...]) -> ScopedRules:
        """The rules in force for these scopes (made once per distinct set of scopes)."""
        scoped = self._scoped.get(scopes)
        if scoped is None:
            scoped = ScopedRules(self.rules, scopes)
            with self._lock:
                if len(self._scoped) >= _MAX_SCOPES:
                    self._scoped.clear()
                self._scoped[scopes] = scoped
        return scoped

    @property
    def hasher(self) -> ValueHasher:
        """What hashes values for the hash action; raises MissingSaltError for a policy without a salt."""
        return self.walker.hasher

    # -- change-log entries ------------------------------------------------------------------------

    def apply_entry(self, entry: ChangeLogEntry, scope: Scope = None) -> ChangeLogEntry | None:
        """The entry with the policy applied, in the scopes `entity:<entity>` and `table:<entity>`
        plus `scope`; None when it is dropped. See docs/policy.md for what each selector reaches."""
        return apply_to_entry(self, entry, scope)

    def apply_entries(self, entries: Iterable[ChangeLogEntry], scope: Scope = None) -> list[ChangeLogEntry]:
        """`apply_entry` for each of `entries`, in order, without the ones the policy drops."""
        return apply_to_entries(self, entries, scope)

    # -- batches, events, log records --------------------------------------------------------------

    def apply_batch(self, batch: Any, scope: Scope = None) -> Any:
        """A columnar batch (a dict of column name -> list, a pyarrow Table / RecordBatch, or an
        integrator Batch) with the policy applied column by column; the same kind comes back."""
        return apply_to_batch(self, batch, scope)

    def apply_event(self, event: Any, scope: Scope = None) -> Any:
        """An event (a mapping or a dataclass instance) with the policy applied, in the scope
        `event:<class name>` (or `event:<type>` for a mapping with a `type`) plus `scope`; None
        when dropped. A dataclass comes back as a copy, its dropped fields set to None."""
        if dataclasses.is_dataclass(event) and not isinstance(event, type):
            values = {item.name: getattr(event, item.name) for item in dataclasses.fields(event)}
            kept = self.apply(values, with_scope(f"event:{type(event).__name__}", scope))
            if kept is None:
                return None
            changed = {name: kept.get(name) for name in values if kept.get(name, REMOVED) is not values[name]}
            return dataclasses.replace(event, **changed) if changed else event
        if isinstance(event, Mapping):
            return self.apply(event, with_scope(f"event:{event.get('type') or 'event'}", scope))
        raise TypeError(f"apply_event takes a mapping or a dataclass instance; got {type(event).__name__}")

    def log_filter(self, scope: Scope = None):
        """A `logging.Filter` applying this policy to log records' fields (see `pdip.policy.logs`)."""
        from pdip.policy.logs import PolicyLogFilter

        return PolicyLogFilter(self, scope)

    # -- counters ----------------------------------------------------------------------------------

    def add_counts(self, counts: Counts) -> None:
        """Adds the counts of one walk (see `pdip.policy.walking`) to `counters`."""
        if counts:
            with self._lock:
                for key, number in counts.items():
                    self._counts[key] = self._counts.get(key, 0) + number

    @property
    def counters(self) -> dict[str, dict[str, int]]:
        """`{action: {scope: count}}`: fields redacted, hashed and dropped, records dropped."""
        with self._lock:
            found: dict[str, dict[str, int]] = {}
            for (action, label), number in sorted(self._counts.items()):
                found.setdefault(action, {})[label] = number
            return found

    def counters_since(self, earlier: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        """`counters` less an `earlier` reading of them: what the policy did in between."""
        found: dict[str, dict[str, int]] = {}
        for action, by_scope in self.counters.items():
            for label, number in by_scope.items():
                number -= earlier.get(action, {}).get(label, 0)
                if number:
                    found.setdefault(action, {})[label] = number
        return found

    def take_counts(self) -> Counts:
        """The counts made since the last call, cleared: a worker process hands them to the
        calling process's policy (`add_counts`), whose `counters` then hold them too."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts

    def reset_counters(self) -> None:
        with self._lock:
            self._counts.clear()

    def metadata(self) -> dict[str, Any]:
        """What a run records about its policy: each file (path, SHA-256, name, rules) and the counters."""
        return {"files": [file.describe() for file in self.files], "counters": self.counters}

    def __repr__(self) -> str:
        files = ", ".join(file.path for file in self.files) or "no files"
        return f"Policy({len(self.rules)} rules: built-in, {files})"
