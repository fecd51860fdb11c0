"""Applications written for upstream pdip 0.8.0 keep working: its style of config classes (a
`@dataclass` over `BaseConfig`) and its configuration keys, read as aliases of today's keys."""

import unittest
import warnings
from dataclasses import MISSING, dataclass, field, fields

from pdip import Pdi
from pdip.configuration import (
    ApiConfig,
    ApplicationConfig,
    BaseConfig,
    Configuration,
    ConfigurationError,
    DatabaseConfig,
    DeprecatedKeyWarning,
    MissingSectionError,
)
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

    def test_fields_outside_init_behave_as_in_a_dataclass(self):
        class CountersConfig(BaseConfig):
            seen: int = field(default=0, init=False)
            cache: dict = field(default_factory=dict, init=False)
            unset: str = field(init=False)

        counters = CountersConfig()
        self.assertEqual((counters.seen, counters.cache), (0, {}))
        with self.assertRaises(AttributeError):
            counters.unset  # noqa: B018 - reading it is the test

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


# application.yml of an upstream application, with upstream's key names.
UPSTREAM_APPLICATION_YML = """\
APPLICATION:
  NAME: reports
  HOSTNAME: worker-1
API:
  BASE_URL: /api
  DOC_URL: /documentation
  IS_DEBUG: true
  PORT: 5050
  ORIGINS: https://a.example.com,https://b.example.com
DATABASE:
  CONNECTION_STRING: postgresql://app:secret@db.example.com:5432/reports
  APPLICATION_NAME: reports-worker
"""


def upstream_configuration(text: str, environ=None) -> Configuration:
    with application({"application.yml": text}) as (root, _):
        return Configuration.load(root, environ=environ or {})


class UpstreamKeysTest(unittest.TestCase):
    def setUp(self):
        forget_warnings()

    def test_upstream_keys_set_todays_fields(self):
        configuration = upstream_configuration(UPSTREAM_APPLICATION_YML)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            api = configuration.section(ApiConfig)
            database = configuration.section(DatabaseConfig)
            application_section = configuration.section(ApplicationConfig)
        self.assertEqual((api.docs_url, api.debug, api.port, api.base_url), ("/documentation", True, 5050, "/api"))
        self.assertEqual(api.cors_origins, ["https://a.example.com", "https://b.example.com"])
        self.assertEqual(application_section.name, "reports")
        self.assertEqual(database.type, "postgresql")  # inferred from the connection string
        self.assertEqual(database.url().drivername, "postgresql+psycopg")  # the driver pdip installs
        messages = [str(warning.message) for warning in caught]
        self.assertTrue(all(issubclass(warning.category, DeprecatedKeyWarning) for warning in caught))
        self.assertIn(
            "application.yml:6: API.DOC_URL is upstream pdip's name for API.DOCS_URL; write DOCS_URL", messages
        )
        self.assertIn("application.yml:7: API.IS_DEBUG is upstream pdip's name for API.DEBUG; write DEBUG", messages)
        self.assertIn(
            "application.yml:9: API.ORIGINS is upstream pdip's name for API.CORS_ORIGINS; write CORS_ORIGINS", messages
        )
        no_meaning = sorted(message for message in messages if "has no meaning in pdip" in message)
        self.assertEqual(len(no_meaning), 2, messages)
        self.assertIn(
            "application.yml:12: DATABASE.APPLICATION_NAME has no meaning in pdip and is ignored", no_meaning[0]
        )
        self.assertIn("?application_name=", no_meaning[0])
        self.assertIn("application.yml:3: APPLICATION.HOSTNAME has no meaning in pdip and is ignored", no_meaning[1])
        self.assertFalse(any("secret" in message for message in messages))

    def test_each_upstream_key_is_warned_about_once_per_process(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                upstream_configuration("API:\n  IS_DEBUG: true\n").section(ApiConfig)
        self.assertEqual(len(caught), 1)

    def test_todays_key_wins_over_its_upstream_alias(self):
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            api = upstream_configuration("API:\n  DEBUG: false\n  IS_DEBUG: true\n").section(ApiConfig)
        self.assertFalse(api.debug)

    def test_upstream_names_work_in_environment_variables(self):
        configuration = upstream_configuration("", environ={"API_IS_DEBUG": "true", "API__DOC_URL": "/d"})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            api = configuration.section(ApiConfig)
        self.assertEqual((api.debug, api.docs_url), (True, "/d"))
        self.assertIn("environment variable API_IS_DEBUG: API.IS_DEBUG is upstream pdip's name", str(caught[0].message))

    def test_upstream_keys_without_meaning_in_environment_variables_are_named(self):
        configuration = upstream_configuration("", environ={"DATABASE_TYPE": "sqlite", "DATABASE_SID": "orcl"})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            configuration.section(DatabaseConfig)
        self.assertIn(
            "environment variable DATABASE_SID: DATABASE.SID has no meaning in pdip and is ignored",
            str(caught[0].message),
        )

    def test_every_upstream_key_without_meaning_is_named_with_what_to_do(self):
        text = (
            "API:\n  AUTHORIZATIONS: {apikey: {type: apiKey}}\n  SECURITY: apikey\n"
            "DATABASE:\n  TYPE: MSSQL\n  CONNECTION_STRING: mssql+pyodbc://sa@db/app\n  DRIVER: ODBC Driver 17\n"
            "  SID: orcl\n  SERVICE_NAME: orcl\n  EXECUTION_OPTIONS: x\n"
        )
        configuration = upstream_configuration(text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            configuration.section(ApiConfig)
            configuration.section(DatabaseConfig)
        messages = "\n".join(str(warning.message) for warning in caught)
        for key in ("API.AUTHORIZATIONS", "API.SECURITY", "DATABASE.DRIVER", "DATABASE.SID", "DATABASE.SERVICE_NAME"):
            self.assertIn(f"{key} has no meaning in pdip and is ignored", messages)
        self.assertIn("DATABASE.EXECUTION_OPTIONS has no meaning in pdip and is ignored", messages)
        self.assertIn("API.AUTHENTICATION", messages)

    def test_an_upstream_sqlite_file_named_by_host_is_the_database(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            database = upstream_configuration("DATABASE:\n  TYPE: SQLITE\n  HOST: pdi.db\n").section(DatabaseConfig)
        self.assertEqual(str(database.url("/srv/app")), "sqlite:////srv/app/pdi.db")
        self.assertIn(
            "DATABASE.HOST names the SQLite file in upstream pdip; write DATABASE.DATABASE", str(caught[0].message)
        )

    def test_the_database_type_comes_from_the_connection_string(self):
        for url, kind in [
            ("mysql://root@db/app", "mysql"),
            ("sqlite:///x.db", "sqlite"),
            ("postgresql+psycopg://h/d", "postgresql"),
        ]:
            with self.subTest(url=url):
                self.assertEqual(DatabaseConfig(connection_string=url).type, kind)
        self.assertEqual(DatabaseConfig(connection_string="mysql://root@db/app").url().drivername, "mysql+pymysql")
        self.assertEqual(DatabaseConfig(connection_string="mysql+mysqldb://db/app").url().drivername, "mysql+mysqldb")

    def test_a_database_section_needs_a_type_or_a_connection_string(self):
        with self.assertRaisesRegex(ConfigurationError, r"DATABASE: TYPE or CONNECTION_STRING is required"):
            upstream_configuration("DATABASE:\n  HOST: db\n").section(DatabaseConfig)
        with self.assertRaisesRegex(
            MissingSectionError, r"no DATABASE section .*\(required: TYPE or CONNECTION_STRING\)"
        ):
            upstream_configuration("API:\n  PORT: 1\n").section(DatabaseConfig)


def forget_warnings():
    """Each test sees the once-per-process warnings afresh."""
    from pdip.configuration import upstream

    upstream.WARNED.clear()


class UpstreamSectionsTest(unittest.TestCase):
    def setUp(self):
        forget_warnings()

    def test_an_aps_section_no_class_reads_is_named(self):
        files = {"application.yml": "APS:\n  COALESCE: true\n"}
        with warnings.catch_warnings(record=True) as caught, application(files) as (root, _):
            warnings.simplefilter("always")
            Pdi(root_directory=root).cleanup()
        self.assertEqual(len(caught), 1)
        self.assertIn("APS: this section is not read by pdip; upstream's APScheduler settings", str(caught[0].message))

    def test_an_aps_section_the_application_declares_is_its_own(self):
        files = {
            "{pkg}/__init__.py": "",
            "{pkg}/aps.py": "from pdip.configuration import BaseConfig\n\nclass ApsConfig(BaseConfig):\n    coalesce: bool = False\n",
            "application.yml": "APS:\n  COALESCE: true\n",
        }
        with warnings.catch_warnings(record=True) as caught, application(files) as (root, package):
            warnings.simplefilter("always")
            with Pdi(root_directory=root) as pdi:
                aps = pdi.get(__import__(f"{package}.aps", fromlist=["ApsConfig"]).ApsConfig)
        self.assertTrue(aps.coalesce)
        self.assertEqual([str(warning.message) for warning in caught if "APS" in str(warning.message)], [])


if __name__ == "__main__":
    unittest.main()
