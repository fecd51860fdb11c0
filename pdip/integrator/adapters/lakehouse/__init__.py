"""Open table formats on files: Delta Lake (`delta.py`) and Apache Iceberg (`iceberg.py`), with
what they share (`tables.py`)."""

__all__: list[str] = []  # its modules are imported by their own names
