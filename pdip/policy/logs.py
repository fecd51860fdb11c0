"""A policy applied to log records, as a `logging.Filter`.

    console = pdi.get(ConsoleLogger)
    console.logger.addFilter(pdi.get(Policy).log_filter())

The filter applies the policy to a record's structured fields (`record.fields`, which
`ConsoleLogger` attaches to every line) and to a mapping passed as the message's argument
(`log.info("%(user)s signed in", {"user": ...})`). A record that a drop_record rule drops is
not logged. Records are seen in the scopes `log:<logger name>` and `pkg:<logger name>` (a logger
is named after its module, codetracer's `pkg`), plus the filter's own scope.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pdip.policy.walking import Scope, with_scope

if TYPE_CHECKING:
    from pdip.policy.engine import Policy


class PolicyLogFilter(logging.Filter):
    """Rewrites each record's fields by the policy; returns False (not logged) when dropped."""

    def __init__(self, policy: Policy, scope: Scope = None):
        super().__init__()
        self.policy = policy
        self.scope = scope

    def filter(self, record: logging.LogRecord) -> bool:
        scope = with_scope(f"log:{record.name}", with_scope(f"pkg:{record.name}", self.scope))
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            kept = self.policy.apply(fields, scope)
            if kept is None:
                return False
            record.fields = kept
        if isinstance(record.args, Mapping):
            kept = self.policy.apply(record.args, scope)
            if kept is None:
                return False
            record.args = kept
        return True
