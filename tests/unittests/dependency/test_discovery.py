import contextlib
import io
import unittest

from pdip.configuration import BaseConfig
from pdip.dependency import DiscoveryError, IScoped, ISingleton
from pdip.dependency.discovery import discover
from tests.support.apps import application

MARKERS = (ISingleton, IScoped, BaseConfig)

EXPLODING = """
raise RuntimeError("this module must not be imported")
from pdip.dependency import ISingleton
class Hidden(ISingleton):
    pass
"""


class DiscoveryTest(unittest.TestCase):
    def test_finds_services_whose_marker_is_inherited_across_files(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/base.py": """
                from pdip.dependency import ISingleton
                class BaseStore(ISingleton):
                    pass
            """,
            "{pkg}/stores/sql.py": """
                from {pkg}.base import BaseStore
                class SqlStore(BaseStore):
                    pass
            """,
            "{pkg}/stores/cached.py": """
                from {pkg}.stores import sql
                class CachedStore(sql.SqlStore):
                    pass
            """,
            "{pkg}/plain.py": """
                class NotAService:
                    pass
            """,
        }
        with application(files) as (root, package):
            found = discover(root, MARKERS)
            names = sorted(cls.__name__ for cls in found.classes)
            modules = sorted(module.__name__ for module in found.modules)
        self.assertEqual(names, ["BaseStore", "CachedStore", "SqlStore"])
        self.assertEqual(modules, [f"{package}.base", f"{package}.stores.cached", f"{package}.stores.sql"])

    def test_unrelated_scripts_are_never_executed(self):
        files = {
            "scripts/oneoff.py": 'print("oneoff ran")\n',
            "scripts/tool.py": 'class Tool:\n    pass\nprint("tool ran")\n',
            "{pkg}/__init__.py": "",
            "{pkg}/service.py": """
                from pdip.dependency import IScoped
                class Service(IScoped):
                    pass
            """,
        }
        output = io.StringIO()
        with application(files) as (root, _), contextlib.redirect_stdout(output):
            found = discover(root, MARKERS)
        self.assertEqual([cls.__name__ for cls in found.classes], ["Service"])
        self.assertEqual(output.getvalue(), "")

    def test_skipped_folders_and_excluded_modules_are_not_imported(self):
        files = {
            "venv/lib/mod.py": EXPLODING,
            ".venv/mod.py": EXPLODING,
            "env/mod.py": EXPLODING,
            "tests/test_mod.py": EXPLODING,
            ".hidden/mod.py": EXPLODING,
            "__pycache__/mod.py": EXPLODING,
            "lib/site-packages/mod.py": EXPLODING,
            "legacy/old.py": EXPLODING,
            "{pkg}/__init__.py": "",
            "{pkg}/broken.py": EXPLODING,
            "{pkg}/jobs/cron.py": EXPLODING,
            "{pkg}/ok.py": "from pdip.dependency import ISingleton\nclass Ok(ISingleton):\n    pass\n",
        }
        with application(files) as (root, package):
            found = discover(root, MARKERS, excluded_modules=["legacy", f"{package}.broken", f"{package}/jobs/cron.py"])
        self.assertEqual([cls.__name__ for cls in found.classes], ["Ok"])

    def test_a_module_that_fails_to_import_is_named_with_its_file(self):
        files = {"{pkg}/__init__.py": "", "{pkg}/broken.py": EXPLODING}
        with application(files) as (root, package):
            with self.assertRaises(DiscoveryError) as raised:
                discover(root, MARKERS)
        message = str(raised.exception)
        self.assertIn("broken.py", message)
        self.assertIn(f"importing {package}.broken during discovery failed", message)
        self.assertIn("RuntimeError: this module must not be imported", message)

    def test_generic_dotted_and_keyword_bases_are_understood(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/generic.py": """
                import abc
                from typing import Generic, TypeVar
                import pdip.dependency
                T = TypeVar("T")
                class Repository(Generic[T], pdip.dependency.IScoped, metaclass=abc.ABCMeta):
                    pass
                class Settings(
                    pdip.configuration.BaseConfig,
                ):
                    name: str = "x"
                import pdip.configuration
            """,
        }
        with application(files) as (root, _):
            found = discover(root, MARKERS)
        self.assertEqual(sorted(cls.__name__ for cls in found.classes), ["Repository", "Settings"])

    def test_subclasses_of_selects_by_base(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/mix.py": """
                from pdip.dependency import ISingleton, IScoped
                from pdip.configuration import BaseConfig
                class One(ISingleton):
                    pass
                class Two(IScoped):
                    pass
                class ThreeConfig(BaseConfig):
                    pass
            """,
        }
        with application(files) as (root, _):
            found = discover(root, MARKERS)
        self.assertEqual([cls.__name__ for cls in found.subclasses_of(BaseConfig)], ["ThreeConfig"])
        self.assertEqual([cls.__name__ for cls in found.subclasses_of(ISingleton)], ["One"])


if __name__ == "__main__":
    unittest.main()
