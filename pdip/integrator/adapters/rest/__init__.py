"""REST endpoints, `kind: rest`: settings (`settings.py`), HTTP with retries and auth
(`client.py`), pages and positions (`pages.py`), and the source and target (`rows.py`)."""

__all__: list[str] = []  # its modules are imported by their own names
