"""`RepositoryProvider`: the repositories of one scope, sharing one session and transaction.

    with pdi.scope():
        provider = pdi.get(RepositoryProvider)
        notes = provider.get(Note)
        notes.insert(Note(title="hello"))
        provider.commit()

The session opens on first use and closes when the scope ends. A database error that breaks a
constraint is reported as ConstraintViolationError naming the entity and the constraint, after a
rollback, so the provider can be used again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.orm import Session

from pdip.data.domain import Entity, EntityBase
from pdip.data.errors import ConstraintViolationError
from pdip.data.repository import Repository
from pdip.data.session import DatabaseSessionManager
from pdip.dependency import IScoped

T = TypeVar("T", bound=Entity)

# How each backend names the table and constraint in its message, when the driver does not say.
_SQLITE_FAILED = re.compile(
    r"(?P<kind>\w+(?: \w+)?) constraint failed: (?P<table>\w+)\.(?P<columns>[\w.,\s]+)", re.IGNORECASE
)
_MYSQL_KEY = re.compile(r"for key '(?:(?P<table>\w+)\.)?(?P<constraint>[\w.]+)'")
_MYSQL_FK = re.compile(r"CONSTRAINT `(?P<constraint>\w+)`")
_MYSQL_COLUMN = re.compile(r"Column '(?P<column>\w+)' cannot be null")


class RepositoryProvider(IScoped):
    def __init__(self, database: DatabaseSessionManager):
        self.database = database
        self._session: Session | None = None
        self._repositories: dict[type, Repository] = {}
        self._depth = 0

    @property
    def session(self) -> Session:
        if self._session is None:  # in a unit of work it writes; outside one it reads
            self._session = self.database.session(writes=self.in_transaction)
        return self._session

    def get(self, entity: type[T]) -> Repository[T]:
        """The repository of `entity`, bound to this provider's session."""
        repository = self._repositories.get(entity)
        if repository is None:
            repository = self._repositories[entity] = _GuardedRepository(entity, self.session, self._guard)
        return repository

    def commit(self) -> None:
        self._guard(self.session.commit)

    # -- transactions: nested blocks join the outermost one ------------------------------------------

    def begin(self) -> None:
        self._depth += 1
        if self._depth == 1 and self._session is not None:
            self._session.stop_autocommit_reads()  # read before: what follows runs in the transaction
            if not self._session.in_transaction():
                self._session.bind = self.database.bind(writes=True)  # its next transaction writes

    def end(self, failed: bool) -> None:
        """Leave a block opened by `begin`; the outermost commits (or rolls back) and closes."""
        self._depth -= 1
        if self._depth:
            return
        try:
            if failed:
                self.rollback()
            else:
                self.commit()
        finally:
            self.close()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
            self._repositories.clear()

    def _guard(self, action: Callable[[], Any]) -> Any:
        """Run `action`; turn an integrity error into ConstraintViolationError after a rollback."""
        try:
            return action()
        except exc.IntegrityError as error:
            self.session.rollback()
            raise _violation(error) from error


class _GuardedRepository(Repository[T]):
    """A repository whose writes report constraint violations clearly (see RepositoryProvider)."""

    def __init__(self, entity: type[T], session: Session, guard: Callable[[Callable[[], Any]], Any]):
        super().__init__(entity, session)
        self._guard = guard

    def insert(self, entity: T) -> T:
        return self._guard(lambda: super(_GuardedRepository, self).insert(entity))

    def insert_many(self, entities):
        return self._guard(lambda: super(_GuardedRepository, self).insert_many(entities))

    def update(self, entity: T) -> T:
        return self._guard(lambda: super(_GuardedRepository, self).update(entity))

    def delete(self, entity_or_id):
        return self._guard(lambda: super(_GuardedRepository, self).delete(entity_or_id))

    def restore(self, entity_or_id):
        return self._guard(lambda: super(_GuardedRepository, self).restore(entity_or_id))

    def hard_delete(self, entity_or_id) -> None:
        return self._guard(lambda: super(_GuardedRepository, self).hard_delete(entity_or_id))


def _violation(error: exc.IntegrityError) -> ConstraintViolationError:
    """Name the entity and the constraint from what the driver reports."""
    original = error.orig
    message = str(original).strip().splitlines()[0] if original is not None else str(error)
    table = constraint = None
    diagnostics = getattr(original, "diag", None)  # psycopg
    if diagnostics is not None:
        table, constraint = diagnostics.table_name, diagnostics.constraint_name
        if constraint is None and diagnostics.column_name:
            constraint = f"NOT NULL ({diagnostics.column_name})"
    elif (match := _SQLITE_FAILED.search(message)) is not None:
        columns = ", ".join(part.strip().rpartition(".")[2] for part in match["columns"].split(","))
        table, constraint = match["table"], f"{match['kind']} ({columns})"
    elif (match := _MYSQL_KEY.search(message) or _MYSQL_FK.search(message)) is not None:
        table, constraint = match.groupdict().get("table"), match["constraint"]
    elif (match := _MYSQL_COLUMN.search(message)) is not None:
        constraint = f"NOT NULL ({match['column']})"
    return ConstraintViolationError(_entity_name(table, error), constraint, message)


def _entity_name(table: str | None, error: exc.IntegrityError) -> str:
    if table is None and error.statement:
        match = re.search(r"(?:INSERT INTO|UPDATE|DELETE FROM)\s+[`\"]?(\w+)", error.statement, re.IGNORECASE)
        table = match[1] if match else None
    for mapper in EntityBase.registry.mappers:
        if mapper.local_table is not None and mapper.local_table.name == table:
            return mapper.class_.__name__
    return table or "an entity"
