"""Past runs as people read them: what `pdip executions` and `pdip dead-letters` print.

The records come from the `StateStore`; an execution's counts come from the summary stored when
it ended (a run still going, or killed, has none yet). Times are the stored UTC times. Rows and
positions are shown as stored, in tagged JSON (`pdip.conversion.tagged`): a decimal reads
`{"$decimal": "0.10"}`, so a dead letter's values keep their types in every format.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from pdip.conversion.tagged import dumps, encode

COUNTS = ("rows_read", "rows_written", "rows_dead_lettered")


def executions_table(records: Sequence[Mapping[str, Any]], location: str) -> list[str]:
    """A header and a line per execution: id, operation, status, start, seconds, rows read,
    written and dead-lettered (summed over its integrations), then how many runs are listed, per
    status. With none, where they were looked for (`location`: the state database's), since a
    wrong `--root` is the usual reason."""
    if not records:
        return [f"no executions in the state database ({location})"]
    header = ("EXECUTION", "OPERATION", "STATUS", "STARTED (UTC)", "SECONDS", "READ", "WRITTEN", "DEAD-LETTERED")
    lines = []
    for record in records:
        integrations = list(summary(record).values())
        totals = [str(sum(item.get(name, 0) for item in integrations)) if integrations else "-" for name in COUNTS]
        started = _time(record["started_at"])
        lines.append(
            (record["execution_id"], record["operation"], record["status"], started, _seconds(record), *totals)
        )
    return [*_table(header, lines), _statuses(records)]


def _statuses(records: Sequence[Mapping[str, Any]]) -> str:
    """`3 runs: 2 finished, 1 failed`, statuses in the order they first appear."""
    counted: dict[str, int] = {}
    for record in records:
        counted[record["status"]] = counted.get(record["status"], 0) + 1
    runs = "run" if len(records) == 1 else "runs"
    return f"{len(records)} {runs}: " + ", ".join(f"{count} {status}" for status, count in counted.items())


def execution_details(record: Mapping[str, Any], dead_letters: Mapping[str, int]) -> list[str]:
    """One execution: its status and times, each integration's status, rows and seconds, the
    errors, and how many dead letters it stored (`dead_letters`: per integration)."""
    execution_id, started = record["execution_id"], _time(record["started_at"])
    if record["finished_at"] is None:
        times = f"started {started} UTC, not finished"
    else:
        times = f"started {started}, finished {_time(record['finished_at'])} UTC ({_seconds(record)} s)"
    lines = [f"execution {execution_id} of {record['operation']}: {record['status']}", times]
    integrations = summary(record)
    if integrations:
        header = ("INTEGRATION", "STATUS", "READ", "WRITTEN", "DEAD-LETTERED", "SECONDS")
        rows = [
            (name, item.get("status", "unknown"), *(str(item.get(count, 0)) for count in COUNTS), _fixed(item))
            for name, item in integrations.items()
        ]
        lines += _table(header, rows)
        lines += [f"{name}: {item['error']}" for name, item in integrations.items() if item.get("error")]
        lines += [
            f"{name}: field policy: {_policy(item['policy'])}"
            for name, item in integrations.items()
            if item.get("policy")
        ]
        lines += [line for name, item in integrations.items() for line in _schema_lines(name, item)]
        lines += [
            f"{name}: retries: {item['retries']} (attempts started again after a failure)"
            for name, item in integrations.items()
            if item.get("retries")
        ]
        lines += [
            f"{name}: behind the source's log: {_bytes(item['lag'])} at the last batch, "
            f"{_bytes(item['lag_max'])} at most"
            for name, item in integrations.items()
            if item.get("lag") is not None
        ]
    else:
        lines.append("no summary stored: the run is still going, or it stopped before it could write one")
    stored = sum(dead_letters.values())
    hint = f" (pdip dead-letters {execution_id})" if stored else ""
    lines.append(f"dead letters stored: {stored}{hint}")
    return lines


def write_dead_letters(letters: Sequence[Mapping[str, Any]], format: str, stream: TextIO) -> None:
    """Write dead letters (as `StateStore.dead_letters` returns them) as an aligned `table`, JSON
    Lines (`jsonl`, one object per letter) or `csv` (a header, then a record per letter)."""
    if format == "jsonl":
        for letter in letters:
            record = {
                "integration": letter["integration"],
                "reason": letter["reason"],
                "position": encode(letter["position"]),
                "row": encode(letter["row"]),
                "created_at": letter["created_at"].isoformat(),
            }
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif format == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("integration", "reason", "position", "row", "created_at"))
        for letter in letters:
            position = "" if letter["position"] is None else dumps(letter["position"])
            writer.writerow(
                (
                    letter["integration"],
                    letter["reason"],
                    position,
                    dumps(letter["row"]),
                    letter["created_at"].isoformat(),
                )
            )
    else:
        rows = [
            (
                letter["integration"],
                _one_line(letter["reason"]),
                "-" if letter["position"] is None else dumps(letter["position"]),
                dumps(letter["row"]),
            )
            for letter in letters
        ]
        stream.write("\n".join(_table(("INTEGRATION", "REASON", "POSITION", "ROW"), rows)) + "\n")


def summary(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An execution's stored summary: integration name -> status, rows, seconds, error ({} before it ends)."""
    return json.loads(record["summary"]) if record.get("summary") else {}


def _schema_lines(name: str, integration: Mapping[str, Any]) -> list[str]:
    """What the integration's target changed of its schema, and the values it dropped."""
    lines = [f"{name}: schema: {change}" for change in integration.get("schema_changes") or ()]
    for column, count in (integration.get("values_discarded") or {}).items():
        values = "value" if count == 1 else "values"
        lines.append(f"{name}: schema: {count} {values} of column {column!r} discarded (schema: discard_value)")
    return lines


def _bytes(size: int) -> str:
    return f"{size} bytes" if size < 2**20 else f"{size / 2**20:.1f} MiB"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns aligned on the widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header) - 1)]
    return [
        "  ".join([*(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)), str(row[-1])])
        for row in [header, *rows]
    ]


def _policy(counters: Mapping[str, Mapping[str, int]]) -> str:
    """What a field policy did, per action over all scopes: `redact 6, drop_record 2`."""
    return ", ".join(f"{action} {sum(by_scope.values())}" for action, by_scope in counters.items())


def _time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(record: Mapping[str, Any]) -> str:
    if record["finished_at"] is None:
        return "-"
    return f"{(record['finished_at'] - record['started_at']).total_seconds():.2f}"


def _fixed(integration: Mapping[str, Any]) -> str:
    return f"{integration.get('seconds', 0.0):.2f}"


def _one_line(text: str) -> str:
    """A reason on one line, so the table stays aligned (database errors often span several)."""
    return " ".join(text.splitlines())
