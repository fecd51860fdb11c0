#!/usr/bin/env python
"""Run pdip's test suite under coverage.

    python run_tests.py                  # unit and integration tests, with coverage
    python run_tests.py --unit           # only tests/unittests
    python run_tests.py --integration    # only tests/integrationtests
    python run_tests.py -k config        # only test modules whose file name contains "config"
    python run_tests.py --no-coverage    # faster local loop

Coverage is started here unless the script already runs under `coverage run`; the floor is
`fail_under` in .coveragerc and is checked only for a full run. The last line printed is the
summary `N passed, N failed, N skipped`; the exit code is non-zero on any failure, error or a
coverage figure below the floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.abspath(__file__))
SUITES = {"unit": "tests/unittests", "integration": "tests/integrationtests"}
XML_VARIABLE = "PDIP_COVERAGE_XML"  # where a coverage run also writes its report as XML


class _CountingResult(unittest.TextTestResult):
    """Counts passes as well as the failures and skips unittest already counts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run pdip's tests under coverage.")
    parser.add_argument("pattern", nargs="?", default=None, help="only test files whose name contains this")
    parser.add_argument("-k", dest="keyword", default=None, help="same as the positional pattern")
    parser.add_argument("--unit", action="store_true", help="run only tests/unittests")
    parser.add_argument("--integration", action="store_true", help="run only tests/integrationtests")
    parser.add_argument("--no-coverage", action="store_true", help="do not measure coverage")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    return parser.parse_args(argv)


def _suites(args: argparse.Namespace) -> list[str]:
    if args.unit and not args.integration:
        return [SUITES["unit"]]
    if args.integration and not args.unit:
        return [SUITES["integration"]]
    return list(SUITES.values())


def _load(folders: list[str], keyword: str | None) -> unittest.TestSuite:
    pattern = f"test*{keyword}*.py" if keyword else "test*.py"
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for folder in folders:
        suite.addTests(loader.discover(os.path.join(ROOT, folder), pattern=pattern, top_level_dir=ROOT))
    return suite


def _start_coverage(wanted: bool):
    if not wanted:
        return None
    import coverage

    if coverage.Coverage.current() is not None:  # already under `coverage run`
        return None
    cov = coverage.Coverage(config_file=os.path.join(ROOT, ".coveragerc"))
    cov.erase()  # no data files left from an earlier run may join this one's
    cov.start()
    return cov


def _finish_coverage(cov, check_floor: bool) -> bool:
    if cov is None:
        return True
    cov.stop()
    cov.save()
    cov.combine()  # this process's data and that of the worker processes it started
    total = cov.report(show_missing=False, skip_covered=True)
    if os.environ.get(XML_VARIABLE):  # for diff-cover in .ci/run: changed lines must all be covered
        cov.xml_report(outfile=os.environ[XML_VARIABLE])
    floor = cov.get_option("report:fail_under") or 0
    if check_floor and total < floor:
        print(f"coverage {total:.1f}% is below the floor of {floor}% set in .coveragerc")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)
    keyword = args.keyword or args.pattern
    cov = _start_coverage(not args.no_coverage)
    suite = _load(_suites(args), keyword)
    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, resultclass=_CountingResult)
    result = runner.run(suite)
    full_run = keyword is None and args.unit == args.integration
    coverage_ok = _finish_coverage(cov, check_floor=full_run)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    summary = f"{result.passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    ran_something = result.testsRun > 0
    return 0 if failed == 0 and coverage_ok and ran_something else 1


if __name__ == "__main__":
    sys.exit(main())
