"""Open table formats on files: Delta Lake (`delta.py`) and Apache Iceberg (`iceberg.py`), with
what they share (`tables.py`)."""
