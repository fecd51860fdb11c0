"""Files, local or behind an fsspec URL: `rows` (settings, source and target of every format),
`formats` (reading CSV, JSON Lines, Parquet, Excel), `writers`, `csv_raw` (CSV handed to a
database undecoded), `changes` (change logs as JSON Lines), `remote`."""

__all__: list[str] = []  # its modules are imported by their own names
