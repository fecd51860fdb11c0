"""A progress bar for `pdip run`: one line per integration with rows written and rows per second.

It is an event subscriber like any other; rich draws it (rich comes with the `integrator`
extra). Sources do not say in advance how many rows they hold, so each bar counts up rather
than filling towards a total.
"""

from __future__ import annotations

from typing import Any

from pdip.integrator.events import BatchWritten, IntegrationFailed, IntegrationFinished, IntegrationStarted


class ProgressBar:
    """Subscribe with `attach(integrator)`; use as a context manager around `integrate()`."""

    def __init__(self, console: Any = None):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<24}"),
            TextColumn("{task.completed:>12,.0f} rows"),
            TextColumn("{task.fields[rate]:>10} rows/s"),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, Any] = {}

    def attach(self, integrator: Any) -> ProgressBar:
        integrator.subscribe(IntegrationStarted, self.started)
        integrator.subscribe(BatchWritten, self.written)
        integrator.subscribe(IntegrationFinished, self.finished)
        integrator.subscribe(IntegrationFailed, self.failed)
        return self

    def started(self, event: IntegrationStarted) -> None:
        self._tasks[event.integration] = self.progress.add_task(event.integration, total=None, rate="-", state="")

    def written(self, event: BatchWritten) -> None:
        task = self._tasks[event.integration]
        elapsed = self.progress.tasks[task].elapsed or 0
        rate = f"{event.total_rows / elapsed:,.0f}" if elapsed else "-"
        self.progress.update(task, completed=event.total_rows, rate=rate)

    def finished(self, event: IntegrationFinished) -> None:
        rate = f"{event.rows_written / event.elapsed:,.0f}" if event.elapsed else "-"
        self._end(event.integration, event.rows_written, rate, "done")

    def failed(self, event: IntegrationFailed) -> None:
        self._end(event.integration, None, "-", "failed")

    def _end(self, integration: str, rows: int | None, rate: str, state: str) -> None:
        task = self._tasks[integration]
        completed = rows if rows is not None else self.progress.tasks[task].completed
        self.progress.update(task, completed=completed, total=max(completed, 1), rate=rate, state=state)
        self.progress.stop_task(task)

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.progress.stop()
