"""Dispatcher overhead: `dispatch(command)` against calling the handler directly, in the same run.

    python bench/bench_dispatch.py [--number 200000]

With no behaviours, with 1 and with 1,000 registered handlers (target: <= 1.5 us over the direct
call, and flat in the number of handlers), and with pdip's three built-in behaviours switched on
for comparison. Each dispatch opens and closes a DI scope, as it does in an application.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
import tracemalloc
import types

from pdip import Pdi
from pdip.cqrs import Dispatcher, HandlerRegistry, ICommand, ICommandHandler


class Transfer(ICommand):
    __slots__ = ("cents",)

    def __init__(self, cents: int):
        self.cents = cents


class TransferHandler(ICommandHandler[Transfer]):
    def handle(self, command: Transfer) -> int:
        return command.cents


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


def measure(extra_handlers: int, behaviours: bool, number: int) -> float:
    switches = {"LOGGING": False, "VALIDATION": behaviours, "UNIT_OF_WORK": behaviours}
    with Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-bench-"), configurations={"CQRS": switches}) as pdi:
        registry = pdi.get(HandlerRegistry)
        for handler in filler_handlers(extra_handlers):
            registry.add(handler)
        registry.add(TransferHandler)
        dispatch = pdi.get(Dispatcher).dispatch
        command = Transfer(5)
        dispatch(command)
        return per_call_us(lambda: dispatch(command), number)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    number = parser.parse_args().number

    handler, command = TransferHandler(), Transfer(5)
    direct = per_call_us(lambda: handler.handle(command), number)
    one = measure(0, False, number)
    thousand = measure(999, False, number)
    built_in = measure(0, True, number // 4)

    tracemalloc.start()
    measure(999, False, 10_000)
    peak_kib = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()

    print(f"{'handler.handle(command) direct':<40} {direct:8.3f} us   baseline")
    for label, figure in [("dispatch, 1 handler", one), ("dispatch, 1,000 handlers", thousand)]:
        overhead = f"overhead {figure - direct:.3f} us   target <= 1.5 us"
        print(f"{label:<40} {figure:8.3f} us   {figure / direct:5.1f}x direct, {overhead}")
    print(f"{'1,000 vs 1 handler':<40} {thousand / one:8.2f}x    target: flat (1.0x)")
    print(f"{'dispatch, validation + unit of work':<40} {built_in:8.3f} us   {built_in / direct:5.1f}x direct")
    print(f"{'peak memory, 1,000 handlers':<40} {peak_kib:8.0f} KiB traced")


if __name__ == "__main__":
    main()
