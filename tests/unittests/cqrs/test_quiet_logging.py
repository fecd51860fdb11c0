"""The logging behaviour is quiet by default: one DEBUG line per dispatch, no field values unless
CQRS.LOG_FIELDS asks for them (and then through the application's field policy)."""

import asyncio
import contextlib
import io
import runpy
import sys
import tempfile
import unittest

from pdip import Pdi
from pdip.configuration import ConfigurationError
from pdip.cqrs import Dispatcher, HandlerRegistry, ICommand, ICommandHandler, IPipelineBehavior, IUnitOfWork
from pdip.cqrs.decorators import dtoclass
from tests.support.apps import application
from tests.support.fakes import RecordingUnitOfWork

# Upstream pdip 0.8's README, as written: a command and its handler, then a dispatch.
UPSTREAM_README_APP = {
    "app/__init__.py": "",
    "app/accounts/__init__.py": "",
    "app/accounts/create_account.py": """
        # app/accounts/create_account.py
        from pdip.cqrs import ICommand, ICommandHandler
        from pdip.cqrs.decorators import dtoclass


        @dtoclass
        class CreateAccountCommand(ICommand):
            email: str
            display_name: str


        class CreateAccountCommandHandler(ICommandHandler[CreateAccountCommand]):
            def handle(self, command: CreateAccountCommand):
                # validate, persist through a repository, publish events, ...
                return {"ok": True}
        """,
    "main.py": """
        from pdip import Pdi
        from pdip.cqrs import Dispatcher
        from app.accounts.create_account import CreateAccountCommand

        pdi = Pdi()
        dispatcher = pdi.get(Dispatcher)
        dispatcher.dispatch(CreateAccountCommand(email="a@b.com", display_name="Alice"))
        """,
}


def run_upstream_readme(application_yml: str | None = None) -> str:
    """Run the README's snippet in an application of its own; what it printed."""
    files = dict(UPSTREAM_README_APP)
    if application_yml is not None:
        files["application.yml"] = application_yml
    output = io.StringIO()
    with application(files) as (root, _), contextlib.redirect_stdout(output):
        sys.path.insert(0, str(root))  # as when `python main.py` runs in the project's folder
        try:
            runpy.run_path(str(root / "main.py"), run_name="__main__")
        finally:
            sys.path.remove(str(root))
            for name in [name for name in sys.modules if name == "app" or name.startswith("app.")]:
                del sys.modules[name]
    return output.getvalue()


@dtoclass
class Register(ICommand):
    email: str
    password: str


class RegisterHandler(ICommandHandler[Register]):
    def handle(self, command: Register) -> str:
        if command.email == "taken@example.com":
            raise LookupError("taken")
        return "registered"


SEEN: list[str] = []


class OnlyRegistrations(IPipelineBehavior):
    order = 5

    def applies_to(self, request_type: type) -> bool:
        return request_type is Register

    def handle(self, request, next):
        SEEN.append(type(request).__name__)
        return next()


class Plain(ICommand):
    pass


class PlainHandler(ICommandHandler[Plain]):
    def handle(self, command: Plain) -> str:
        return "plain"


def app(**configurations) -> Pdi:
    """A Pdi over an empty folder; this module's handlers are found next to their requests."""
    return Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-quiet-"), configurations=configurations)


class UpstreamReadmeTest(unittest.TestCase):
    def test_the_readme_dispatch_prints_nothing_by_default(self):
        self.assertEqual(run_upstream_readme(), "")

    def test_at_debug_one_line_names_the_command_without_its_values(self):
        printed = run_upstream_readme("APPLICATION:\n  LOG_LEVEL: DEBUG\n")
        self.assertRegex(printed, r"DEBUG +handled CreateAccountCommand duration_ms=[\d.]+\n")
        self.assertNotIn("a@b.com", printed)
        self.assertNotIn("Alice", printed)


class LoggingSettingsTest(unittest.TestCase):
    def test_fields_are_logged_when_asked_through_the_policy(self):
        output = io.StringIO()
        policy = "rules:\n  - column: email\n    action: hash\n"
        files = {".pdip/policy.yml": policy}
        with application(files) as (root, _), contextlib.redirect_stdout(output):
            settings = {"CQRS": {"LOG_FIELDS": True, "LOG_LEVEL": "INFO"}, "POLICY": {"SALT": "pepper"}}
            with Pdi(root_directory=root, configurations=settings) as pdi:
                pdi.get(Dispatcher).dispatch(Register(email="ada@example.com", password="hunter2"))
        line = output.getvalue()
        self.assertRegex(
            line, r'INFO +handled Register duration_ms=[\d.]+ fields=\{"email":"[^"]+","password":"\*\*\*"\}'
        )
        self.assertNotIn("ada@example.com", line)
        self.assertNotIn("hunter2", line)

    def test_a_failure_is_one_line_at_the_same_level_and_still_raised(self):
        output = io.StringIO()
        with app(CQRS={"LOG_LEVEL": "WARNING"}) as pdi, contextlib.redirect_stdout(output):
            with self.assertRaises(LookupError):
                pdi.get(Dispatcher).dispatch(Register(email="taken@example.com", password="x"))
        self.assertRegex(output.getvalue(), r"WARNING +Register failed: LookupError duration_ms=[\d.]+\n$")

    def test_dispatch_async_writes_the_same_lines(self):
        output = io.StringIO()

        async def scenario(dispatcher):
            await dispatcher.dispatch_async(Register(email="a@b.c", password="p"))
            with self.assertRaises(LookupError):
                await dispatcher.dispatch_async(Register(email="taken@example.com", password="p"))

        with app(CQRS={"LOG_LEVEL": "INFO"}) as pdi, contextlib.redirect_stdout(output):
            asyncio.run(scenario(pdi.get(Dispatcher)))
        lines = output.getvalue().splitlines()
        self.assertRegex(lines[0], r"INFO +handled Register duration_ms=[\d.]+$")
        self.assertRegex(lines[1], r"INFO +Register failed: LookupError duration_ms=[\d.]+$")

    def test_an_unknown_level_is_refused_at_start(self):
        expected = r"CQRS.LOG_LEVEL: expected one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', got 'LOUD'"
        with self.assertRaisesRegex(ConfigurationError, expected):
            with app(CQRS={"LOG_LEVEL": "LOUD"}) as pdi:
                pdi.get(Dispatcher)


class BehavioursThatApplyTest(unittest.TestCase):
    def test_a_behaviour_wraps_only_the_request_types_it_applies_to(self):
        SEEN.clear()
        with app(CQRS={"LOGGING": False}) as pdi:
            registry = pdi.get(HandlerRegistry)
            for handler in (OnlyRegistrations, RegisterHandler, PlainHandler):
                registry.add(handler)
            dispatcher = pdi.get(Dispatcher)
            dispatcher.dispatch(Plain())
            dispatcher.dispatch(Register(email="a@b.c", password="p"))
            dispatcher.dispatch(Plain())
        self.assertEqual(SEEN, ["Register"])

    def test_a_unit_of_work_bound_after_the_first_dispatch_is_used(self):
        work = RecordingUnitOfWork()
        with app() as pdi, contextlib.redirect_stdout(io.StringIO()):
            dispatcher = pdi.get(Dispatcher)
            self.assertEqual(dispatcher.dispatch(Plain()), "plain")
            with pdi.override(IUnitOfWork, work):
                dispatcher.dispatch(Plain())
                asyncio.run(dispatcher.dispatch_async(Plain()))
                with self.assertRaises(LookupError):
                    asyncio.run(dispatcher.dispatch_async(Register(email="taken@example.com", password="p")))
            dispatcher.dispatch(Plain())
        self.assertEqual(work.events, ["commit", "commit", "rollback"])


if __name__ == "__main__":
    unittest.main()
