"""Changing notes: one command per change, each committed by the unit of work of its dispatch."""

from __future__ import annotations

import uuid

from notes.domain import Note
from notes.queries import NoteDto
from pdip.cqrs import ICommand, ICommandHandler
from pdip.cqrs.decorators import dtoclass
from pdip.data import EntityNotFoundError, RepositoryProvider


@dtoclass
class CreateNoteCommand(ICommand):
    title: str
    body: str = ""

    def validate(self):
        return ["title: must not be blank"] if not self.title.strip() else None


@dtoclass
class NoteChange:
    """The fields of a note a caller may replace."""

    title: str
    body: str = ""
    done: bool = False


@dtoclass
class UpdateNoteCommand(ICommand):
    id: uuid.UUID
    change: NoteChange


@dtoclass
class DeleteNoteCommand(ICommand):
    id: uuid.UUID


class CreateNoteCommandHandler(ICommandHandler[CreateNoteCommand]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, command: CreateNoteCommand) -> NoteDto:
        note = self.provider.get(Note).insert(Note(title=command.title, body=command.body))
        return NoteDto.of(note)


class UpdateNoteCommandHandler(ICommandHandler[UpdateNoteCommand]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, command: UpdateNoteCommand) -> NoteDto:
        notes = self.provider.get(Note)
        note = notes.get_by_id(command.id)
        if note is None:
            raise EntityNotFoundError("Note", command.id)
        note.title, note.body, note.done = command.change.title, command.change.body, command.change.done
        return NoteDto.of(notes.update(note))


class DeleteNoteCommandHandler(ICommandHandler[DeleteNoteCommand]):
    def __init__(self, provider: RepositoryProvider):
        self.provider = provider

    def handle(self, command: DeleteNoteCommand) -> None:
        notes = self.provider.get(Note)
        if notes.get_by_id(command.id) is None:
            raise EntityNotFoundError("Note", command.id)
        notes.delete(command.id)
