"""The file adapter through whole operations: CSV, JSON Lines, Parquet and Excel on a real disk."""
