"""Loggers pdip ships; each writes somewhere different and masks secrets the same way."""

from pdip.logging.loggers.console import ConsoleLogger

__all__ = ["ConsoleLogger"]
