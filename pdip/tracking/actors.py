"""Who is making a change: an actor name carried by a context variable.

Context variables follow threads that copy the context and every asyncio task, so two requests
served at once each see their own actor. The data layer stamps it on audit columns and
change-log entries; tracked containers stamp it on each entry.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("pdip_tracking_actor", default=None)


@contextmanager
def tracking_actor(name: str | None) -> Iterator[str | None]:
    """Within the block, changes are made by `name`; the previous actor is restored after."""
    token = ACTOR.set(name)
    try:
        yield name
    finally:
        ACTOR.reset(token)


def current_actor() -> str | None:
    """The actor set by the innermost `tracking_actor` block, or None."""
    return ACTOR.get()
