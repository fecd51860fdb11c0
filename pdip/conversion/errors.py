"""Errors of the conversion area: every value that did not convert, each with its path."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pdip.conversion.coercion import Problem


class ConversionError(ValueError):
    """One or more values did not convert; `problems` lists each with its path."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(problem.describe() for problem in problems))
