"""Seed data that is applied once: `Seed` subclasses are discovered; `SeedRunner` runs the new ones.

A seed is identified by its `name` (the class name by default) and `version`; the runner records
each applied (name, version) in `pdip_seed` in the same transaction as the seed's rows, so running
again, or from two processes one after the other, never applies a seed twice.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterable

import sqlalchemy as sa

from pdip.data.domain import EntityBase
from pdip.data.provider import RepositoryProvider
from pdip.data.times import UtcDateTime, utcnow
from pdip.dependency import Container, IScoped
from pdip.dependency.discovery import DiscoveryResult

SEED_TABLE = sa.Table(
    "pdip_seed",
    EntityBase.metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)


class Seed(abc.ABC):
    """Rows an application needs to exist. Seeds run in ascending `order`, then by name."""

    version: int = 1
    order: int = 0

    @property
    def name(self) -> str:
        return type(self).__name__

    @abc.abstractmethod
    def run(self, provider: RepositoryProvider) -> None: ...


class SeedRunner(IScoped):
    def __init__(self, provider: RepositoryProvider, container: Container):
        self.provider = provider
        self.container = container

    def run(self, seeds: Iterable[type[Seed]] | None = None) -> list[str]:
        """Apply the seeds not applied yet (by default every discovered one); return their names."""
        if seeds is None:
            seeds = self.container.get(DiscoveryResult).subclasses_of(Seed)
        applied = []
        instances = [self.container.get(cls) for cls in seeds if not inspect.isabstract(cls)]
        for seed in sorted(instances, key=lambda s: (s.order, s.name)):
            if self._done(seed):
                continue
            self.provider.begin()
            failed = True
            try:
                seed.run(self.provider)
                self.provider.session.execute(
                    SEED_TABLE.insert().values(name=seed.name, version=seed.version, applied_at=utcnow())
                )
                failed = False
            finally:
                self.provider.end(failed)
            applied.append(seed.name)
        return applied

    def _done(self, seed: Seed) -> bool:
        query = sa.select(sa.func.count()).where(SEED_TABLE.c.name == seed.name, SEED_TABLE.c.version == seed.version)
        return bool(self.provider.session.scalar(query))
