"""codetracer's trace-filter files, read as pdip policies.

    [meta]                                     # name, version (1), description, labels
    name = "billing"
    version = 1

    [scope]
    default_exec = "trace"                     # accepted and ignored: pdip traces no code
    default_value_action = "allow"             # allow | redact | drop (deny = redact) | inherit

    [[scope.rules]]
    selector = "pkg:my_app.services.*"         # pkg | file | obj, then glob (default) | regex | literal
    value_default = "redact"                   # optional; exec and reason are accepted too

    [[scope.rules.value_patterns]]
    selector = "local:glob:public_*"           # local | global | arg | ret | attr
    action = "allow"

A file with a `scope` table is a trace filter; `Policy.load` reads it as one unit of its chain
(`TraceFilter`), after the built-in rules and the files before it. codetracer's scopes are pdip
scopes of the same names (`pkg:`, `file:`, `obj:`), and its value selectors name a record's
fields: `local`, `global`, `arg` and `ret` its top-level fields, `attr` the keys below them.

codetracer's semantics are kept where they differ from pdip's rules:

- globs are case-sensitive, `*` and `?` stay within one `/`-separated segment, `**` crosses
  segments, `[...]` and `{a,b}` work as in a shell; a regex is searched for (`^` anchors it), not
  matched whole; literal is exact;
- of the scope rules that match a record's scopes the last one brings its value patterns (those
  of earlier ones no longer apply), and the last `value_default` given stands;
- within a rule the first value pattern that matches a field decides, else the value default.

A value default of `allow` (or `inherit`) is no decision: the field is left to the rules before
the file, so pdip's built-in secret rule still holds where a filter allows by default, while an
`allow` pattern that names a field overrides it, as a pdip `allow` rule does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pdip.policy.errors import PolicyFileError, unknown_key
from pdip.policy.rules import ALLOW, ATTR, DROP, REDACT, Rule
from pdip.policy.selectors import Pattern

TOP_KEYS = ("meta", "scope", "io")
SCOPE_KEYS = ("default_exec", "default_value_action", "rules")
RULE_KEYS = ("selector", "exec", "value_default", "reason", "value_patterns")
PATTERN_KEYS = ("selector", "action", "reason")
SCOPE_SELECTORS = ("pkg", "file", "obj")
VALUE_SELECTORS = ("local", "global", "arg", "ret", "attr")
MATCH_TYPES = ("glob", "regex", "literal")
EXEC_VALUES = ("trace", "skip", "inherit")
VALUE_ACTIONS = {"allow": ALLOW, "redact": REDACT, "drop": DROP, "deny": REDACT}
INHERIT = "inherit"
VERSION = 1
_FORM = "kind:[glob|regex|literal:]pattern"


class TracePattern(Pattern):
    """A codetracer pattern: `match` is glob, regex or literal, with codetracer's semantics."""

    __slots__ = ("match",)

    def __init__(self, match: str, text: str):
        self.match = match
        self.text = text
        self._match = _matcher(match, text)

    def __reduce__(self) -> tuple:
        return (TracePattern, (self.match, self.text))

    def is_literal(self) -> bool:
        return self.match == "literal"

    def __repr__(self) -> str:
        return f"TracePattern({self.match!r}, {self.text!r})"


def _matcher(match: str, text: str) -> Callable[[str], bool]:
    if match == "literal":
        return text.__eq__
    expression = re.compile(text if match == "regex" else glob_to_path_regex(text), re.DOTALL if match == "glob" else 0)
    if match == "regex":
        return lambda name: expression.search(name) is not None
    return lambda name: expression.fullmatch(name) is not None


def glob_to_path_regex(glob: str) -> str:
    """A glob with path semantics as a regular expression: `*` and `?` within a segment, `**`
    as a whole segment across segments, `[...]` (`!` or `^` negates) and `{a,b}`; `\\` escapes."""
    out: list[str] = []
    index, size, braces = 0, len(glob), 0
    while index < size:
        char = glob[index]
        if char == "\\" and index + 1 < size:
            out.append(re.escape(glob[index + 1]))
            index += 2
            continue
        if glob.startswith("**", index):
            at_start = index == 0 or glob[index - 1] == "/"
            end = index + 2
            if at_start and glob.startswith("/", end):
                out.append("(?:.*/)?")
                index = end + 1
                continue
            if at_start and end == size:
                out.append(".*")
                index = end
                continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (close := _class_end(glob, index)) > 0:
            negated = glob[index + 1] in "!^"
            body = glob[index + (2 if negated else 1) : close]
            out.append(("[^" if negated else "[") + body.replace("\\", "\\\\") + "]")
            index = close + 1
            continue
        elif char == "{":
            braces += 1
            out.append("(?:")
        elif char == "}" and braces:
            braces -= 1
            out.append(")")
        elif char == "," and braces:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    """Where the character class opened at `start` closes (-1: it does not, `[` is itself); a
    `]` first in the class (after `!` or `^`) is one of its characters."""
    first = start + 2 if glob[start + 1 : start + 2] in ("!", "^") else start + 1
    return glob.find("]", first + 1)


class ScopeRule:
    """One `[[scope.rules]]`: the scopes it matches, its value default (None: keep the one in
    force) and its value patterns, made into pdip rules in the order pdip applies them."""

    __slots__ = ("index", "kind", "pattern", "rules", "value_default")

    def __init__(
        self, kind: str, pattern: TracePattern, value_default: str | None, rules: tuple[Rule, ...], index: int
    ):
        self.kind = kind
        self.pattern = pattern
        self.value_default = value_default
        self.rules = rules  # the value patterns, last first: in pdip's chain a later rule wins
        self.index = index

    def matches(self, scopes: Sequence[tuple[str, str]]) -> bool:
        return any(kind == self.kind and self.pattern.matches(name) for kind, name in scopes)


class TraceFilter:
    """A trace-filter file as one unit of a policy's chain: for a record's scopes it stands for
    the pdip rules that give codetracer's decisions (see `for_scopes`). It hashes nothing."""

    action = None  # decided per scope; never `hash`, so it needs no salt

    def __init__(self, source: str, default: str | None, scope_rules: Sequence[ScopeRule]):
        self.source = source
        self.default = default
        self.scope_rules = tuple(scope_rules)

    def for_scopes(self, scopes: Sequence[tuple[str, str]]) -> tuple[Rule, ...]:
        """The rules in force for these scopes: the value default of the last matching scope rule
        that gives one (else the file's) for every field, then the last matching rule's patterns."""
        default, patterns, index = self.default, (), 0
        for scope_rule in self.scope_rules:
            if scope_rule.matches(scopes):
                if scope_rule.value_default is not None:
                    default, index = scope_rule.value_default, scope_rule.index
                patterns = scope_rule.rules
        if default in (None, ALLOW):
            return patterns
        blanket = Rule(default, source=self.source, index=index, description="value default of a trace filter")
        return (blanket, *patterns)

    def __repr__(self) -> str:
        return f"TraceFilter({self.source!r}, {len(self.scope_rules)} scope rules)"


def is_trace_filter(data: Mapping[str, Any]) -> bool:
    """A policy file is a trace filter when it has a `scope` table (pdip's own have `rules`)."""
    return "scope" in data


def read_trace_filter(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], tuple[TraceFilter], int]:
    """The meta, the filter and its number of scope rules; PolicyFileError naming the place otherwise."""
    _known(data, TOP_KEYS, source, None, "", "unknown top-level key {key!r}; a trace filter has meta, scope and io")
    meta = data.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise PolicyFileError(source, f"meta: expected a table (name, version, ...); got {meta!r}")
    version = meta.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise PolicyFileError(
            source, f"meta.version: expected {VERSION} (the version of codetracer's format read here); got {version!r}"
        )
    scope = data["scope"]
    if not isinstance(scope, Mapping):
        raise PolicyFileError(source, f"scope: expected a table (default_value_action, rules, ...); got {scope!r}")
    _known(scope, SCOPE_KEYS, source, None, "scope: ")
    _choice(scope.get("default_exec", "trace"), EXEC_VALUES, source, None, "scope.default_exec")
    default = _value_action(scope.get("default_value_action", ALLOW), source, None, "scope.default_value_action")
    raw_rules = _tables(scope.get("rules", []), source, None, "scope.rules")
    rules = [_scope_rule(raw, index, source) for index, raw in enumerate(raw_rules, 1)]
    return dict(meta), (TraceFilter(source, default, rules),), len(rules)


def _scope_rule(raw: Any, index: int, source: str) -> ScopeRule:
    if not isinstance(raw, Mapping):
        raise PolicyFileError(source, f"expected a table with a selector; got {raw!r}", index)
    _known(raw, RULE_KEYS, source, index, "")
    kind, pattern = _selector(raw.get("selector"), SCOPE_SELECTORS, VALUE_SELECTORS, source, index, "", "values")
    _choice(raw.get("exec", INHERIT), EXEC_VALUES, source, index, "exec")
    value_default = _value_action(raw.get("value_default", INHERIT), source, index, "value_default")
    reason = _reason(raw, source, index, "")
    raw_patterns = _tables(raw.get("value_patterns", []), source, index, "value_patterns")
    rules = [_value_rule(item, number, index, reason, source) for number, item in enumerate(raw_patterns, 1)]
    return ScopeRule(kind, pattern, value_default, tuple(reversed(rules)), index)


def _value_rule(raw: Any, number: int, index: int, reason: str | None, source: str) -> Rule:
    where = f"value pattern {number}: "
    if not isinstance(raw, Mapping):
        raise PolicyFileError(source, f"{where}expected a table with a selector and an action; got {raw!r}", index)
    _known(raw, PATTERN_KEYS, source, index, where)
    kind, pattern = _selector(raw.get("selector"), VALUE_SELECTORS, SCOPE_SELECTORS, source, index, where, "scopes")
    action = raw.get("action")
    if action not in VALUE_ACTIONS:
        raise PolicyFileError(
            source, f"{where}action: expected one of {', '.join(VALUE_ACTIONS)}; got {action!r}", index
        )
    field_kind = ATTR if kind == "attr" else "column"
    description = _reason(raw, source, index, where) or reason
    return Rule(
        VALUE_ACTIONS[action],
        field_kind=field_kind,
        fields=(pattern,),
        source=source,
        index=index,
        description=description,
    )


def _selector(
    raw: Any, kinds: tuple[str, ...], others: tuple[str, ...], source: str, index: int, where: str, other: str
) -> tuple[str, TracePattern]:
    """`kind:[match:]pattern` split as codetracer does (at the first two colons)."""

    def fail(problem: str) -> PolicyFileError:
        return PolicyFileError(source, f"{where}selector: {problem}", index)

    taker = "a scope rule" if kinds == SCOPE_SELECTORS else "a value pattern"
    if raw is None:
        raise fail(f"missing; expected {_FORM} with kind one of {', '.join(kinds)}")
    if not isinstance(raw, str):
        raise fail(f"expected text such as {kinds[0]}:name; got {raw!r}")
    parts = raw.split(":", 2)
    kind = parts[0]
    if kind in others:
        raise fail(f"{raw!r} selects {other}; {taker} takes one of {', '.join(kinds)}")
    if kind not in kinds:
        raise fail(f"unknown kind {kind!r} in {raw!r}; expected one of {', '.join(kinds)}")
    match, text = (parts[1], parts[2]) if len(parts) == 3 else ("glob", parts[-1] if len(parts) == 2 else "")
    if match not in MATCH_TYPES:
        raise fail(f"unknown match type {match!r} in {raw!r}; expected glob, regex or literal")
    if not text:
        raise fail(f"{raw!r} has no pattern; expected {_FORM}")
    try:
        return kind, TracePattern(match, text)
    except re.error as error:
        what = "regular expression" if match == "regex" else "glob"
        raise fail(f"{raw!r} is not a valid {what} ({error})") from None


def _value_action(value: Any, source: str, index: int | None, key: str) -> str | None:
    """A value default: pdip's action, or None for inherit (no decision of its own)."""
    _choice(value, (*VALUE_ACTIONS, INHERIT), source, index, key)
    return None if value == INHERIT else VALUE_ACTIONS[value]


def _choice(value: Any, allowed: Sequence[str], source: str, index: int | None, key: str) -> None:
    if value not in allowed:
        raise PolicyFileError(source, f"{key}: expected one of {', '.join(allowed)}; got {value!r}", index)


def _tables(value: Any, source: str, index: int | None, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise PolicyFileError(source, f"{key}: expected a list of tables; got {value!r}", index)
    return value


def _reason(raw: Mapping[str, Any], source: str, index: int, where: str) -> str | None:
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PolicyFileError(source, f"{where}reason: expected text; got {reason!r}", index)
    return reason


def _known(
    raw: Mapping[str, Any], known: Sequence[str], source: str, index: int | None, where: str, message: str = ""
) -> None:
    for key in raw:
        if key in known:
            continue
        if message:
            raise PolicyFileError(source, message.format(key=key), index)
        raise PolicyFileError(source, f"{where}{unknown_key(key, known)}", index)
