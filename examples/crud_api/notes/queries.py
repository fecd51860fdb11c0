"""Reading notes: what the API returns, and the queries that find it."""

from __future__ import annotations

import datetime as dt
import uuid

from notes.domain import Note
from pdip.cqrs import IQuery, IQueryHandler
from pdip.cqrs.decorators import dtoclass, responseclass
from pdip.data import EntityNotFoundError, RepositoryProvider


@responseclass
class NoteDto:
    id: uuid.UUID
    title: str
    body: str
    done: bool
    created_at: dt.datetime | None
    created_by: str | None

    @classmethod
    def of(cls, note: Note) -> NoteDto:
        return cls(
            id=note.Id,
            title=note.title,
            body=note.body,
            done=note.done,
            created_at=note.CreateUserTime,
            created_by=note.CreateUserId,
        )


@dtoclass
class GetNoteQuery(IQuery[NoteDto]):
    id: uuid.UUID


@dtoclass
class ListNotesQuery(IQuery[list[NoteDto]]):
    page: int = 1
    size: int = 20
    done: bool | None = None


class GetNoteQueryHandler(IQueryHandler[GetNoteQuery]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, query: GetNoteQuery) -> NoteDto:
        note = self.provider.get(Note).get_by_id(query.id)
        if note is None:  # another tenant's note is not found either
            raise EntityNotFoundError("Note", query.id)
        return NoteDto.of(note)


class ListNotesQueryHandler(IQueryHandler[ListNotesQuery]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, query: ListNotesQuery) -> list[NoteDto]:
        filters = {} if query.done is None else {"done": query.done}
        notes = self.provider.get(Note).filter_by(
            order_by="title", limit=query.size, offset=(query.page - 1) * query.size, **filters
        )
        return [NoteDto.of(note) for note in notes]
