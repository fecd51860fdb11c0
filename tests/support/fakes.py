"""Small stand-ins shared by unit tests (fakes of pdip's own seams, never of real servers)."""

from pdip.cqrs import IUnitOfWork


class RecordingUnitOfWork(IUnitOfWork):
    """Records "commit" and "rollback" in the order they happen."""

    def __init__(self):
        self.events: list[str] = []

    def commit(self) -> None:
        self.events.append("commit")

    def rollback(self) -> None:
        self.events.append("rollback")
