"""SQL databases through SQLAlchemy: `rows` (tables and queries read and written, with each
dialect's bulk path in `postgres`, `mysql`, `sqlite`), `changes` (the outbox read, change logs
applied by key), `positions` (positions stored with the rows), `tables` and `partitions`."""

__all__: list[str] = []  # its modules are imported by their own names
