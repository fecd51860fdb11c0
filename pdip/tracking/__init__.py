"""Change tracking: `ChangeLogEntry`, the one language of change, and who makes the changes."""

from pdip.tracking.actors import current_actor, tracking_actor
from pdip.tracking.entry import ChangeLogEntry

__all__ = ["ChangeLogEntry", "current_actor", "tracking_actor"]
