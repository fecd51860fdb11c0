"""Patterns that select scopes and fields: glob by default, `regex:` and `literal:` on request.

    customers          glob: the whole name, any case; `*` is any run of characters, `?` one
    cust*              character; brackets are plain characters, so `orders[*].status`
    orders[*].status   matches the status of every order; `glob:cust*` says the same
    regex:^cust_\\d+$  a Python regular expression; the whole name must match (as written, case too)
    literal:a*b        exactly this text, case too

A scope names where a record is: `kind:name`, with kind one of source, table, topic, sink,
entity, log or event (`table:customers`, `topic:orders.v1`), or codetracer's pkg (a module, and a
log record's logger), file (a source file's path) or obj (a function or class).
"""

from __future__ import annotations

import re
from collections.abc import Callable

SCOPE_KINDS = ("source", "table", "topic", "sink", "entity", "log", "event", "pkg", "file", "obj")

_REGEX = "regex:"
_LITERAL = "literal:"
_GLOB = "glob:"


class Pattern:
    """One pattern; `matches(name)` says whether `name` is selected."""

    __slots__ = ("_match", "text")

    def __init__(self, text: str):
        self.text = text
        self._match = _compile(text)

    def matches(self, name: str) -> bool:
        return self._match(name)

    def __reduce__(self) -> tuple:
        """Pickled as its text (the compiled matcher is made again): a policy travels to Dask workers."""
        return (Pattern, (self.text,))

    def is_literal(self) -> bool:
        """True when the pattern can select one name only (no wildcard, no regular expression)."""
        return self.text.startswith(_LITERAL) or not (self.text.startswith(_REGEX) or any(c in self.text for c in "*?"))

    def literal_text(self) -> str:
        for prefix in (_LITERAL, _GLOB):
            if self.text.startswith(prefix):
                return self.text[len(prefix) :]
        return self.text

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


class PredicatePattern(Pattern):
    """A pattern given as a function of the name (the built-in secret-name rule is one)."""

    __slots__ = ()

    def __init__(self, description: str, predicate: Callable[[str], bool]):
        self.text = description
        self._match = predicate

    def __reduce__(self) -> tuple:
        return (PredicatePattern, (self.text, self._match))  # a module-level predicate pickles by name

    def is_literal(self) -> bool:
        return False


def _compile(text: str) -> Callable[[str], bool]:
    """A matcher for a pattern; raises ValueError for a bad regular expression."""
    if text.startswith(_LITERAL):
        literal = text[len(_LITERAL) :]
        return literal.__eq__
    if text.startswith(_REGEX):
        try:
            expression = re.compile(text[len(_REGEX) :])
        except re.error as error:
            raise ValueError(f"{text!r} is not a valid regular expression ({error})") from None
        return lambda name: expression.fullmatch(name) is not None
    text = text.removeprefix(_GLOB)
    if not any(c in text for c in "*?"):
        folded = text.casefold()
        return lambda name: name.casefold() == folded
    expression = re.compile(glob_to_regex(text), re.IGNORECASE | re.DOTALL)
    return lambda name: expression.fullmatch(name) is not None


def glob_to_regex(glob: str) -> str:
    """`*` -> any run of characters, `?` -> one character; everything else stands for itself."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


def parse_scope(scope: str) -> tuple[str, str]:
    """`"table:customers"` -> `("table", "customers")`; ValueError naming the kinds otherwise."""
    kind, separator, name = scope.partition(":")
    if not separator or kind not in SCOPE_KINDS:
        raise ValueError(f"a scope is written kind:name with kind one of {', '.join(SCOPE_KINDS)}; got {scope!r}")
    return kind, name
