"""What each transaction that writes a PostgreSQL table commits with: a deferred constraint
trigger (it runs at commit) notes the transaction, its `synchronous_commit` and the WAL insert
position into a table of its own, one row per row written. The flush tests read it to tell
which commits waited for the disk and whether the WAL was flushed past the last one."""

from __future__ import annotations

import sqlalchemy as sa


def note_commits(connection: sa.Connection, table: str, modes: str) -> None:
    """Note every commit that inserts or updates rows of `table` into the new table `modes`."""
    connection.exec_driver_sql(
        f"CREATE TABLE {modes} (id serial PRIMARY KEY, xact text, mode text, lsn pg_lsn, row_id integer)"
    )
    connection.exec_driver_sql(
        f"CREATE FUNCTION {modes}_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO {modes} (xact, mode, lsn, row_id) VALUES (pg_current_xact_id()::text, "
        "current_setting('synchronous_commit'), pg_current_wal_insert_lsn(), NEW.id); RETURN NEW; END $$"
    )
    connection.exec_driver_sql(
        f"CREATE CONSTRAINT TRIGGER note AFTER INSERT OR UPDATE ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {modes}_note()"
    )


def commit_modes(connection: sa.Connection, modes: str) -> list[str]:
    """`synchronous_commit` of each noted transaction, in the order they wrote."""
    found = connection.exec_driver_sql(f"SELECT mode FROM {modes} GROUP BY xact, mode ORDER BY min(id)")
    return list(found.scalars())


def drop_notes(connection: sa.Connection, modes: str) -> None:
    """The table of notes and its trigger function (the trigger goes with the table it watches)."""
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {modes}")
    connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {modes}_note()")
