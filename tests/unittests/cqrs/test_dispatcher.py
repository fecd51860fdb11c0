import asyncio
import contextlib
import io
import sys
import tempfile
import unittest

from pdip import Pdi
from pdip.cqrs import (
    Dispatcher,
    DuplicateHandlerError,
    HandlerNotFoundError,
    ICommand,
    ICommandHandler,
    INotification,
    INotificationHandler,
    IPipelineBehavior,
    IQuery,
    IQueryHandler,
    IUnitOfWork,
    ValidationError,
)
from pdip.cqrs.decorators import dtoclass, requestclass
from pdip.dependency import IScoped, ISingleton
from tests.support.apps import application
from tests.support.fakes import RecordingUnitOfWork

# -- messages and handlers used by the tests below (module level: found without discovery) -------


class Journal(ISingleton):
    def __init__(self):
        self.entries = []


class Session(IScoped):
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


@dtoclass
class Deposit(ICommand):
    account: str
    cents: int


class DepositHandler(ISingleton, ICommandHandler[Deposit]):  # the order of bases does not matter
    def __init__(self, journal: Journal):
        self.journal = journal

    def handle(self, command: Deposit):
        self.journal.entries.append(("deposit", command.account, command.cents))
        return len(self.journal.entries)


@dtoclass
class Balance(IQuery[int]):
    account: str


class BalanceHandler(IQueryHandler[Balance]):
    def __init__(self, journal: Journal, session: Session):
        self.journal, self.session = journal, session

    def handle(self, query: Balance) -> int:
        return sum(cents for _, account, cents in self.journal.entries if account == query.account)


@dtoclass
class Withdraw(ICommand):
    account: str
    cents: int

    def validate(self):
        return ["cents must be positive"] if self.cents <= 0 else None


class WithdrawHandler(ICommandHandler[Withdraw]):
    def __init__(self, journal: Journal):
        self.journal = journal

    def handle(self, command: Withdraw):
        if command.cents > 1000:
            raise RuntimeError("insufficient funds")
        self.journal.entries.append(("withdraw", command.account, -command.cents))
        return "done"


@requestclass
class Login(ICommand):
    user: str
    password: str


class LoginHandler(ICommandHandler[Login]):
    def handle(self, command: Login):
        return f"welcome {command.user}"


class Ping(ICommand):
    pass


class PingHandler(ICommandHandler):  # no parameter: the type comes from handle's annotation
    async def handle(self, command: Ping):
        await asyncio.sleep(0)
        return "pong"


class Unhandled(ICommand):
    pass


class AccountEvent(INotification):
    def __init__(self, account):
        self.account = account


class AccountOpened(AccountEvent):
    pass


class Audit(INotificationHandler[AccountEvent]):
    def __init__(self, journal: Journal):
        self.journal = journal

    def handle(self, notification):
        self.journal.entries.append(("audit", notification.account, 0))


class Welcome(INotificationHandler[AccountOpened]):
    async def handle(self, notification):
        await asyncio.sleep(0)
        return "sent"


class Broken(INotificationHandler[AccountOpened]):
    def handle(self, notification):
        raise RuntimeError("mail server down")


def quiet_pdi(**cqrs):
    """A Pdi over an empty folder with the built-in behaviours set as asked (default: all off)."""
    settings = {"LOGGING": False, "VALIDATION": False, "UNIT_OF_WORK": False, **cqrs}
    return Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-cqrs-"), configurations={"CQRS": settings})


class DispatchTest(unittest.TestCase):
    def setUp(self):
        self.pdi = quiet_pdi()
        self.dispatcher = self.pdi.get(Dispatcher)

    def tearDown(self):
        self.pdi.cleanup()

    def test_a_command_reaches_its_injected_handler_and_the_result_comes_back(self):
        self.assertEqual(self.dispatcher.dispatch(Deposit(account="a", cents=500)), 1)
        self.assertEqual(self.dispatcher.dispatch(Deposit(account="a", cents=250)), 2)
        self.assertEqual(self.dispatcher.dispatch(Balance(account="a")), 750)
        self.assertIs(self.pdi.get(Dispatcher), self.dispatcher)

    def test_each_dispatch_has_its_own_scope_unless_one_is_open(self):
        sessions = []
        original = BalanceHandler.handle

        def spy(handler, query):
            sessions.append(handler.session)
            return original(handler, query)

        BalanceHandler.handle = spy
        try:
            self.dispatcher.dispatch(Balance(account="a"))
            self.dispatcher.dispatch(Balance(account="a"))
            with self.pdi.scope():
                self.dispatcher.dispatch(Balance(account="a"))
                self.dispatcher.dispatch(Balance(account="a"))
        finally:
            BalanceHandler.handle = original
        self.assertIsNot(sessions[0], sessions[1])
        self.assertTrue(sessions[0].closed)
        self.assertIs(sessions[2], sessions[3])

    def test_a_command_without_handler_names_it_and_where_pdip_looked(self):
        with self.assertRaises(HandlerNotFoundError) as raised:
            self.dispatcher.dispatch(Unhandled())
        message = str(raised.exception)
        self.assertIn("no handler for Unhandled", message)
        self.assertIn(f"{__name__}, {__name__.rsplit('.', 1)[0]}.test_dispatcher_handler", message)
        self.assertIn("the application's packages under", message)

    def test_handler_errors_reach_the_caller(self):
        with self.assertRaisesRegex(RuntimeError, "insufficient funds"):
            self.dispatcher.dispatch(Withdraw(account="a", cents=5000))

    def test_an_async_handler_under_plain_dispatch_is_a_clear_error(self):
        with self.assertRaisesRegex(TypeError, r"PingHandler.handle is async; use `await dispatcher.dispatch_async"):
            self.dispatcher.dispatch(Ping())


class AsyncDispatchTest(unittest.TestCase):
    def test_async_and_plain_handlers_under_dispatch_async(self):
        with quiet_pdi(LOGGING=True, VALIDATION=True, UNIT_OF_WORK=True) as pdi:
            dispatcher = pdi.get(Dispatcher)

            async def scenario():
                with contextlib.redirect_stdout(io.StringIO()):
                    pong = await dispatcher.dispatch_async(Ping())
                    count = await dispatcher.dispatch_async(Deposit(account="z", cents=1))
                    with self.assertRaises(ValidationError):
                        await dispatcher.dispatch_async(Withdraw(account="z", cents=0))
                    with self.assertRaisesRegex(RuntimeError, "insufficient"):
                        await dispatcher.dispatch_async(Withdraw(account="z", cents=5000))
                return pong, count

            pong, count = asyncio.run(scenario())
        self.assertEqual(pong, "pong")
        self.assertGreaterEqual(count, 1)


class PipelineTest(unittest.TestCase):
    def test_validation_checks_field_types_and_the_validate_method(self):
        with quiet_pdi(VALIDATION=True) as pdi:
            dispatcher = pdi.get(Dispatcher)
            with self.assertRaises(ValidationError) as raised:
                dispatcher.dispatch(Deposit(account=7, cents="ten"))
            self.assertEqual(
                raised.exception.errors(),
                [
                    {"field": "account", "message": "expected str, got 7"},
                    {"field": "cents", "message": "expected int, got 'ten'"},
                ],
            )
            with self.assertRaisesRegex(ValidationError, "Withdraw is invalid: cents must be positive"):
                dispatcher.dispatch(Withdraw(account="a", cents=0))
            self.assertEqual(dispatcher.dispatch(Withdraw(account="a", cents=5)), "done")

    def test_logging_names_the_request_its_outcome_and_masks_secrets(self):
        output = io.StringIO()
        with quiet_pdi(LOGGING=True, LOG_LEVEL="INFO", LOG_FIELDS=True) as pdi, contextlib.redirect_stdout(output):
            dispatcher = pdi.get(Dispatcher)
            dispatcher.dispatch(Login(user="ada", password="hunter2"))
            with self.assertRaises(RuntimeError):
                dispatcher.dispatch(Withdraw(account="a", cents=5000))
        lines = output.getvalue().splitlines()
        self.assertRegex(
            lines[0], r'INFO +handled Login duration_ms=[\d.]+ fields=\{"user":"ada","password":"\*\*\*"\}'
        )
        self.assertRegex(lines[1], r"INFO +Withdraw failed: RuntimeError duration_ms=")
        self.assertNotIn("hunter2", output.getvalue())

    def test_the_unit_of_work_commits_commands_rolls_back_failures_and_skips_queries(self):
        work = RecordingUnitOfWork()
        with quiet_pdi(UNIT_OF_WORK=True) as pdi, pdi.override(IUnitOfWork, work):
            dispatcher = pdi.get(Dispatcher)
            dispatcher.dispatch(Deposit(account="u", cents=1))
            dispatcher.dispatch(Balance(account="u"))
            with self.assertRaises(RuntimeError):
                dispatcher.dispatch(Withdraw(account="u", cents=5000))
        self.assertEqual(work.events, ["commit", "rollback"])

    def test_without_a_unit_of_work_commands_pass_straight_through(self):
        with quiet_pdi(UNIT_OF_WORK=True) as pdi:
            self.assertEqual(pdi.get(Dispatcher).dispatch(Withdraw(account="a", cents=1)), "done")


class NotificationTest(unittest.TestCase):
    def test_every_handler_runs_and_failures_are_reported_not_raised(self):
        output = io.StringIO()
        with quiet_pdi() as pdi, contextlib.redirect_stdout(output):
            journal = pdi.get(Journal)
            result = pdi.get(Dispatcher).publish(AccountOpened("n1"))
        self.assertEqual(result.handled, ["Audit"])
        self.assertEqual([name for name, _ in result.failed], ["Welcome", "Broken"])  # Welcome is async
        self.assertIsInstance(result.failed[0][1], TypeError)
        self.assertFalse(result.ok)
        self.assertIn(("audit", "n1", 0), journal.entries)
        self.assertIn(
            "notification handler Broken failed on AccountOpened: RuntimeError: mail server down", output.getvalue()
        )

    def test_publish_async_awaits_async_handlers(self):
        with quiet_pdi() as pdi, contextlib.redirect_stdout(io.StringIO()):
            result = asyncio.run(pdi.get(Dispatcher).publish_async(AccountOpened("n2")))
            base_only = pdi.get(Dispatcher).publish(AccountEvent("n3"))
        self.assertEqual(result.handled, ["Welcome", "Audit"])
        self.assertEqual([name for name, _ in result.failed], ["Broken"])
        self.assertEqual(base_only.handled, ["Audit"])
        self.assertTrue(base_only.ok)


SNIPPET_APP = {
    "{pkg}/__init__.py": "",
    "{pkg}/accounts/__init__.py": "",
    "{pkg}/accounts/create_account.py": """
        from pdip.cqrs import ICommand, ICommandHandler, Dispatcher
        from pdip.cqrs.decorators import dtoclass

        @dtoclass
        class CreateAccountCommand(ICommand):
            email: str
            display_name: str

        class CreateAccountCommandHandler(ICommandHandler[CreateAccountCommand]):
            def handle(self, command: CreateAccountCommand):
                return {"ok": True}
    """,
}


class DiscoveredHandlersTest(unittest.TestCase):
    def test_the_issue_snippet_runs_verbatim(self):
        with application(SNIPPET_APP) as (root, package), Pdi(root_directory=root) as pdi:
            module = sys.modules[f"{package}.accounts.create_account"]
            with contextlib.redirect_stdout(io.StringIO()):
                result = pdi.get(Dispatcher).dispatch(
                    module.CreateAccountCommand(email="a@b.com", display_name="Alice")
                )
        self.assertEqual(result, {"ok": True})

    def test_a_handler_in_a_sibling_module_is_found_by_convention(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/create_order.py": """
                from pdip.cqrs import ICommand
                class CreateOrder(ICommand):
                    pass
            """,
            "{pkg}/create_order_handler.py": """
                from pdip.cqrs import ICommandHandler
                from {pkg}.create_order import CreateOrder
                class CreateOrderHandler(ICommandHandler[CreateOrder]):
                    def handle(self, command):
                        return "snake"
            """,
            "{pkg}/ShipOrder.py": """
                from pdip.cqrs import ICommand
                class ShipOrder(ICommand):
                    pass
            """,
            "{pkg}/ShipOrderHandler.py": """
                from pdip.cqrs import ICommandHandler
                from {pkg}.ShipOrder import ShipOrder
                class ShipOrderHandler(ICommandHandler[ShipOrder]):
                    def handle(self, command):
                        return "camel"
            """,
        }
        with application(files) as (root, package):
            excluded = [f"{package}.create_order_handler", f"{package}.ShipOrderHandler"]
            with Pdi(
                root_directory=root, excluded_modules=excluded, configurations={"CQRS": {"LOGGING": False}}
            ) as pdi:
                self.assertNotIn(f"{package}.create_order_handler", sys.modules)
                import importlib

                create = importlib.import_module(f"{package}.create_order").CreateOrder
                ship = importlib.import_module(f"{package}.ShipOrder").ShipOrder
                dispatcher = pdi.get(Dispatcher)
                self.assertEqual(dispatcher.dispatch(create()), "snake")
                self.assertEqual(dispatcher.dispatch(ship()), "camel")

    def test_two_handlers_for_one_command_fail_at_start_naming_both(self):
        files = {
            **SNIPPET_APP,
            "{pkg}/accounts/other.py": """
                from pdip.cqrs import ICommandHandler
                from {pkg}.accounts.create_account import CreateAccountCommand
                class AnotherHandler(ICommandHandler[CreateAccountCommand]):
                    def handle(self, command):
                        return None
            """,
        }
        with application(files) as (root, package):
            with self.assertRaises(DuplicateHandlerError) as raised:
                Pdi(root_directory=root)
        message = str(raised.exception)
        self.assertIn("CreateAccountCommand has two handlers:", message)
        self.assertIn(f"{package}.accounts.create_account.CreateAccountCommandHandler", message)
        self.assertIn(f"{package}.accounts.other.AnotherHandler", message)

    def test_discovered_behaviours_wrap_dispatch_in_order(self):
        files = {
            **SNIPPET_APP,
            "{pkg}/behaviours.py": """
                from pdip.cqrs import IPipelineBehavior
                CALLS = []
                class Outer(IPipelineBehavior):
                    order = 1
                    def handle(self, request, next):
                        CALLS.append("outer in")
                        result = next()
                        CALLS.append("outer out")
                        return result
                class Inner(IPipelineBehavior):
                    order = 2
                    def handle(self, request, next):
                        CALLS.append("inner")
                        return {**next(), "inner": True}
            """,
        }
        with (
            application(files) as (root, package),
            Pdi(root_directory=root, configurations={"CQRS": {"LOGGING": False}}) as pdi,
        ):
            command = sys.modules[f"{package}.accounts.create_account"].CreateAccountCommand
            result = pdi.get(Dispatcher).dispatch(command(email="e", display_name="d"))
            calls = sys.modules[f"{package}.behaviours"].CALLS
        self.assertEqual(result, {"ok": True, "inner": True})
        self.assertEqual(calls, ["outer in", "inner", "outer out"])


class BehaviourBaseTest(unittest.TestCase):
    def test_the_default_async_handle_awaits_what_the_sync_one_returns(self):
        class PassThrough(IPipelineBehavior):
            def handle(self, request, next):
                return next()

        async def next_step():
            return 42

        self.assertEqual(asyncio.run(PassThrough().handle_async(object(), next_step)), 42)


if __name__ == "__main__":
    unittest.main()
