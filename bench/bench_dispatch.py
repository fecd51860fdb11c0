"""Dispatcher overhead: `dispatch(command)` against calling the handler directly, in the same run.

    python bench/bench_dispatch.py [--number 200000]

Measured with pdip's built-in behaviours switched off (with 1 and with 1,000 registered
handlers: flat in the number of handlers), and with the default configuration: logging at
DEBUG under an application at INFO, validation and unit of work on. Targets: <= 1.5 us over the
direct call, both stripped and default. For comparison: a `@dtoclass` command (validation runs),
and the default configuration with the DEBUG lines written (to a stream that discards them).
Each dispatch opens and closes a DI scope, as it does in an application.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import timeit
import tracemalloc
import types

from pdip import Pdi
from pdip.cqrs import Dispatcher, HandlerRegistry, ICommand, ICommandHandler
from pdip.cqrs.decorators import dtoclass

STRIPPED = {"CQRS": {"LOGGING": False, "VALIDATION": False, "UNIT_OF_WORK": False}}
DEFAULT: dict = {}
DEBUG_LINES = {"APPLICATION": {"LOG_LEVEL": "DEBUG"}}


class Transfer(ICommand):
    __slots__ = ("cents",)

    def __init__(self, cents: int):
        self.cents = cents


class TransferHandler(ICommandHandler[Transfer]):
    def handle(self, command: Transfer) -> int:
        return command.cents


@dtoclass
class Payment(ICommand):
    cents: int
    reference: str


class PaymentHandler(ICommandHandler[Payment]):
    def handle(self, command: Payment) -> int:
        return command.cents


class Discard:
    """A stdout that throws lines away: what a DEBUG line costs to make, not to store."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def filler_handlers(count: int) -> list[type]:
    """`count` other commands with their handlers, to fill the registry."""
    handlers = []
    for index in range(count):
        command = type(f"Filler{index}", (ICommand,), {})
        handler = types.new_class(
            f"Filler{index}Handler",
            (ICommandHandler[command],),
            exec_body=lambda namespace: namespace.update(handle=lambda self, c: None),
        )
        handlers.append(handler)
    return handlers


def per_call_us(function, number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def measure(configurations: dict, number: int, extra_handlers: int = 0, command=None) -> float:
    command = command or Transfer(5)
    root = tempfile.mkdtemp(prefix="pdip-bench-")
    with Pdi(root_directory=root, configurations=configurations) as pdi, contextlib.redirect_stdout(Discard()):
        registry = pdi.get(HandlerRegistry)
        for handler in filler_handlers(extra_handlers):
            registry.add(handler)
        registry.add(TransferHandler)
        registry.add(PaymentHandler)
        dispatch = pdi.get(Dispatcher).dispatch
        dispatch(command)
        return per_call_us(lambda: dispatch(command), number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    number = parser.parse_args().number

    handler, command = TransferHandler(), Transfer(5)
    direct = per_call_us(lambda: handler.handle(command), number)
    one = measure(STRIPPED, number)
    thousand = measure(STRIPPED, number, extra_handlers=999)
    default = measure(DEFAULT, number)
    validated = measure(DEFAULT, number // 4, command=Payment(cents=5, reference="r-1"))
    written = measure(DEBUG_LINES, number // 20)

    tracemalloc.start()
    measure(STRIPPED, 10_000, extra_handlers=999)
    peak_kib = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()

    print(f"{'handler.handle(command) direct':<44} {direct:8.3f} us   baseline")
    targeted = [("dispatch, behaviours off, 1 handler", one), ("dispatch, behaviours off, 1,000 handlers", thousand)]
    targeted.append(("dispatch, default configuration", default))
    for label, figure in targeted:
        overhead = f"overhead {figure - direct:.3f} us   target <= 1.5 us"
        print(f"{label:<44} {figure:8.3f} us   {figure / direct:5.1f}x direct, {overhead}")
    print(f"{'1,000 vs 1 handler':<44} {thousand / one:8.2f}x    target: flat (1.0x)")
    print(f"{'dispatch, default, @dtoclass (validated)':<44} {validated:8.3f} us   {validated / direct:5.1f}x direct")
    print(f"{'dispatch, default, DEBUG lines written':<44} {written:8.3f} us   {written / direct:5.1f}x direct")
    print(f"{'peak memory, 1,000 handlers':<44} {peak_kib:8.0f} KiB traced")


if __name__ == "__main__":
    main()
