"""Errors of the data layer, naming the entity (and constraint, tenant or id) involved."""

from __future__ import annotations


class DataError(Exception):
    """Base of the data layer's errors."""


class ConstraintViolationError(DataError):
    """The database refused a row: a unique, foreign-key, not-null or check constraint.

    The unit of work that raised it has been rolled back and can be used again."""

    def __init__(self, entity: str, constraint: str | None, detail: str):
        self.entity = entity
        self.constraint = constraint
        named = f" constraint {constraint}" if constraint else " a constraint"
        super().__init__(f"{entity} violates{named}: {detail}")


class TenantMismatchError(DataError):
    """An entity of one tenant was written while another tenant (or none) is current."""

    def __init__(self, entity: str, row_tenant: str | None, current: str | None):
        super().__init__(
            f"{entity} belongs to tenant {row_tenant!r} but the current tenant is {current!r}; "
            "a repository only changes rows of the current tenant"
        )


class EntityNotFoundError(DataError, LookupError):
    """No row of this entity has that id for the current tenant (or it is soft-deleted)."""

    def __init__(self, entity: str, entity_id: object):
        super().__init__(f"no {entity} with Id {entity_id} for the current tenant")


class EntityNotStoredError(DataError):
    """An entity that was never inserted was given to a method that changes a stored row."""

    def __init__(self, entity: str):
        super().__init__(f"{entity} is not stored yet: insert it before updating or deleting it")
