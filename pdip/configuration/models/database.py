from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
}


class DatabaseConfig(BaseConfig):
    """The `DATABASE` section: `TYPE` is sqlite, postgresql or mysql (MariaDB too).

    Either the parts (host, port, database, user, password) or a full `CONNECTION_STRING`.
    For SQLite, `DATABASE` is a file path (relative to the application's root) or `:memory:`.
    """

    type: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None
    connection_string: str | None = None
    schema: str | None = None
    pool_size: int = 5
    echo: bool = False
    busy_timeout: float = 30.0  # SQLite: seconds a writer waits for another's transaction to end

    def url(self, root_directory: str | Path | None = None) -> URL:
        """The SQLAlchemy URL; the password is escaped by SQLAlchemy, never formatted by hand."""
        from sqlalchemy.engine import URL, make_url

        if self.connection_string:
            return make_url(self.connection_string)
        driver = _DRIVERS.get(self.type.lower())
        if driver is None:
            known = ", ".join(sorted(set(_DRIVERS)))
            raise ConfigurationError(f"DATABASE.TYPE: expected one of {known}, got {self.type!r}")
        if driver == "sqlite":
            path = self._sqlite_path(root_directory)
            return URL.create(driver, database=None if path == ":memory:" else path)
        return URL.create(
            driver,
            username=self.user,
            password=self.password,
            host=self.host or "127.0.0.1",
            port=self.port,
            database=self.database,
        )

    def _sqlite_path(self, root_directory: str | Path | None) -> str:
        database = self.database or ":memory:"
        if database == ":memory:" or root_directory is None or Path(database).is_absolute():
            return database
        return str(Path(root_directory) / database)
