"""The composition root."""

from pdip.base.pdi import Pdi

__all__ = ["Pdi"]
