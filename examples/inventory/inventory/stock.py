"""The inventory's services: a store for stock levels and the service that reports on them."""

from __future__ import annotations

import abc

import sqlalchemy as sa

from pdip.configuration import BaseConfig, Configuration, DatabaseConfig
from pdip.dependency import IScoped, ISingleton
from pdip.logging.loggers.console import ConsoleLogger


class StockConfig(BaseConfig):
    warehouse: str
    low_stock_threshold: int = 10


class StockStore(abc.ABC):
    @abc.abstractmethod
    def put(self, sku: str, quantity: int) -> None: ...

    @abc.abstractmethod
    def levels(self) -> dict[str, int]: ...


class SqliteStockStore(StockStore, ISingleton):
    """Stock levels in the configured SQLite file; the engine is disposed when the app ends."""

    def __init__(self, database: DatabaseConfig, configuration: Configuration):
        self.engine = sa.create_engine(database.url(configuration.root_directory))
        self.table = sa.Table(
            "stock",
            sa.MetaData(),
            sa.Column("sku", sa.String(20), primary_key=True),
            sa.Column("quantity", sa.Integer, nullable=False),
        )
        self.table.metadata.create_all(self.engine)

    def put(self, sku: str, quantity: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.table.delete().where(self.table.c.sku == sku))
            connection.execute(self.table.insert().values(sku=sku, quantity=quantity))

    def levels(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return dict(connection.execute(sa.select(self.table.c.sku, self.table.c.quantity)).all())

    def close(self) -> None:
        self.engine.dispose()


class StockReport(IScoped):
    def __init__(self, store: StockStore, config: StockConfig, logger: ConsoleLogger):
        self.store, self.config, self.logger = store, config, logger

    def low_stock(self) -> list[str]:
        low = sorted(sku for sku, quantity in self.store.levels().items() if quantity < self.config.low_stock_threshold)
        self.logger.info("low stock", warehouse=self.config.warehouse, skus=low)
        return low
