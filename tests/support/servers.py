"""Where integration tests find their servers, and what happens when one is missing.

    url = postgres_url()          # in setUpClass or a test: the URL of a server that answers
    url = mysql_url()
    bootstrap = kafka_bootstrap()

Each server is named by an environment variable (defaults: the local servers of a developer
machine) and checked once per process with a short timeout. A server that does not answer skips
the test on a developer machine; under CI=true it fails it, because a CI run that skipped its
integration tests would report success for code it never ran. Integration tests use these real
servers, never mocks.
"""

from __future__ import annotations

import functools
import os
import unittest
from typing import NoReturn

from tests.support.kafka_broker import (
    ENV_BOOTSTRAP,
    KafkaBrokerError,
    broker_answers,
    ensure_kafka,
)

ENV_POSTGRES = "PDIP_TEST_POSTGRES_URL"
ENV_MYSQL = "PDIP_TEST_MYSQL_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
CONNECT_TIMEOUT = 3  # seconds; both drivers take whole seconds


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def server_missing(message: str) -> NoReturn:
    """Fail under CI=true, skip otherwise."""
    if running_in_ci():
        raise AssertionError(f"{message} (CI=true: a missing server fails the run)")
    raise unittest.SkipTest(message)


def configured_or_started(variable: str, start, what: str) -> str:
    """The URL in environment `variable`, else that of a server `start()` gives as (url, problem);
    a server that cannot be started is missing (`server_missing`), named as `what`."""
    configured = os.environ.get(variable, "").strip()
    if configured:
        return configured
    url, problem = start()
    if problem:
        server_missing(f"{what}: cannot start one ({problem}); or set {variable}")
    return url


def postgres_url() -> str:
    return _sql_server_url("PostgreSQL", ENV_POSTGRES, DEFAULT_POSTGRES_URL)


def mysql_url() -> str:
    return _sql_server_url("MariaDB/MySQL", ENV_MYSQL, DEFAULT_MYSQL_URL)


def kafka_bootstrap() -> str:
    configured = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if configured:
        problem = _kafka_problem(configured)
        if problem:
            server_missing(f"Kafka at {configured} does not answer ({problem}); start it or fix {ENV_BOOTSTRAP}")
        return configured
    bootstrap, problem = _local_kafka()
    if problem:
        server_missing(f"Kafka: cannot start a local tansu broker ({problem}); or set {ENV_BOOTSTRAP}")
    return bootstrap


def _sql_server_url(name: str, variable: str, default: str) -> str:
    url = os.environ.get(variable, "").strip() or default
    problem = _sql_problem(url)
    if problem:
        server_missing(f"{name} at {_shown(url)} does not answer ({problem}); start it or set {variable}")
    return url


@functools.cache
def _sql_problem(url: str) -> str | None:
    """None when `SELECT 1` works at this URL; otherwise why not. Cached: one try per process."""
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT}, poolclass=sqlalchemy.NullPool
        )
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as error:  # driver missing, refused, bad password, no such database: all "missing"
        return f"{type(error).__name__}: {_first_line(error)}"
    return None


@functools.cache
def _kafka_problem(bootstrap: str) -> str | None:
    try:
        return None if broker_answers(bootstrap, timeout=CONNECT_TIMEOUT) else "no metadata from the broker"
    except ImportError as error:
        return f"confluent-kafka is not installed: {error}"


@functools.cache
def _local_kafka() -> tuple[str, str | None]:
    """A broker for this process; a failed start is remembered rather than retried by every test."""
    try:
        return ensure_kafka(), None
    except (KafkaBrokerError, ImportError) as error:
        return "", str(error)


def _shown(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"
