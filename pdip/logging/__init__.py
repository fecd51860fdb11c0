"""Logging for pdip applications: lines without global state, with secret fields masked."""

from pdip.logging.loggers import ConsoleLogger

__all__ = ["ConsoleLogger"]
