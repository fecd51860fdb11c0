"""The `pdip` command: `pdip --version`, `pdip demo`, `pdip check`.

Commands that need an extra (`run` with the integrator, `api` with Flask) join this parser as
their areas land; each subcommand is one small function here and the work lives in its area.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pdip import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdip", description="pdip: data-integration services.")
    parser.add_argument("--version", action="version", version=f"pdip {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the built-in demo on an embedded SQLite database")
    demo.add_argument("--directory", help="where the demo writes its files (a new temporary folder if omitted)")
    demo.add_argument("--rows", type=int, default=1000, help="how many rows the demo moves (default 1000)")
    demo.set_defaults(handler=_demo)

    check = commands.add_parser("check", help="load an application's configuration and wire its services")
    check.add_argument("root", nargs="?", default=".", help="the application's folder (default: here)")
    check.add_argument("--environment", "-e", help="select application.<environment>.yml")
    check.set_defaults(handler=_check)
    return parser


def _demo(arguments: argparse.Namespace) -> int:
    from pdip.demo import run_demo

    run_demo(arguments.directory, rows=arguments.rows)
    return 0


def _check(arguments: argparse.Namespace) -> int:
    from pdip.base import Pdi
    from pdip.dependency import PdiConfigurationError

    try:
        with Pdi(arguments.root, environment=arguments.environment) as pdi:
            classes = pdi.discovered.classes
            files = ", ".join(path.name for path in pdi.configuration.files) or "no configuration files"
            print(f"{pdi.root_directory}: {len(classes)} classes discovered, {files}: OK")
    except PdiConfigurationError as error:
        print(f"pdip check: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    return arguments.handler(arguments)
