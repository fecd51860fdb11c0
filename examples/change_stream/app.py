"""The change stream, end to end: `python -m examples.change_stream` (from the repository root).

1. The application writes accounts through its repository; `Account` is tracked, so every
   insert, update and (soft) delete also writes a change-log entry to the outbox, in the same
   transaction, with the API token already redacted by the field policy.
2. `relay.yml` moves the outbox to a Kafka topic; `replicate.yml` applies the topic to a
   replica table and appends every entry to an audit file.
3. The replica is compared with the source row by row, and the topic and the file are searched
   for any API token. Exit status 0 only if the replica matches and no secret got out.

Environment: `KAFKA_BOOTSTRAP_SERVERS` (else a tansu broker is started for the run),
`DATABASE_URL` (a PostgreSQL URL used for source and replica; else two SQLite files),
`CHANGE_STREAM_WORKDIR` (where files go; else a temporary folder).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from examples.change_stream.accounts import Account
from pdip import Pdi
from pdip.data import DatabaseSessionManager, RepositoryProvider
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from pdip.tracking import read_json_lines, tracking_actor

HERE = Path(__file__).resolve().parent
ACCOUNTS = 300
# The token is redacted on the way (the replica holds the marker, never the token), and the
# outbox leaves the update stamps out of update entries (they change with every update).
IGNORED = ("ApiToken", "UpdateUserId", "UpdateUserTime")


def main() -> int:
    workdir = Path(os.environ.get("CHANGE_STREAM_WORKDIR") or tempfile.mkdtemp(prefix="change-stream-"))
    with _broker() as bootstrap:
        source_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'source.db'}"
        replica_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'replica.db'}"
        topic = f"accounts-changes-{uuid.uuid4().hex[:8]}"
        configurations = {
            "DATABASE": {"TYPE": sa.make_url(source_url).get_backend_name(), "CONNECTION_STRING": source_url},
            "INTEGRATOR": {"STATE_URL": f"sqlite:///{workdir / 'state.db'}"},
        }
        # `Account` is imported here as examples.change_stream.accounts: discovery leaves it be.
        with Pdi(root_directory=HERE, configurations=configurations, excluded_modules=["accounts"]) as pdi:
            _prepare(pdi, replica_url)
            _write_accounts(pdi)
            environ = {
                "SOURCE_URL": source_url,
                "REPLICA_URL": replica_url,
                "BOOTSTRAP": bootstrap,
                "TOPIC": topic,
                "WORKDIR": str(workdir),
            }
            integrator = pdi.get(Integrator)
            for name in ("relay.yml", "replicate.yml"):
                result = integrator.integrate(Operation.from_yaml(HERE / name, environ=environ))
                if not result.ok:
                    errors = "; ".join(f"{item.name}: {item.error}" for item in result.integrations if item.error)
                    print(f"change stream: {name} failed: {errors}")
                    return 1
            published = _published(integrator, bootstrap, topic)
            return _compare(source_url, replica_url, workdir, published)


def _broker():
    from tests.support.kafka_broker import configured_or_started  # the repository's tansu helper

    return configured_or_started("KAFKA_BOOTSTRAP_SERVERS")


def _prepare(pdi: Pdi, replica_url: str) -> None:
    database = pdi.get(DatabaseSessionManager)
    database.drop_all()
    database.create_all()
    engine = sa.create_engine(replica_url)
    replica = Account.__table__.to_metadata(sa.MetaData(), name="accounts_replica")
    replica.drop(engine, checkfirst=True)
    replica.create(engine)
    engine.dispose()


def _write_accounts(pdi: Pdi) -> None:
    """Inserts, then updates of every third account, soft deletes of every tenth and one restore."""
    with pdi.scope(), tracking_actor("signup"):
        provider = pdi.get(RepositoryProvider)
        accounts = provider.get(Account)
        accounts.insert_many(
            Account(Name=f"account {i}", Email=f"a{i}@example.com", ApiToken=f"tok-{uuid.uuid4().hex}", Balance=i)
            for i in range(ACCOUNTS)
        )
        provider.commit()
    with pdi.scope(), tracking_actor("billing"):
        provider = pdi.get(RepositoryProvider)
        accounts = provider.get(Account)
        everyone = accounts.filter_by(order_by="Balance")
        for account in everyone[::3]:
            account.Balance += 1000
            accounts.update(account)
        for account in everyone[::10]:
            accounts.delete(account)
        provider.commit()
        accounts.restore(everyone[0])
        provider.commit()


def _published(integrator: Integrator, bootstrap: str, topic: str) -> list[Any]:
    """Every entry on the topic as stored there (no policy applied on the way back)."""
    reader = Operation(
        "inspect-topic",
        [
            Integration(
                "topic-to-memory",
                source=Connection(
                    "kafka",
                    {"bootstrap_servers": bootstrap, "topic": topic, "group": "inspect", "start": "earliest"},
                ),
                target=Connection("memory", {"store": "published"}),
                mode="changes",
                policy=False,
            )
        ],
        executor="inline",
    )
    integrator.integrate(reader)
    return list(integrator.stores.get("published", []))


def _rows(url: str, table: str) -> dict[Any, dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            rows = connection.execute(sa.select(reflected).where(reflected.c.GcRecId.is_(None))).mappings()
            return {_plain(row["Id"]): {name: _plain(value) for name, value in row.items()} for row in rows}
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    """Values as both databases give them back: UUIDs as text, datetimes as naive UTC."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, str) and len(value) in (32, 36):
        with contextlib.suppress(ValueError):
            return uuid.UUID(value).hex
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _compare(source_url: str, replica_url: str, workdir: Path, published: list[Any]) -> int:
    source, replica = _rows(source_url, "accounts"), _rows(replica_url, "accounts_replica")
    differing = [
        key
        for key in source.keys() | replica.keys()
        if {k: v for k, v in source.get(key, {}).items() if k not in IGNORED}
        != {k: v for k, v in replica.get(key, {}).items() if k not in IGNORED}
    ]
    leaked_kafka = sum(1 for entry in published if "tok-" in entry.to_json())
    audit = list(read_json_lines(workdir / "audit" / "accounts.jsonl"))
    leaked_file = sum(1 for entry in audit if "tok-" in entry.to_json())
    leaked_replica = sum(1 for row in replica.values() if str(row["ApiToken"]).startswith("tok-"))
    ok = bool(source) and not differing and not leaked_kafka and not leaked_file and not leaked_replica
    print(
        f"change stream: {len(source)} source rows, {len(replica)} replica rows, {len(differing)} differing; "
        f"{len(published)} entries on Kafka, {len(audit)} in the audit file; "
        f"secrets in Kafka: {leaked_kafka}, in the file: {leaked_file} -> {'OK' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1
