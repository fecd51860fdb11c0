import abc
import asyncio
import sys
import unittest

from pdip.cqrs import HandlerRegistry, ICommand, ICommandHandler, IPipelineBehavior, IUnitOfWork
from pdip.cqrs.behaviours import UnitOfWorkBehavior
from pdip.cqrs.handlers import handled_type
from pdip.cqrs.registry import _import_if_present, _sibling_modules
from pdip.dependency import Container
from tests.support.apps import application
from tests.support.fakes import RecordingUnitOfWork


class Archive(ICommand):
    pass


class AbstractArchiveHandler(ICommandHandler[Archive], abc.ABC):
    @abc.abstractmethod
    def extra(self): ...


class UntypedHandler(ICommandHandler):
    def handle(self, command):
        return None


class MysteryHandler(ICommandHandler):
    def handle(self, command: "NotDefinedAnywhere"):  # noqa: F821 - an unresolvable hint on purpose
        return None


class Tracing(IPipelineBehavior):
    def handle(self, request, next):
        return next()


class RegistryTest(unittest.TestCase):
    def test_abstract_and_undeclared_handlers_are_ignored_and_behaviours_collected_once(self):
        registry = HandlerRegistry([AbstractArchiveHandler, UntypedHandler, MysteryHandler, Tracing, Tracing])
        self.assertEqual(registry.requests, {})
        self.assertEqual(registry.behaviours, [Tracing])
        self.assertIsNone(handled_type(UntypedHandler))
        self.assertIsNone(handled_type(MysteryHandler))
        self.assertIsNone(handled_type(Tracing))

    def test_sibling_module_names_follow_both_conventions(self):
        self.assertEqual(
            _sibling_modules("app.orders.create_order"),
            ["app.orders.create_order_handler", "app.orders.CreateOrderHandler"],
        )
        self.assertEqual(_sibling_modules("ShipOrder"), ["ship_order_handler", "ShipOrderHandler"])

    def test_a_sibling_that_exists_but_fails_to_import_is_not_hidden(self):
        files = {"{pkg}/__init__.py": "", "{pkg}/broken_handler.py": "import not_a_real_module_for_pdip\n"}
        with application(files) as (root, package):
            sys.path.insert(0, str(root))
            with self.assertRaises(ModuleNotFoundError):
                _import_if_present(f"{package}.broken_handler")
            _import_if_present(f"{package}.absent_handler")
            self.assertNotIn(f"{package}.absent_handler", sys.modules)

    def test_handlers_under_the_root_are_adopted_and_others_are_not(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/messages.py": "from pdip.cqrs import ICommand\nclass Export(ICommand):\n    pass\n",
            "{pkg}/elsewhere/__init__.py": "",
            "{pkg}/elsewhere/export_worker.py": """
                from pdip.cqrs import ICommandHandler
                from {pkg}.messages import Export
                class ExportWorker(ICommandHandler[Export]):
                    def handle(self, command):
                        return "exported"
            """,
        }
        with application(files) as (root, package):
            sys.path.insert(0, str(root))
            import importlib

            export = importlib.import_module(f"{package}.messages").Export
            worker = importlib.import_module(f"{package}.elsewhere.export_worker").ExportWorker
            self.assertIs(HandlerRegistry(root=root).handler_for(export), worker)
            with self.assertRaisesRegex(LookupError, "no handler for Export"):
                HandlerRegistry(root="/nonexistent").handler_for(export)


class AsyncUnitOfWorkTest(unittest.TestCase):
    def test_async_commands_commit_or_roll_back(self):
        container = Container()
        work = RecordingUnitOfWork()
        container.register_instance(IUnitOfWork, work)
        behaviour = UnitOfWorkBehavior(container)

        async def ok():
            return "ok"

        async def boom():
            raise RuntimeError("boom")

        async def scenario():
            self.assertEqual(await behaviour.handle_async(Archive(), ok), "ok")
            with self.assertRaises(RuntimeError):
                await behaviour.handle_async(Archive(), boom)

        asyncio.run(scenario())
        self.assertEqual(work.events, ["commit", "rollback"])
        self.assertFalse(behaviour.applies_to(object), "what is not a command is dispatched without a unit of work")


if __name__ == "__main__":
    unittest.main()
