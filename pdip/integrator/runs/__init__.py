"""One integration's run, whatever executes it: `planning` (its partitions and where each starts),
`writing` (the one batch loop), `reporting` (the messages writers send and the books they keep),
`partitions` (a partition read and written by a worker of its own)."""

__all__: list[str] = []  # its modules are imported by their own names
