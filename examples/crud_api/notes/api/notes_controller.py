"""/api/Notes: the notes of the caller's tenant (the X-Tenant-Id header)."""

from __future__ import annotations

import uuid

from notes.commands import CreateNoteCommand, DeleteNoteCommand, NoteChange, UpdateNoteCommand
from notes.queries import GetNoteQuery, ListNotesQuery, NoteDto
from pdip.api import ControllerBase, status
from pdip.cqrs import Dispatcher


class NotesController(ControllerBase):
    """Notes of the caller's tenant."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher

    def get(self, id: uuid.UUID | None = None, page: int = 1, size: int = 20) -> NoteDto | list[NoteDto]:
        """One note by id, or a page of them ordered by title."""
        if id is None:
            return self.dispatcher.dispatch(ListNotesQuery(page=page, size=size))
        return self.dispatcher.dispatch(GetNoteQuery(id=id))

    @status(201)
    def post(self, note: CreateNoteCommand) -> NoteDto:
        """Write a note; answers 201 with it."""
        created = self.dispatcher.dispatch(note)
        return created, 201, {"Location": f"/api/Notes/{created.id}"}

    def put(self, id: uuid.UUID, change: NoteChange) -> NoteDto:
        """Replace a note's title, body and done flag."""
        return self.dispatcher.dispatch(UpdateNoteCommand(id=id, change=change))

    def delete(self, id: uuid.UUID) -> None:
        """Delete a note (softly: it stays in the table, marked deleted)."""
        self.dispatcher.dispatch(DeleteNoteCommand(id=id))
