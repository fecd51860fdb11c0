"""Change-stream example: tracked entities -> outbox -> Kafka -> PostgreSQL (or SQLite) replica.

    python -m examples.change_stream          # from the repository's root

See `app.py` for the flow and `operations.yml` for the two operations.
"""
