import enum
import unittest
from decimal import Decimal
from pathlib import Path

from pdip.configuration import (
    ApiConfig,
    ApplicationConfig,
    BaseConfig,
    Configuration,
    ConfigurationError,
    DatabaseConfig,
    MissingSectionError,
)
from pdip.cryptography import CryptoService
from tests.support.apps import application


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


class MyServiceConfig(BaseConfig):
    url: str
    retries: int = 3
    ratio: float = 0.5
    enabled: bool = False
    tags: list[str] = None
    ports: tuple[int, int] = (1, 2)
    limits: dict[str, int] = None
    mode: Mode = Mode.SAFE
    budget: Decimal = Decimal("0")
    folder: Path | None = None
    api_token: str | None = None


class NamedSection(BaseConfig):
    __section__ = "CUSTOM"
    value: int = 0


def load(files, environ=None, environment=None, extra=None):
    """A Configuration read from a throw-away root."""
    with application(files) as (root, _):
        return Configuration.load(root, environment=environment, configurations=extra, environ=environ or {})


class SectionNameTest(unittest.TestCase):
    def test_section_names_drop_config_and_are_upper_snake(self):
        self.assertEqual(DatabaseConfig.section_name(), "DATABASE")
        self.assertEqual(MyServiceConfig.section_name(), "MY_SERVICE")
        self.assertEqual(NamedSection.section_name(), "CUSTOM")

    def test_a_section_matches_whatever_its_spelling(self):
        for key in ("MY_SERVICE", "my_service", "MyService", "myservice", "my-service"):
            with self.subTest(key=key):
                configuration = load({"application.yml": f"{key}:\n  URL: http://x\n"})
                self.assertEqual(configuration.section(MyServiceConfig).url, "http://x")

    def test_keys_match_whatever_their_spelling(self):
        configuration = load({"application.yml": "APPLICATION:\n  logLevel: DEBUG\n  Secret-Key: abc\n"})
        section = configuration.section(ApplicationConfig)
        self.assertEqual((section.log_level, section.secret_key), ("DEBUG", "abc"))

    def test_sections_are_built_once(self):
        configuration = load({"application.yml": "API:\n  PORT: 8080\n"})
        self.assertIs(configuration.section(ApiConfig), configuration.section(ApiConfig))
        self.assertEqual(configuration.section(ApiConfig).port, 8080)

    def test_repr_masks_secret_fields(self):
        config = DatabaseConfig(type="postgresql", user="app", password="hunter2")
        self.assertIn("password=***", repr(config))
        self.assertNotIn("hunter2", repr(config))
        self.assertIn("user='app'", repr(config))


class OverlayTest(unittest.TestCase):
    FILES = {
        "application.yml": "DATABASE:\n  TYPE: postgresql\n  HOST: localhost\n  PORT: 5432\nAPI:\n  PORT: 5000\n",
        "application.production.yml": "database:\n  host: db.internal\n",
    }

    def test_the_environment_file_is_merged_over_the_base_key_by_key(self):
        configuration = load(self.FILES, environment="production")
        database = configuration.section(DatabaseConfig)
        self.assertEqual((database.type, database.host, database.port), ("postgresql", "db.internal", 5432))
        self.assertEqual([path.name for path in configuration.files], ["application.yml", "application.production.yml"])

    def test_the_environment_comes_from_pdip_environment_then_python_environment(self):
        self.assertEqual(
            load(self.FILES, environ={"PDIP_ENVIRONMENT": "production"}).get("database.host"), "db.internal"
        )
        self.assertEqual(
            load(self.FILES, environ={"PYTHON_ENVIRONMENT": "production"}).get("database.host"), "db.internal"
        )
        self.assertEqual(load(self.FILES).get("database.host"), "localhost")
        self.assertIsNone(load(self.FILES).environment)

    def test_configurations_given_to_pdi_come_last(self):
        configuration = load(self.FILES, extra={"Database": {"Port": 6543}})
        self.assertEqual(configuration.section(DatabaseConfig).port, 6543)
        self.assertEqual(configuration.section(DatabaseConfig).host, "localhost")

    def test_raw_values_by_dotted_path(self):
        configuration = load(self.FILES)
        self.assertEqual(configuration.get("API.PORT"), 5000)
        self.assertIsNone(configuration.get("API.PORT.DEEPER"))
        self.assertEqual(configuration.get("NOPE.X", "fallback"), "fallback")

    def test_a_yaml_extension_is_read_too_and_an_empty_file_is_fine(self):
        self.assertEqual(load({"application.yaml": "API:\n  PORT: 1\n"}).section(ApiConfig).port, 1)
        self.assertEqual(load({"application.yml": ""}).data, {})
        self.assertEqual(load({}).files, [])


class EnvironmentVariableTest(unittest.TestCase):
    def test_variables_override_yaml_with_single_or_double_underscore(self):
        files = {"application.yml": "DATABASE:\n  TYPE: sqlite\n  HOST: from-yaml\n"}
        single = load(files, environ={"DATABASE_HOST": "from-env"}).section(DatabaseConfig)
        double = load(files, environ={"DATABASE__HOST": "from-env2"}).section(DatabaseConfig)
        self.assertEqual((single.host, double.host), ("from-env", "from-env2"))

    def test_variables_alone_make_a_section(self):
        configuration = load({}, environ={"DATABASE_TYPE": "mysql", "DATABASE_PORT": "3306"})
        self.assertTrue(configuration.has_section(DatabaseConfig))
        self.assertEqual(configuration.section(DatabaseConfig).port, 3306)

    def test_variables_are_converted_to_the_fields_type(self):
        environ = {
            "MY_SERVICE_URL": "http://svc",
            "MY_SERVICE_RETRIES": "7",
            "MY_SERVICE_RATIO": "0.25",
            "MY_SERVICE_ENABLED": "yes",
            "MY_SERVICE_TAGS": "a, b,,c",
            "MY_SERVICE_PORTS": "[80, 443]",
            "MY_SERVICE_LIMITS": '{"rows": 5}',
            "MY_SERVICE_MODE": "FAST",
            "MY_SERVICE_BUDGET": "12.50",
            "MYSERVICE_FOLDER": "/data",
        }
        section = load({}, environ=environ).section(MyServiceConfig)
        self.assertEqual(section.retries, 7)
        self.assertEqual(section.ratio, 0.25)
        self.assertIs(section.enabled, True)
        self.assertEqual(section.tags, ["a", "b", "c"])
        self.assertEqual(section.ports, (80, 443))
        self.assertEqual(section.limits, {"rows": 5})
        self.assertIs(section.mode, Mode.FAST)
        self.assertEqual(section.budget, Decimal("12.50"))
        self.assertEqual(section.folder, Path("/data"))

    def test_booleans_accept_the_usual_spellings(self):
        for text, expected in [
            ("true", True),
            ("On", True),
            ("1", True),
            ("false", False),
            ("NO", False),
            ("0", False),
        ]:
            with self.subTest(text=text):
                section = load({}, environ={"MY_SERVICE_URL": "u", "MY_SERVICE_ENABLED": text}).section(MyServiceConfig)
                self.assertIs(section.enabled, expected)

    def test_an_optional_field_accepts_null_spellings(self):
        section = load({}, environ={"MY_SERVICE_URL": "u", "MY_SERVICE_FOLDER": "null"}).section(MyServiceConfig)
        self.assertIsNone(section.folder)


class InterpolationTest(unittest.TestCase):
    def test_variables_and_defaults_are_interpolated(self):
        files = {
            "application.yml": "DATABASE:\n  TYPE: ${DB_TYPE}\n  HOST: ${DB_HOST:-localhost}\n  USER: $${literal}\n"
        }
        database = load(files, environ={"DB_TYPE": "postgresql"}).section(DatabaseConfig)
        self.assertEqual((database.type, database.host, database.user), ("postgresql", "localhost", "${literal}"))

    def test_an_unset_variable_without_default_names_the_file_and_key(self):
        files = {"application.yml": "DATABASE:\n  PASSWORD: ${DB_PASSWORD}\n"}
        with self.assertRaises(ConfigurationError) as raised:
            load(files)
        self.assertIn(
            "application.yml: DATABASE.PASSWORD: environment variable DB_PASSWORD is not set", str(raised.exception)
        )


class BadConfigurationTest(unittest.TestCase):
    def test_invalid_yaml_names_the_file_and_line(self):
        files = {"application.yml": "DATABASE:\n  TYPE: sqlite\n  HOST: [unclosed\n  PORT: 1\n"}
        with self.assertRaisesRegex(ConfigurationError, r"application.yml, line \d+, column \d+: invalid YAML"):
            load(files)

    def test_a_top_level_that_is_not_a_mapping_is_refused(self):
        with self.assertRaisesRegex(ConfigurationError, "expected a mapping of sections at the top level"):
            load({"application.yml": "- a\n- b\n"})

    def test_a_wrong_type_names_the_key_the_type_and_the_value(self):
        configuration = load({"application.production.yml": "API:\n  PORT: eighty\n"}, environment="production")
        with self.assertRaises(ConfigurationError) as raised:
            configuration.section(ApiConfig)
        self.assertEqual(str(raised.exception), "application.production.yml:2: API.PORT: expected int, got 'eighty'")

    def test_a_wrong_type_from_the_environment_names_the_variable(self):
        with self.assertRaisesRegex(
            ConfigurationError, r"environment variable API__PORT: API.PORT: expected int, got 'x'"
        ):
            load({}, environ={"API__PORT": "x"}).section(ApiConfig)

    def test_a_secret_value_is_never_echoed_in_an_error(self):
        with self.assertRaises(ConfigurationError) as raised:
            load({"application.yml": "DATABASE:\n  TYPE: sqlite\n  PASSWORD: [s3cr3t]\n"}).section(DatabaseConfig)
        self.assertIn("DATABASE.PASSWORD: expected str | None, got ***", str(raised.exception))
        self.assertNotIn("s3cr3t", str(raised.exception))

    def test_an_unknown_key_is_named_with_a_suggestion(self):
        with self.assertRaisesRegex(ConfigurationError, r"DATABASE.HSOT: unknown key .*; did you mean HOST\?"):
            load({"application.yml": "DATABASE:\n  TYPE: sqlite\n  HSOT: x\n"}).section(DatabaseConfig)

    def test_a_section_that_is_not_a_mapping_is_refused(self):
        with self.assertRaisesRegex(ConfigurationError, "API: expected a mapping of keys, got 5"):
            load({"application.yml": "API: 5\n"}).section(ApiConfig)

    def test_a_missing_required_key_is_named(self):
        with self.assertRaisesRegex(ConfigurationError, r"MY_SERVICE.URL is required \(str\)"):
            load({"application.yml": "MY_SERVICE:\n  RETRIES: 2\n"}).section(MyServiceConfig)

    def test_a_missing_section_says_where_it_was_looked_for(self):
        with self.assertRaises(MissingSectionError) as raised:
            load({"application.yml": "API: {}\n"}).section(DatabaseConfig)
        self.assertEqual(
            str(raised.exception),
            "no DATABASE section in application.yml and no DATABASE_* environment variables (required: TYPE or CONNECTION_STRING)",
        )

    def test_values_that_do_not_convert(self):
        cases = [
            ("RETRIES", "true"),
            ("RETRIES", "1.5"),
            ("ENABLED", "maybe"),
            ("PORTS", "[1, 2, 3]"),
            ("LIMITS", "[1]"),
            ("LIMITS", "{bad json"),
            ("MODE", "slow"),
            ("BUDGET", "lots"),
        ]
        for key, value in cases:
            with self.subTest(key=key, value=value):
                with self.assertRaisesRegex(ConfigurationError, f"MY_SERVICE.{key}: expected"):
                    load({}, environ={"MY_SERVICE_URL": "u", f"MY_SERVICE_{key}": value}).section(MyServiceConfig)

    def test_yaml_values_of_near_types_are_accepted(self):
        files = {"application.yml": "MY_SERVICE:\n  URL: 42\n  RETRIES: 4.0\n  ENABLED: 1\n  TAGS: [x]\n  MODE: fast\n"}
        section = load(files).section(MyServiceConfig)
        self.assertEqual((section.url, section.retries, section.enabled, section.tags), ("42", 4, True, ["x"]))
        self.assertIs(section.mode, Mode.FAST)


class EncryptedValueTest(unittest.TestCase):
    def setUp(self):
        self.key = CryptoService.generate_key()
        self.token = CryptoService(self.key).encrypt("hunter2")

    def test_enc_values_are_decrypted_with_the_key_from_the_environment(self):
        files = {"application.yml": f"DATABASE:\n  TYPE: postgresql\n  PASSWORD: enc:{self.token}\n"}
        database = load(files, environ={"APPLICATION_SECRET_KEY": self.key}).section(DatabaseConfig)
        self.assertEqual(database.password, "hunter2")

    def test_enc_values_are_decrypted_with_the_key_from_the_application_section(self):
        files = {
            "application.yml": f"APPLICATION:\n  SECRET_KEY: {self.key}\nDATABASE:\n  TYPE: postgresql\n  PASSWORD: enc:{self.token}\n"
        }
        self.assertEqual(load(files).section(DatabaseConfig).password, "hunter2")

    def test_an_undecryptable_value_names_the_key_and_never_the_secret(self):
        files = {"application.yml": f"DATABASE:\n  TYPE: postgresql\n  PASSWORD: enc:{self.token}\n"}
        other_key = CryptoService.generate_key()
        with self.assertRaises(ConfigurationError) as raised:
            load(files, environ={"APPLICATION_SECRET_KEY": other_key}).section(DatabaseConfig)
        message = str(raised.exception)
        self.assertIn("application.yml:3: DATABASE.PASSWORD: the encrypted value cannot be decrypted", message)
        for secret in (self.token, "hunter2", self.key, other_key):
            self.assertNotIn(secret, message)

    def test_without_any_key_the_error_says_where_keys_come_from(self):
        files = {"application.yml": f"DATABASE:\n  TYPE: postgresql\n  PASSWORD: enc:{self.token}\n"}
        with self.assertRaisesRegex(ConfigurationError, "check APPLICATION_SECRET_KEY or APPLICATION.SECRET_KEY"):
            load(files).section(DatabaseConfig)


class DatabaseUrlTest(unittest.TestCase):
    def test_urls_for_each_backend(self):
        postgres = DatabaseConfig(type="postgresql", host="db", port=5432, database="app", user="u", password="p@ss")
        mysql = DatabaseConfig(type="mariadb", database="app", user="root")
        self.assertEqual(
            postgres.url().render_as_string(hide_password=False), "postgresql+psycopg://u:p%40ss@db:5432/app"
        )
        self.assertEqual(mysql.url().render_as_string(), "mysql+pymysql://root@127.0.0.1/app")

    def test_sqlite_paths_are_relative_to_the_root(self):
        self.assertEqual(
            str(DatabaseConfig(type="sqlite", database="app.db").url("/srv/app")), "sqlite:////srv/app/app.db"
        )
        self.assertEqual(str(DatabaseConfig(type="sqlite").url("/srv/app")), "sqlite://")
        self.assertEqual(str(DatabaseConfig(type="sqlite", database="/abs.db").url("/srv")), "sqlite:////abs.db")

    def test_a_connection_string_wins_and_an_unknown_type_is_named(self):
        given = DatabaseConfig(type="whatever", connection_string="sqlite:///x.db")
        self.assertEqual(str(given.url()), "sqlite:///x.db")
        with self.assertRaisesRegex(ConfigurationError, r"DATABASE.TYPE: expected one of .*got 'db2'"):
            DatabaseConfig(type="db2").url()


if __name__ == "__main__":
    unittest.main()
