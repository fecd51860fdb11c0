"""The `pdip` command: `pdip --version`, `demo`, `run`, `validate`, `executions`, `dead-letters`,
`check`, `capture drop-slot`, `api`.

Commands that need an extra (`run` with the integrator, `api` with Flask) join this parser as
their areas land; each subcommand is one small function here and the work lives in its area.

Exit codes: 0 ok, 1 a run failed, 2 invalid input or refused (an operation that does not load or
that its targets' databases refuse, a target `validate --strict` could not reach,
`run --resume` with nothing to resume, `run --execution-id` of an existing run, an unknown
execution id; nothing is moved), 130 interrupted. `executions [show ID]` and `dead-letters ID`
read the state database of the application at `--root` (`pdip.integrator.history` formats them).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pdip import __version__

if TYPE_CHECKING:
    from pdip.integrator import StateStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdip", description="pdip: data-integration services.")
    parser.add_argument("--version", action="version", version=f"pdip {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the main job on embedded defaults: CSV -> SQLite -> Parquet -> memory")
    demo.add_argument("--directory", help="where the demo writes its files (a new temporary folder if omitted)")
    demo.add_argument("--rows", type=int, default=300_000, help="how many readings the demo moves (default 300,000)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="run an operation (YAML); exit 0 ok, 1 failed, 2 invalid")
    run.add_argument("operation", help="the operation's YAML file")
    run.add_argument("--root", help="the application's folder (default: the operation file's folder)")
    run.add_argument("--execution-id", help="a name for this run (default: a new id)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the operation's last unfinished run (or --execution-id) after its last durable batch",
    )
    run.add_argument("--follow", action="store_true", help="keep reading stream sources (Kafka) until Ctrl-C")
    run.add_argument("--executor", help="override the operation's executor (inline, process, dask, ...)")
    run.add_argument("--scheduler", help="with --executor dask: the scheduler's address (default: a local cluster)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar, even in a terminal")
    run.add_argument("--environment", "-e", help="select application.<environment>.yml")
    run.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate", help="check an operation (YAML) without moving data; exit 0 valid, 2 invalid (every problem listed)"
    )
    validate.add_argument("operation", help="the operation's YAML file")
    validate.add_argument("--root", help="the application's folder (default: the operation file's folder)")
    validate.add_argument("--executor", choices=("inline", "process", "dask"), help="check it for this executor")
    validate.add_argument("--environment", "-e", help="select application.<environment>.yml")
    reach = validate.add_mutually_exclusive_group()
    reach.add_argument(
        "--offline", action="store_true", help="do not connect to the targets (their tables and keys are not checked)"
    )
    reach.add_argument(
        "--strict", action="store_true", help="a target that cannot be reached is a problem (exit 2), not a warning"
    )
    validate.set_defaults(handler=_validate)

    executions = commands.add_parser("executions", help="list recent runs from the state database (show ID: one)")
    executions.add_argument("--root", default=".", help="the application's folder (default: here)")
    executions.add_argument("--limit", type=int, default=20, help="how many runs, the latest first (default 20)")
    executions.set_defaults(handler=_executions, execution_id=None)
    show = executions.add_subparsers(dest="action", metavar="show ID").add_parser("show", help="one run's details")
    show.add_argument("execution_id", help="the run's execution id")
    show.add_argument("--root", default=argparse.SUPPRESS, help="the application's folder (default: here)")

    letters = commands.add_parser("dead-letters", help="the rows a run refused: integration, reason, position, row")
    letters.add_argument("execution_id", help="the run's execution id (pdip executions lists them)")
    letters.add_argument("--integration", help="only this integration's dead letters")
    letters.add_argument("--format", choices=("table", "jsonl", "csv"), default="table", help="default: table")
    letters.add_argument("--root", default=".", help="the application's folder (default: here)")
    letters.add_argument("--limit", type=int, help="at most this many, the first stored first")
    letters.set_defaults(handler=_dead_letters)

    check = commands.add_parser(
        "check",
        help="load an application's configuration (pdip's sections and CONNECTIONS checked) and wire its services",
    )
    check.add_argument("root", nargs="?", default=".", help="the application's folder (default: here)")
    check.add_argument("--environment", "-e", help="select application.<environment>.yml")
    check.set_defaults(handler=_check)

    capture = commands.add_parser("capture", help="change capture housekeeping: drop-slot SLOT --url URL")
    actions = capture.add_subparsers(dest="action", metavar="drop-slot", required=True)
    drop = actions.add_parser("drop-slot", help="drop a capture's PostgreSQL replication slot (its WAL is freed)")
    drop.add_argument("slot", help="the slot's name (the capture's `slot` setting)")
    drop.add_argument("--url", required=True, help="the database's SQLAlchemy URL (postgresql+psycopg://...)")
    drop.set_defaults(handler=_drop_slot)

    api = commands.add_parser("api", help="serve an application's REST API (gunicorn; --dev: Flask's reloader)")
    api.add_argument("--root", default=".", help="the application's folder (default: here)")
    api.add_argument("--host", help="the address to listen on (default: API.HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="the port to listen on (default: API.PORT, 5000)")
    api.add_argument("--workers", type=_at_least_one, help="worker processes (default: API.WORKERS, 2)")
    api.add_argument("--threads", type=_at_least_one, help="threads per worker (default: API.THREADS, 8)")
    api.add_argument("--dev", action="store_true", help="Flask's development server, reloading on code changes")
    api.add_argument("--environment", "-e", help="select application.<environment>.yml")
    api.set_defaults(handler=_api)
    return parser


def _demo(arguments: argparse.Namespace) -> int:
    from pdip.demo import run_demo

    return 0 if run_demo(arguments.directory, rows=arguments.rows).ok else 1


def _drop_slot(arguments: argparse.Namespace) -> int:
    """Exit 0 dropped, 2 no such slot or the server refused (a slot still in use)."""
    import sqlalchemy as sa

    from pdip.integrator.adapters.sql.capture_postgres import drop_slot

    engine = sa.create_engine(arguments.url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        dropped = drop_slot(engine, arguments.slot)
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        print(f"pdip capture drop-slot: {arguments.slot!r} at {shown}: {reason}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if not dropped:
        print(f"pdip capture drop-slot: no replication slot {arguments.slot!r} at {shown}", file=sys.stderr)
        return 2
    print(f"dropped replication slot {arguments.slot!r} at {shown}")
    return 0


def _check(arguments: argparse.Namespace) -> int:
    from pdip.base import Pdi
    from pdip.dependency import PdiConfigurationError

    try:
        with Pdi(arguments.root, environment=arguments.environment) as pdi:
            problems = _configuration_problems(pdi)
            if problems:
                _report("check", problems)
                return 2
            classes = pdi.discovered.classes
            files = ", ".join(path.name for path in pdi.configuration.files) or "no configuration files"
            print(f"{pdi.root_directory}: {len(classes)} classes discovered, {files}: OK")
    except PdiConfigurationError as error:
        _report("check", error.problems)
        return 2
    return 0


def _configuration_problems(pdi) -> list[str]:
    """Unknown keys and wrong values in pdip's own sections of application.yml, used or not,
    and settings of CONNECTIONS their kinds do not take. An application's own sections are its
    business (they are checked when a service asks for them)."""
    from pdip.configuration import ApiConfig, ApplicationConfig, DatabaseConfig
    from pdip.cqrs.pipeline import CqrsConfig
    from pdip.integrator.adapters.registry import AdapterRegistry
    from pdip.integrator.checks import named_connection_problems
    from pdip.integrator.errors import OperationError
    from pdip.integrator.loading import named_connections
    from pdip.integrator.metrics import MetricsConfig
    from pdip.integrator.state import IntegratorConfig
    from pdip.policy.config import PolicyConfig

    configuration = pdi.configuration
    sections = (ApplicationConfig, DatabaseConfig, ApiConfig, CqrsConfig, IntegratorConfig, MetricsConfig, PolicyConfig)
    found = configuration.problems(sections)
    raw = configuration.get("CONNECTIONS") or {}
    registry = pdi.get(AdapterRegistry)
    where = ", ".join(path.name for path in configuration.files) or "configuration"
    if not isinstance(raw, Mapping):
        return [*found, f"{configuration.where('CONNECTIONS') or where}: CONNECTIONS: expected a mapping of names"]
    for name, settings in raw.items():
        try:
            connection = named_connections(
                {name: settings}, configuration.where(f"CONNECTIONS.{name}") or where, "CONNECTIONS"
            )[str(name)]
        except OperationError as error:
            found.extend(error.problems)
            continue
        for problem in named_connection_problems(connection, registry):
            path = f"CONNECTIONS.{name}.{problem.key}"
            found.append(f"{configuration.where(path) or where}: {path}: {problem.detail}")
    return found


def _report(command: str, problems: Sequence[str]) -> None:
    """One problem on one line; several under a count, so none hides behind another."""
    if len(problems) == 1:
        print(f"pdip {command}: {problems[0]}", file=sys.stderr)
        return
    print(f"pdip {command}: {len(problems)} problems", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _api(arguments: argparse.Namespace) -> int:
    """Serve until interrupted: gunicorn (waitress where it cannot run), or Flask's reloader with --dev."""
    from pdip.dependency import PdiConfigurationError

    try:
        from pdip.api.errors import ServingError
        from pdip.api.serving import Serving, serve

        serve(
            Serving(
                arguments.root,
                arguments.environment,
                arguments.host,
                arguments.port,
                arguments.workers,
                arguments.threads,
                arguments.dev,
            )
        )
    except (ImportError, PdiConfigurationError, ServingError) as error:
        print(f"pdip api: {error}", file=sys.stderr)
        return 2
    return 0


class _InvalidOperation(Exception):
    """The operation (or the application around it) is invalid; the CLI exits with 2."""


def _load(arguments: argparse.Namespace, command: str, problems: list[str] | None = None):
    """(pdi, operation) for an operation file; connections named in application.yml are known.

    Prints why and raises _InvalidOperation when the file or the application is invalid. Given
    `problems` (a list), a file with problems gives what was whole in it instead, if anything
    was, and its problems are added to the list."""
    from pathlib import Path

    from pdip.base import Pdi
    from pdip.dependency import PdiConfigurationError
    from pdip.integrator.adapters.registry import AdapterRegistry
    from pdip.integrator.loading import load_operation
    from pdip.integrator.models import Operation

    path = Path(arguments.operation).resolve()
    pdi = None
    try:
        pdi = Pdi(arguments.root or path.parent, environment=getattr(arguments, "environment", None))
        configuration = pdi.configuration
        connections = configuration.get("CONNECTIONS") or {}
        registry = pdi.get(AdapterRegistry)  # kinds it does not know are refused before anything runs
        executor = getattr(arguments, "executor", None)
        loaded = load_operation(
            Operation, path, connections, None, where=configuration.where, registry=registry, executor_override=executor
        )
        return pdi, loaded
    except (PdiConfigurationError, OSError) as error:
        partial = getattr(error, "operation", None)
        if problems is not None and partial is not None:
            problems.extend(error.problems)
            return pdi, partial
        if pdi is not None:
            pdi.cleanup()
        _report(command, getattr(error, "problems", None) or [str(error)])
        raise _InvalidOperation from error


def _run(arguments: argparse.Namespace) -> int:
    from pdip.dependency import PdiConfigurationError
    from pdip.integrator import Integrator, RunRefusedError
    from pdip.integrator.metrics import MetricsConfig, hand_over, run_metrics

    try:
        pdi, operation = _load(arguments, "run")
    except _InvalidOperation:
        return 2
    if arguments.executor:
        from pdip.integrator.executors import EXECUTORS

        if arguments.executor not in EXECUTORS:
            pdi.cleanup()
            expected = ", ".join(EXECUTORS)
            print(f"pdip run: --executor: expected one of {expected}, got {arguments.executor!r}", file=sys.stderr)
            return 2
        operation.executor = arguments.executor
    if arguments.scheduler:
        operation.scheduler = arguments.scheduler
    options = {"execution_id": arguments.execution_id, "resume": arguments.resume, "follow": arguments.follow}
    with pdi:
        integrator = pdi.get(Integrator)
        try:
            metrics = run_metrics(pdi.get(MetricsConfig), integrator)  # None unless METRICS names a destination
        except PdiConfigurationError as error:
            _report("run", error.problems)
            return 2
        try:
            if sys.stdout.isatty() and not arguments.no_progress:
                from pdip.integrator.progress import ProgressBar

                with ProgressBar().attach(integrator):
                    result = integrator.integrate(operation, **options)
            else:
                result = integrator.integrate(operation, **options)
        except RunRefusedError as error:
            print(f"pdip run: {error}", file=sys.stderr)
            return 2
        if metrics is not None:
            for problem in hand_over(metrics, pdi.get(MetricsConfig), operation.name, pdi.root_directory):
                print(f"pdip run: {problem}", file=sys.stderr)
    for item in result.integrations:
        detail = f": {item.error}" if item.error else ""
        print(
            f"{item.name}: {item.status}, {item.rows_read} read, {item.rows_written} written, "
            f"{item.rows_dead_lettered} dead-lettered in {item.seconds:.2f} s{detail}"
        )
        for warning in item.warnings:
            print(f"{item.name}: warning: {warning}")
    print(f"{operation.name} {result.status} in {result.seconds:.2f} s (execution {result.execution_id})")
    if result.status == "interrupted":
        print(f"continue it with: pdip run {arguments.operation} --resume", file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def _validate(arguments: argparse.Namespace) -> int:
    """Everything that can be checked without moving data, all at once: the file, its kinds and
    settings, sources that cannot be read and targets that cannot be written, and what the
    executor (the operation's, or --executor) cannot run; then, unless --offline, what the
    targets' stores say (a table missing, no key to merge by: `checks.store_problems`). A target
    that cannot be reached is a warning naming it, or with --strict a problem."""
    from pathlib import Path

    from pdip.integrator.adapters.registry import AdapterRegistry
    from pdip.integrator.checks import store_problems
    from pdip.integrator.results import WorkerContext

    problems: list[str] = []  # the file's own; its whole integrations' targets are checked even so
    try:
        pdi, operation = _load(arguments, "validate", problems)
    except _InvalidOperation:
        return 2
    with pdi:
        found = None
        if not arguments.offline:
            found = store_problems(operation, pdi.get(AdapterRegistry), WorkerContext("validate", pdi.root_directory))
    where = Path(arguments.operation).name
    if found is not None:
        problems.extend(f"{where}: {problem}" for problem in found.problems)
        if arguments.strict:
            problems.extend(f"{where}: {item} (--strict)" for item in found.unchecked)
        else:
            for item in found.unchecked:
                print(f"pdip validate: warning: {where}: {item}", file=sys.stderr)
    if problems:
        _report("validate", problems)
        return 2
    offline = " (offline: targets not checked)" if found is None else ""
    print(f"{operation.name}: {len(operation.integrations)} integrations, valid{offline}")
    return 0


def _executions(arguments: argparse.Namespace) -> int:
    from pdip.integrator import UnknownExecutionError
    from pdip.integrator.history import execution_details, executions_table

    with _state(arguments.root) as state:
        if arguments.execution_id is None:
            lines = executions_table(state.executions(arguments.limit), state.location)
        else:
            try:
                record = state.known_execution(arguments.execution_id)
            except UnknownExecutionError as error:
                print(f"pdip executions: {error}", file=sys.stderr)
                return 2
            lines = execution_details(record, state.dead_letter_counts(arguments.execution_id))
    print("\n".join(lines))
    return 0


def _dead_letters(arguments: argparse.Namespace) -> int:
    from pdip.integrator import UnknownExecutionError
    from pdip.integrator.history import write_dead_letters

    execution_id, integration = arguments.execution_id, arguments.integration
    with _state(arguments.root) as state:
        try:
            state.known_execution(execution_id)
        except UnknownExecutionError as error:
            print(f"pdip dead-letters: {error}", file=sys.stderr)
            return 2
        letters = state.dead_letters(execution_id, integration, arguments.limit)
    if not letters:
        where = f" in integration {integration!r}" if integration else ""
        print(f"execution {execution_id!r} has no dead letters{where}")
    else:
        write_dead_letters(letters, arguments.format, sys.stdout)
    return 0


@contextlib.contextmanager
def _state(root: str) -> Iterator[StateStore]:
    """The state store of the application at `root`."""
    from pdip.base import Pdi
    from pdip.integrator import StateStore

    with Pdi(root) as pdi:
        yield pdi.get(StateStore)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    return arguments.handler(arguments)
