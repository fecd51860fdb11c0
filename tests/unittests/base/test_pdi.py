import importlib
import io
import os
import subprocess
import sys
import unittest
from contextlib import redirect_stdout
from pathlib import Path
from unittest import mock

import pdip
from pdip import Pdi
from pdip.base import Pdi as BasePdi
from pdip.configuration import ApplicationConfig, Configuration, DatabaseConfig
from pdip.cryptography import CryptoService
from pdip.dependency import Container, PdiConfigurationError
from pdip.logging.loggers.console import ConsoleLogger
from tests.support.apps import application

SERVICES = {
    "application.yml": """
        APPLICATION:
          NAME: shop
        SHOP:
          CURRENCY: EUR
    """,
    "{pkg}/__init__.py": "",
    "{pkg}/config.py": """
        from pdip.configuration import BaseConfig
        class ShopConfig(BaseConfig):
            currency: str
            vat: float = 0.2
    """,
    "{pkg}/store.py": """
        import abc
        from pdip.dependency import ISingleton, IScoped
        class IOrderStore(abc.ABC):
            @abc.abstractmethod
            def add(self, order): ...
        class MemoryOrderStore(IOrderStore, ISingleton):
            def __init__(self):
                self.orders = []
                self.closed = False
            def add(self, order):
                self.orders.append(order)
            def close(self):
                self.closed = True
        class Basket(IScoped):
            def __init__(self):
                self.items = []
    """,
    "{pkg}/orders.py": """
        from {pkg}.config import ShopConfig
        from {pkg}.store import IOrderStore, Basket
        class OrderService:
            def __init__(self, store: IOrderStore, basket: Basket, config: ShopConfig):
                self.store, self.basket, self.config = store, basket, config
    """,
}


class PdiTest(unittest.TestCase):
    def test_pdi_is_exported_from_pdip_and_pdip_base(self):
        self.assertIs(Pdi, BasePdi)
        self.assertIsInstance(pdip.__version__, str)

    def test_resolves_discovered_services_configuration_and_abstract_bases(self):
        with application(SERVICES) as (root, package), Pdi(root_directory=root) as pdi:
            OrderService = importlib.import_module(f"{package}.orders").OrderService
            with pdi.scope():
                service = pdi.get(OrderService)
                self.assertIs(service.basket, pdi.get(OrderService).basket)
            self.assertEqual(service.config.currency, "EUR")
            self.assertEqual(service.config.vat, 0.2)
            self.assertIs(service.store, pdi.get(OrderService.__init__.__annotations__["store"]))
            self.assertEqual(pdi.get(ApplicationConfig).name, "shop")

    def test_the_framework_objects_resolve_to_this_application(self):
        with application(SERVICES) as (root, _), Pdi(root_directory=root) as pdi:
            self.assertIs(pdi.get(Pdi), pdi)
            self.assertIs(pdi.get(Container), pdi.container)
            self.assertIs(pdi.get(Configuration), pdi.configuration)

    def test_two_applications_in_one_process_share_nothing(self):
        with application(SERVICES) as (root, package):
            store_type = None
            with (
                Pdi(root_directory=root) as first,
                Pdi(root_directory=root, configurations={"SHOP": {"CURRENCY": "USD"}}) as second,
            ):
                store_type = sys.modules[f"{package}.store"].IOrderStore
                self.assertIsNot(first.get(store_type), second.get(store_type))
                self.assertEqual(first.get(sys.modules[f"{package}.config"].ShopConfig).currency, "EUR")
                self.assertEqual(second.get(sys.modules[f"{package}.config"].ShopConfig).currency, "USD")
                self.assertIsNot(first.get(ConsoleLogger), second.get(ConsoleLogger))
            self.assertIsNotNone(store_type)

    def test_leaving_the_block_releases_singletons_and_the_import_path(self):
        with application(SERVICES) as (root, package):
            with Pdi(root_directory=root) as pdi:
                store = pdi.get(sys.modules[f"{package}.store"].IOrderStore)
                self.assertIn(str(root), sys.path)
            self.assertTrue(store.closed)
            self.assertNotIn(str(root), sys.path)
            pdi.cleanup()

    def test_overrides_at_construction_and_for_a_block(self):
        with application(SERVICES) as (root, package):
            store_module = sys.modules.get(f"{package}.store")
            with Pdi(root_directory=root) as probe:
                store_module = sys.modules[f"{package}.store"]
                real = probe.get(store_module.IOrderStore)
            fake = object()
            with Pdi(root_directory=root, overrides={store_module.IOrderStore: fake}) as pdi:
                self.assertIs(pdi.get(store_module.IOrderStore), fake)
            with Pdi(root_directory=root) as pdi:
                with pdi.override(store_module.IOrderStore, fake):
                    self.assertIs(pdi.get(store_module.IOrderStore), fake)
                self.assertIsInstance(pdi.get(store_module.IOrderStore), store_module.MemoryOrderStore)
            self.assertIsInstance(real, store_module.MemoryOrderStore)

    def test_configuration_objects_can_be_given_directly(self):
        database = DatabaseConfig(type="sqlite", database=":memory:")
        with (
            application({"application.yml": ""}) as (root, _),
            Pdi(root_directory=root, configurations=[database]) as pdi,
        ):
            self.assertIs(pdi.get(DatabaseConfig), database)

    def test_configurations_of_the_wrong_kind_are_refused(self):
        with application({"application.yml": ""}) as (root, _):
            with self.assertRaisesRegex(PdiConfigurationError, "expected a mapping or BaseConfig objects, got int"):
                Pdi(root_directory=root, configurations=[42])

    def test_a_root_that_is_not_a_folder_is_refused(self):
        with self.assertRaisesRegex(PdiConfigurationError, "is not a folder"):
            Pdi(root_directory="/nonexistent/pdip/root")

    def test_framework_services_take_their_settings_from_configuration(self):
        key = CryptoService.generate_key()
        yml = {"application.yml": "APPLICATION:\n  NAME: billing\n  LOG_LEVEL: WARNING\n"}
        with application(yml) as (root, _), mock.patch.dict(os.environ, {"APPLICATION_SECRET_KEY": key}):
            with Pdi(root_directory=root) as pdi:
                logger = pdi.get(ConsoleLogger)
                crypto = pdi.get(CryptoService)
                output = io.StringIO()
                with redirect_stdout(output):
                    logger.info("hidden")
                    logger.warning("shown")
                self.assertEqual(logger.logger.name, "billing")
                self.assertNotIn("hidden", output.getvalue())
                self.assertIn("shown", output.getvalue())
                self.assertEqual(CryptoService(key).decrypt(crypto.encrypt("x")), "x")


class ValidationTest(unittest.TestCase):
    FILES = {
        "{pkg}/__init__.py": "",
        "{pkg}/reports.py": """
            from pdip.configuration import DatabaseConfig
            from pdip.dependency import ISingleton
            class DatabaseSessionManager(ISingleton):
                def __init__(self, config: DatabaseConfig):
                    self.config = config
            class ReportRepository:
                def __init__(self, sessions: DatabaseSessionManager):
                    self.sessions = sessions
            class ReportService(ISingleton):
                def __init__(self, reports: ReportRepository):
                    self.reports = reports
        """,
    }

    def test_a_missing_section_is_reported_with_the_chain_that_needs_it(self):
        with application(self.FILES) as (root, _):
            with self.assertRaises(PdiConfigurationError) as raised:
                Pdi(root_directory=root)
        message = str(raised.exception)
        self.assertIn(
            "ReportService -> ReportRepository -> DatabaseSessionManager -> DatabaseConfig: "
            "no DATABASE section in application.yml and no DATABASE_* environment variables (required: TYPE or CONNECTION_STRING)",
            message,
        )

    def test_validate_false_defers_the_error_to_first_use(self):
        with application(self.FILES) as (root, package):
            with Pdi(root_directory=root, validate=False) as pdi:
                service = sys.modules[f"{package}.reports"].ReportService
                with self.assertRaisesRegex(PdiConfigurationError, "no DATABASE section"):
                    pdi.get(service)

    def test_the_section_given_by_environment_variables_satisfies_it(self):
        with (
            application(self.FILES) as (root, package),
            mock.patch.dict(os.environ, {"DATABASE_TYPE": "sqlite", "DATABASE__DATABASE": "app.db"}),
        ):
            with Pdi(root_directory=root) as pdi:
                service = pdi.get(sys.modules[f"{package}.reports"].ReportService)
        self.assertEqual(service.reports.sessions.config.database, "app.db")

    def test_a_discovered_section_with_a_bad_value_fails_at_start(self):
        files = {
            "application.yml": "LIMITS:\n  MAX_ROWS: many\n",
            "{pkg}/__init__.py": "",
            "{pkg}/limits.py": """
                from pdip.configuration import BaseConfig
                class LimitsConfig(BaseConfig):
                    max_rows: int = 10
            """,
        }
        with application(files) as (root, _):
            with self.assertRaisesRegex(
                PdiConfigurationError, r"application.yml:2: LIMITS.MAX_ROWS: expected int, got 'many'"
            ):
                Pdi(root_directory=root)


class CallingScriptTest(unittest.TestCase):
    def test_without_a_root_the_calling_scripts_folder_is_used_and_its_classes_found(self):
        files = {
            "application.yml": "GREETING:\n  TEXT: hi from yaml\n",
            "main.py": """
                from pdip import Pdi
                from pdip.configuration import BaseConfig
                from pdip.dependency import ISingleton

                class GreetingConfig(BaseConfig):
                    text: str

                class Greeter(ISingleton):
                    def __init__(self, config: GreetingConfig):
                        self.config = config

                pdi = Pdi()
                print(pdi.root_directory)
                print(pdi.get(Greeter).config.text)
                print(sorted(c.__name__ for c in pdi.discovered.classes))
            """,
        }
        with application(files) as (root, _):
            result = subprocess.run(
                [sys.executable, str(root / "main.py")], capture_output=True, text=True, timeout=60, cwd="/"
            )
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], str(root))
        self.assertEqual(lines[1], "hi from yaml")
        self.assertEqual(lines[2], "['Greeter', 'GreetingConfig']")


if __name__ == "__main__":
    unittest.main()


class SmallBehaviourTest(unittest.TestCase):
    def test_without_a_root_the_callers_folder_is_used(self):
        from pdip.base.pdi import _root

        def make_root():
            return _root(None)

        self.assertEqual(make_root(), Path(__file__).resolve().parent)

    def test_repr_get_through_the_class_and_mixed_configurations(self):
        with application({}) as (root, _):
            sections = [{"API": {"PORT": 8081}}, DatabaseConfig(type="sqlite")]
            with Pdi(root_directory=root, configurations=sections, environment="qa") as pdi:
                self.assertEqual(repr(pdi), f"Pdi(root_directory={str(root)!r}, environment='qa')")
                self.assertIs(Pdi.get(pdi, Configuration), pdi.configuration)
                self.assertEqual(pdi.configuration.get("api.port"), 8081)

    def test_abstract_services_are_not_registered_and_absent_sections_are_not_built(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/parts.py": """
                import abc
                from pdip.configuration import BaseConfig
                from pdip.dependency import ISingleton
                class Exporter(ISingleton, abc.ABC):
                    @abc.abstractmethod
                    def export(self): ...
                class OptionalConfig(BaseConfig):
                    needed: str
            """,
        }
        with application(files) as (root, package), Pdi(root_directory=root) as pdi:
            parts = sys.modules[f"{package}.parts"]
            self.assertFalse(pdi.container.is_registered(parts.Exporter))
            with self.assertRaisesRegex(PdiConfigurationError, "no OPTIONAL section"):
                pdi.get(parts.OptionalConfig)
