"""Applications written for upstream pdip 0.8.0 keep working: its style of config classes (a
`@dataclass` over `BaseConfig`) and its configuration keys, read as aliases of today's keys."""

import unittest
import warnings
from dataclasses import MISSING, dataclass, field, fields

from pdip import Pdi
from pdip.configuration import BaseConfig, Configuration
from tests.support.apps import application

# An upstream application's config module, as upstream users write them: the decorator over
# BaseConfig, factories for mutable defaults, a required field after a defaulted one.
UPSTREAM_STYLE_CONFIG = """
from dataclasses import dataclass, field


@dataclass
class SmtpServer:
    host: str = "localhost"
    port: int = 25


@dataclass
class ReportingConfig(BaseConfig):
    title: str = "weekly"
    recipients: list = field(default_factory=list)
    server: SmtpServer = field(default_factory=SmtpServer)
    api_password: str = None
"""


@dataclass
class SmtpServer:
    host: str = "localhost"
    port: int = 25


@dataclass
class ReportingConfig(BaseConfig):
    title: str = "weekly"
    recipients: list = field(default_factory=list)
    server: SmtpServer = field(default_factory=SmtpServer)
    api_password: str = None


class UndecoratedReportingConfig(BaseConfig):
    __section__ = "REPORTING"
    title: str = "weekly"
    recipients: list = field(default_factory=list)
    server: SmtpServer = field(default_factory=SmtpServer)


@dataclass(repr=True, eq=True)
class OptionsConfig(BaseConfig):
    tags: list[str] = field(default_factory=lambda: ["a"], metadata={"help": "labels"})
    limit: int = field(default=3, compare=False)


class DecoratedBaseConfigTest(unittest.TestCase):
    def test_factory_defaults_survive_the_decorator(self):
        for cls in (ReportingConfig, UndecoratedReportingConfig):
            with self.subTest(cls=cls.__name__):
                config = cls()
                self.assertEqual((config.title, config.recipients, config.server), ("weekly", [], SmtpServer()))
                self.assertIsNot(cls().recipients, config.recipients)  # a new list for each section
                self.assertTrue(all(f.default_factory is not MISSING for f in fields(cls)[1:3]))

    def test_field_options_survive_the_decorator_and_repr_stays_masked(self):
        self.assertEqual(OptionsConfig().tags, ["a"])
        self.assertEqual(fields(OptionsConfig)[0].metadata["help"], "labels")
        self.assertEqual(OptionsConfig(limit=1), OptionsConfig(limit=2))  # compare=False kept
        self.assertEqual(repr(ReportingConfig(api_password="hunter2")).count("hunter2"), 0)
        self.assertIn("api_password=***", repr(ReportingConfig(api_password="hunter2")))

    def test_a_required_field_after_defaults_is_refused_as_dataclasses_refuse_it(self):
        with self.assertRaisesRegex(TypeError, "non-default argument 'name' follows default argument"):

            @dataclass
            class BrokenConfig(BaseConfig):
                title: str = "x"
                name: str

    def test_an_upstream_style_section_is_read_from_application_yml(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/configs.py": "from pdip.configuration.models.base import BaseConfig\n" + UPSTREAM_STYLE_CONFIG,
            "application.yml": "REPORTING:\n  RECIPIENTS: [ada@example.com]\n  SERVER:\n    PORT: 2525\n",
        }
        with application(files) as (root, package), Pdi(root_directory=root) as pdi:
            configs = __import__(f"{package}.configs", fromlist=["ReportingConfig"])
            section = pdi.get(configs.ReportingConfig)
        self.assertEqual(section.recipients, ["ada@example.com"])
        self.assertEqual((section.title, section.server.host, section.server.port), ("weekly", "localhost", 2525))

    def test_an_upstream_style_section_without_a_file_takes_its_defaults(self):
        configuration = Configuration({})
        self.assertEqual(configuration.section(ReportingConfig).recipients, [])


if __name__ == "__main__":
    unittest.main()
