"""ConsoleLogger: one line per event on standard output, with fields and secrets masked.

    console = ConsoleLogger()
    console.info("copied %d rows", 120, table="accounts", dsn="postgresql://app:pw@db/prod")
    # 2026-11-22 20:30:01,123 INFO     copied 120 rows table=accounts dsn=postgresql://app:***@db/prod

Each ConsoleLogger owns a private `logging.Logger` that is never entered into the logging module's
global registry (`logging.getLogger`), so two applications in one process each get their own
logger and never see each other's handlers or print a line twice. Timestamps are UTC.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from pdip.dependency.scopes import ISingleton
from pdip.policy import mask_secrets

LINE_FORMAT = "%(asctime)s %(levelname)-8s %(message)s"

# Frames between the user's call and Logger.log: the public method, then _log.
_STACK_LEVEL = 3


class ConsoleLogger(ISingleton):
    """Writes log lines to the current `sys.stdout`; keyword fields follow as `key=value`.

    `level` is a level name ("debug", "INFO") or number; `name` shows up in `record.name` for
    handlers that print it. Add handlers to `.logger` to send the same events elsewhere: each
    record carries its masked fields as `record.fields`, and `.handler.formatter` renders the
    same line this logger prints.
    """

    def __init__(self, level: int | str = "INFO", name: str = "pdip") -> None:
        # Made directly rather than with logging.getLogger(name), which would share one logger
        # (and its handlers) with every other ConsoleLogger of the same name in the process.
        self.logger = logging.Logger(name, level=_level_number(level))
        self.handler: logging.Handler = _StdoutHandler()
        self.handler.setFormatter(_LineFormatter(LINE_FORMAT))
        self.logger.addHandler(self.handler)

    def debug(self, message: str, /, *args: Any, **fields: Any) -> None:
        self._log(logging.DEBUG, message, args, fields)

    def info(self, message: str, /, *args: Any, **fields: Any) -> None:
        self._log(logging.INFO, message, args, fields)

    def warning(self, message: str, /, *args: Any, **fields: Any) -> None:
        self._log(logging.WARNING, message, args, fields)

    def error(self, message: str, /, *args: Any, **fields: Any) -> None:
        self._log(logging.ERROR, message, args, fields)

    def critical(self, message: str, /, *args: Any, **fields: Any) -> None:
        self._log(logging.CRITICAL, message, args, fields)

    def exception(self, message: str, /, *args: Any, **fields: Any) -> None:
        """Logs at ERROR with the traceback of the exception being handled."""
        self._log(logging.ERROR, message, args, fields, exc_info=True)

    def _log(
        self,
        level: int,
        message: str,
        args: tuple[Any, ...],
        fields: dict[str, Any],
        exc_info: bool = False,
    ) -> None:
        if not self.logger.isEnabledFor(level):
            return  # skip masking the fields of a line nobody will see
        self.logger.log(
            level,
            message,
            *args,
            exc_info=exc_info,
            extra={"fields": mask_secrets(fields)},
            stacklevel=_STACK_LEVEL,
        )


class _StdoutHandler(logging.Handler):
    """Writes to whatever `sys.stdout` is when a line is emitted, not when the logger was made.

    Looking it up late is what lets `contextlib.redirect_stdout` (and test runners that swap
    stdout) capture the output.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must not crash the caller; handleError reports it
            self.handleError(record)


class _LineFormatter(logging.Formatter):
    """The standard line with the record's fields appended, before any traceback."""

    converter = time.gmtime

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={_field_text(value)}" for key, value in fields.items())
        return line


def _field_text(value: Any) -> str:
    """A value written so the line stays one line and splits back into key=value pairs."""
    if isinstance(value, str):
        plain = value and not any(char.isspace() or char in '"=' for char in value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def _level_number(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level is a level name or number, not {type(level).__name__}")
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    number = logging.getLevelName(name)  # a number for a known name, else "Level <name>"
    if isinstance(number, int):
        return number
    raise ValueError(f"Unknown log level {level!r}; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a number")
