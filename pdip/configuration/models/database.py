from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pdip.configuration import upstream
from pdip.configuration.errors import ConfigurationError
from pdip.configuration.models.base import BaseConfig

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from sqlalchemy.engine import URL

_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mssql": "mssql+pymssql",  # pyodbc needs unixODBC and a driver: name it in the URL (`mssql+pyodbc://`)
    "oracle": "oracle+oracledb",  # thin mode: no Oracle client libraries
}
_IN_THE_URL = "write it into DATABASE.CONNECTION_STRING"


class DatabaseConfig(BaseConfig):
    """The `DATABASE` section: `TYPE` is sqlite, postgresql, mysql (MariaDB too), mssql or oracle.

    Either the parts (host, port, database, user, password) or a full `CONNECTION_STRING`, whose
    scheme gives the type when `TYPE` is not written. For SQLite, `DATABASE` is a file path
    (relative to the application's root) or `:memory:`.
    """

    __retired__ = {
        "DRIVER": f"{_IN_THE_URL} (`mssql+pyodbc://user@host/db?driver=ODBC+Driver+18+for+SQL+Server`)",
        "SID": f"{_IN_THE_URL} (`oracle+oracledb://user@host:1521/?sid=...`)",
        "SERVICE_NAME": f"{_IN_THE_URL} (`oracle+oracledb://user@host:1521/?service_name=...`)",
        "APPLICATION_NAME": f"{_IN_THE_URL} (`postgresql://user@host/db?application_name=...`)",
        "EXECUTION_OPTIONS": "set them on the engine in code (`engine.execution_options(...)`)",
    }

    type: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None
    connection_string: str | None = None
    schema: str | None = None
    # connections kept open (as many more may open for a while and are closed on return): at
    # least what one `pdip api` worker uses at once, THREADS (8) plus EXECUTION_WORKERS (2), or
    # under load each request's session closes one connection and opens another; on PostgreSQL the
    # autocommit reads keep as many in a pool of their own
    pool_size: int = 10
    echo: bool = False
    busy_timeout: float = 30.0  # SQLite: seconds a writer waits for another's transaction to end

    @classmethod
    def required_keys(cls) -> list[str]:
        return ["TYPE or CONNECTION_STRING"]

    def __post_init__(self) -> None:
        if self.type is None and self.connection_string:
            self.type = self.connection_string.split("://", 1)[0].split("+", 1)[0].lower()
        if self.type is None:
            raise ValueError("TYPE or CONNECTION_STRING is required")
        if self.type.lower() == "sqlite" and self.database is None and self.host:
            upstream.warn_once(
                "DATABASE.HOST", "DATABASE.HOST names the SQLite file in upstream pdip; write DATABASE.DATABASE"
            )

    def url(self, root_directory: str | Path | None = None) -> URL:
        """The SQLAlchemy URL; the password is escaped by SQLAlchemy, never formatted by hand.

        A connection string without a driver (`postgresql://...`, as upstream pdip wrote them)
        gets the driver pdip installs for its database (`postgresql+psycopg://...`)."""
        from sqlalchemy.engine import URL, make_url

        if self.connection_string:
            url = make_url(self.connection_string)
            if "+" not in url.drivername and url.drivername in _DRIVERS:
                url = url.set(drivername=_DRIVERS[url.drivername])
            return url
        driver = _DRIVERS.get(self.type.lower())
        if driver is None:
            known = ", ".join(sorted(set(_DRIVERS)))
            raise ConfigurationError(f"DATABASE.TYPE: expected one of {known}, got {self.type!r}")
        if driver == "sqlite":
            path = self._sqlite_path(root_directory)
            return URL.create(driver, database=None if path == ":memory:" else path)
        if driver.startswith("oracle"):  # Oracle's DATABASE is a service name, not a SID
            query = {"service_name": self.database} if self.database else {}
            return URL.create(
                driver,
                username=self.user,
                password=self.password,
                host=self.host or "127.0.0.1",
                port=self.port,
                query=query,
            )
        return URL.create(
            driver,
            username=self.user,
            password=self.password,
            host=self.host or "127.0.0.1",
            port=self.port,
            database=self.database,
        )

    def _sqlite_path(self, root_directory: str | Path | None) -> str:
        database = self.database or self.host or ":memory:"
        if database == ":memory:" or root_directory is None or Path(database).is_absolute():
            return database
        return str(Path(root_directory) / database)
