"""Files, local or behind an fsspec URL. `rows` makes the source and target of every format from
the format modules `csv`, `jsonl`, `parquet` and `excel` (each: its suffixes, settings, reader,
writer and capabilities, declared as a `format.FileFormat`); what they share is in `format`,
`reading` (rows), `text` (encodings) and `values` (the `types` setting). `csv_raw` hands CSV to
a database undecoded, `changes` reads and writes change logs as JSON Lines, `remote` stages
fsspec URLs."""

__all__: list[str] = []  # its modules are imported by their own names
