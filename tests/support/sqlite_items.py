"""The SQLite table `items` that the SQL adapter's unit tests read: `count` rows of an integer
key, a name, a timestamp kept as text and a price that is NULL on every fifth row."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def items(count: int) -> list[tuple]:
    """The rows `create_items` writes, as SQLite gives them back."""
    return [
        (i, f"name {i}", f"2026-01-01 00:00:{i % 60:02d}.000000", None if i % 5 == 0 else i * 1.5)
        for i in range(1, count + 1)
    ]


def create_items(database: Path | str, count: int = 25) -> None:
    """Create the table `items` holding `items(count)` in the SQLite file `database`."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "CREATE TABLE items (id integer primary key, name varchar(20) not null, created timestamp, price real)"
        )
        connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", items(count))
