"""An application on disk with controllers for every routing, conversion and error rule.

`sample_api(**api_section)` writes it once per test module (see tests.support.apps) and gives a
fresh `Pdi` and `ApiApp` per configuration, so tests of different settings share the modules.
"""

from __future__ import annotations

from contextlib import contextmanager

from pdip import Pdi
from pdip.api import ApiApp
from tests.support.apps import application

FILES = {
    "{pkg}/__init__.py": "",
    "{pkg}/accounts/__init__.py": "",
    "{pkg}/accounts/create_account.py": """
        from pdip.cqrs import ICommand, ICommandHandler
        from pdip.cqrs.decorators import dtoclass

        @dtoclass
        class CreateAccountCommand(ICommand):
            email: str
            display_name: str

        class CreateAccountCommandHandler(ICommandHandler[CreateAccountCommand]):
            def handle(self, command: CreateAccountCommand):
                return {"ok": True, "email": command.email}
    """,
    "{pkg}/api/__init__.py": "",
    # The controller of the issue, verbatim but for the package name.
    "{pkg}/api/accounts_controller.py": """
        from injector import inject
        from pdip.api.base import ControllerBase
        from pdip.cqrs import Dispatcher
        from {pkg}.accounts.create_account import CreateAccountCommand

        class AccountsController(ControllerBase):
            @inject
            def __init__(self, dispatcher: Dispatcher):
                self.dispatcher = dispatcher

            def post(self, body):
                command = CreateAccountCommand(**body)
                return self.dispatcher.dispatch(command)
    """,
    "{pkg}/notes/__init__.py": "",
    "{pkg}/notes/store.py": """
        import dataclasses
        import datetime as dt
        import enum

        from pdip.cqrs.decorators import dtoclass
        from pdip.dependency import ISingleton


        class Colour(enum.Enum):
            RED = "red"
            BLUE = "blue"


        @dtoclass
        class NoteInput:
            '''What a caller sends to create or replace a note.'''
            title: str
            priority: int = 1
            tags: list[str] = dataclasses.field(default_factory=list)
            colour: Colour = Colour.BLUE


        @dtoclass
        class NoteView:
            id: int
            title: str
            priority: int
            tags: list[str]
            colour: Colour
            created: dt.datetime


        @dtoclass
        class NoteFilter:
            priority: int | None = None
            tags: list[str] = dataclasses.field(default_factory=list)


        class NoteStore(ISingleton):
            def __init__(self):
                self.notes = {}

            def add(self, note: NoteInput) -> NoteView:
                view = NoteView(
                    id=len(self.notes) + 1, title=note.title, priority=note.priority, tags=note.tags,
                    colour=note.colour, created=dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc),
                )
                self.notes[view.id] = view
                return view
    """,
    "{pkg}/notes/notes_controller.py": """
        from pdip.api import ControllerBase, NotFoundError
        from {pkg}.notes.store import NoteFilter, NoteInput, NoteStore, NoteView


        class NotesController(ControllerBase):
            '''Notes: create, read, change, delete.'''

            def __init__(self, store: NoteStore):  # plain type hints, no @inject
                self.store = store

            def get(self, id: int | None = None) -> NoteView | list[NoteView]:
                '''One note by id, or all of them.'''
                if id is None:
                    return list(self.store.notes.values())
                if id not in self.store.notes:
                    raise NotFoundError(f"no note {id}")
                return self.store.notes[id]

            def post(self, note: NoteInput) -> NoteView:
                return self.store.add(note), 201, {"Location": "/api/Notes/1"}

            def put(self, id: int, note: NoteInput) -> NoteView:
                current = self.get(id)
                current.title, current.priority = note.title, note.priority
                return current

            def patch(self, id: int, body: dict):
                return {"id": id, "changed": sorted(body)}

            def delete(self, id: int) -> None:
                self.store.notes.pop(id, None)


        class SearchController(ControllerBase):
            def get(self, query: NoteFilter) -> list[NoteView]:
                return [
                    note for note in self.store.notes.values()
                    if (query.priority is None or note.priority == query.priority)
                    and set(query.tags) <= set(note.tags)
                ]

            def __init__(self, store: NoteStore):
                self.store = store
    """,
    "{pkg}/misc/__init__.py": "",
    "{pkg}/misc/paged.py": """
        import abc

        from pdip.api import ControllerBase


        class PagedController(ControllerBase, abc.ABC):
            # A base for list controllers: abstract, so it is not served itself.

            @abc.abstractmethod
            def items(self) -> list: ...

            def get(self, page: int = 1, size: int = 2):
                return self.items()[(page - 1) * size : page * size]
    """,
    "{pkg}/misc/colours.py": """
        from {pkg}.misc.paged import PagedController


        class ColoursController(PagedController):  # two levels below ControllerBase
            def items(self) -> list:
                return ["red", "green", "blue"]
    """,
    "{pkg}/misc/controllers.py": """
        import dataclasses
        import datetime as dt
        import decimal
        import uuid
        from typing import Annotated

        from pdip.api import ControllerBase, FromQuery, FromRoute, FromBody, Caller, ConflictError, error_status, status
        from pdip.cqrs import Dispatcher, ICommand, ICommandHandler
        from pdip.cqrs.decorators import dtoclass
        from pdip.data import TenantContext
        from pdip.dependency import IScoped


        class UserAccountsController(ControllerBase):
            def get(
                self, page: int = 1, size: int = 10, active: bool = True, names: list[str] | None = None,
                counts: list[int] = [],
            ):
                return {"page": page, "size": size, "active": active, "names": names, "counts": counts}


        class RequestLog(IScoped):
            created = []
            closed = []

            def __init__(self):
                RequestLog.created.append(self)

            def close(self):
                RequestLog.closed.append(self)


        class Auditor:
            def __init__(self, log: RequestLog):
                self.log = log


        class ScopesController(ControllerBase):
            def __init__(self, log: RequestLog, auditor: Auditor):
                self.log, self.auditor = log, auditor

            def get(self):
                return {"same": self.log is self.auditor.log, "id": id(self.log)}


        @dtoclass
        class Unhandled(ICommand):
            name: str


        @error_status(409, title="Duplicate")
        class DuplicateError(Exception):
            pass


        class MappedError(Exception):
            pass


        class FailuresController(ControllerBase):
            def __init__(self, dispatcher: Dispatcher):
                self.dispatcher = dispatcher

            def get(self, kind: str):
                if kind == "handler":
                    return self.dispatcher.dispatch(Unhandled(name="x"))
                if kind == "declared":
                    raise DuplicateError("an account with that email exists")
                if kind == "mapped":
                    raise MappedError("mapped by configuration")
                if kind == "conflict":
                    raise ConflictError("version 3 is not the latest", errors=[{"field": "version", "message": "stale"}])
                if kind == "deep-type-error":
                    return len(5)
                raise RuntimeError("connect failed: postgresql://app:hunter2@db/app")


        @dataclasses.dataclass
        class Plain:
            when: dt.datetime
            amount: decimal.Decimal
            key: uuid.UUID


        class ShapesController(ControllerBase):
            def get(self, kind: str):
                return {
                    "dict": {"a": 1},
                    "list": [1, "two"],
                    "none": None,
                    "text": "hello",
                    "dataclass": Plain(dt.datetime(2026, 1, 2, 3, 4, 5), decimal.Decimal("1.50"), uuid.UUID(int=7)),
                    "tuple": ({"created": True}, 201),
                    "dict-keys": {1: "one"},
                }[kind]


        class ExplicitController(ControllerBase):
            route = "/things/<kind>/items"

            def get(self, kind: str, number: Annotated[int, FromRoute], verbose: Annotated[bool, FromQuery] = False):
                return {"kind": kind, "number": number, "verbose": verbose}

            def post(self, kind: str, payload: Annotated[dict, FromBody] = None):
                return {"kind": kind, "payload": payload}


        class MadeController(ControllerBase):
            @status(201)
            def post(self) -> dict:
                return {"made": True}


        class HealthController(ControllerBase):
            anonymous = True

            def get(self):
                return {"status": "ok"}


        @dtoclass
        class Login:
            user: str
            password: str


        @dtoclass
        class SetPasswordCommand(ICommand):
            user: str
            password: str

            def validate(self):
                return ["password: at least 8 characters"] if isinstance(self.password, str) and len(self.password) < 8 else None


        class SetPasswordCommandHandler(ICommandHandler[SetPasswordCommand]):
            def handle(self, command):
                return {"user": command.user}


        class LoginController(ControllerBase):
            def __init__(self, dispatcher: Dispatcher):
                self.dispatcher = dispatcher

            def post(self, login: Login):
                return {"user": login.user}

            def put(self, body):
                return self.dispatcher.dispatch(SetPasswordCommand(**body))


        class WhoController(ControllerBase):
            def __init__(self, caller: Caller, tenants: TenantContext):
                self.caller, self.tenants = caller, tenants

            def get(self):
                principal = self.caller.principal
                return {
                    "principal": principal.name if principal else None,
                    "tenant": self.caller.tenant_id,
                    "context": self.tenants.tenant_id,
                }
    """,
}


@contextmanager
def sample_root():
    """The sample application's folder and package name, for a test module's lifetime."""
    with application(FILES) as (root, package):
        yield root, package


def sample_api(root, api: dict | None = None, **sections) -> tuple[Pdi, ApiApp]:
    configuration = {"API": {"EXECUTIONS": False, **(api or {})}, "CQRS": {"LOGGING": False}, **sections}
    pdi = Pdi(root, configurations=configuration)
    return pdi, pdi.get(ApiApp)
