import contextlib
import io
import logging
import re
import sys
import unittest

import pdip.logging
import pdip.logging.loggers
from pdip.dependency.scopes import ISingleton
from pdip.logging.loggers.console import ConsoleLogger

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) +(.*)$")


def captured(action) -> list[str]:
    """The lines `action` printed to stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        action()
    return out.getvalue().splitlines()


def message_of(line: str) -> str:
    """A printed line without its timestamp and level."""
    match = LINE.match(line)
    assert match, f"not a log line: {line!r}"
    return match.group(3)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class PublicNamesTest(unittest.TestCase):
    def test_all_lists_exactly_the_public_names(self):
        self.assertEqual(pdip.logging.__all__, ["ConsoleLogger"])
        self.assertEqual(pdip.logging.loggers.__all__, ["ConsoleLogger"])
        self.assertIs(pdip.logging.ConsoleLogger, ConsoleLogger)

    def test_logger_is_a_singleton(self):
        self.assertTrue(issubclass(ConsoleLogger, ISingleton))


class LineFormatTest(unittest.TestCase):
    def test_line_has_timestamp_level_and_message(self):
        lines = captured(lambda: ConsoleLogger().info("pdip is ready"))
        self.assertEqual(len(lines), 1)
        match = LINE.match(lines[0])
        self.assertIsNotNone(match)
        self.assertEqual(match.group(2), "INFO")
        self.assertEqual(match.group(3), "pdip is ready")

    def test_timestamps_are_utc(self):
        console = ConsoleLogger()
        records = _Records()
        console.logger.addHandler(records)
        lines = captured(lambda: console.info("x"))
        record = records.records[0]
        expected = console.handler.formatter.formatTime(record)
        self.assertTrue(lines[0].startswith(expected))
        import time

        utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        self.assertTrue(lines[0].startswith(utc))

    def test_message_arguments_are_interpolated(self):
        lines = captured(lambda: ConsoleLogger().info("copied %d rows to %s", 120, "accounts"))
        self.assertEqual(message_of(lines[0]), "copied 120 rows to accounts")

    def test_every_level_method_prints_its_level(self):
        console = ConsoleLogger(level="DEBUG")
        methods = ["debug", "info", "warning", "error", "critical"]
        lines = captured(lambda: [getattr(console, name)(name) for name in methods])
        self.assertEqual([LINE.match(line).group(2) for line in lines], [name.upper() for name in methods])
        self.assertEqual([message_of(line) for line in lines], methods)

    def test_record_points_at_the_callers_line(self):
        console = ConsoleLogger()
        records = _Records()
        console.logger.addHandler(records)
        captured(lambda: console.info("here"))
        self.assertEqual(records.records[0].pathname, __file__)
        self.assertEqual(records.records[0].name, "pdip")


class LevelTest(unittest.TestCase):
    def test_default_level_is_info(self):
        console = ConsoleLogger()
        lines = captured(lambda: (console.debug("hidden"), console.info("shown")))
        self.assertEqual([message_of(line) for line in lines], ["shown"])
        self.assertEqual(console.logger.level, logging.INFO)

    def test_levels_below_the_threshold_are_dropped(self):
        console = ConsoleLogger(level="warning")

        def log_all():
            console.debug("d")
            console.info("i")
            console.warning("w")
            console.error("e")
            console.critical("c")

        self.assertEqual([message_of(line) for line in captured(log_all)], ["w", "e", "c"])

    def test_level_accepts_names_numbers_and_numeric_text(self):
        cases = {"debug": 10, " Info ": 20, "WARN": 30, "ERROR": 40, "critical": 50, 25: 25, "15": 15}
        for level, number in cases.items():
            with self.subTest(level=level):
                self.assertEqual(ConsoleLogger(level=level).logger.level, number)

    def test_unknown_level_name_lists_the_valid_ones(self):
        with self.assertRaisesRegex(ValueError, "Unknown log level 'loud'.*DEBUG, INFO, WARNING"):
            ConsoleLogger(level="loud")

    def test_level_of_the_wrong_type(self):
        for level in (None, 1.5, True):
            with self.subTest(level=level), self.assertRaisesRegex(TypeError, "level name or number"):
                ConsoleLogger(level=level)

    def test_dropped_lines_are_not_masked(self):
        # A disabled level costs a single check; fields are not even looked at.
        console = ConsoleLogger(level="ERROR")

        class Exploding(dict):
            def items(self):
                raise AssertionError("fields were read for a dropped line")

        self.assertEqual(captured(lambda: console._log(logging.INFO, "x", (), Exploding())), [])


class FieldsTest(unittest.TestCase):
    def log(self, **fields) -> str:
        return message_of(captured(lambda: ConsoleLogger().info("event", **fields))[0])

    def test_fields_follow_in_the_order_given(self):
        line = self.log(table="accounts", rows=120, ok=True)
        self.assertEqual(line, "event table=accounts rows=120 ok=True")
        self.assertEqual(self.log(b=1, a=2), "event b=1 a=2")

    def test_values_with_spaces_quotes_or_equals_are_quoted(self):
        self.assertEqual(
            self.log(name="Alice Smith", q='say "hi"', eq="a=b", empty="", line="one\ntwo"),
            'event name="Alice Smith" q="say \\"hi\\"" eq="a=b" empty="" line="one\\ntwo"',
        )

    def test_unicode_values_stay_readable(self):
        self.assertEqual(self.log(city="Zürich", full="São Paulo"), 'event city=Zürich full="São Paulo"')

    def test_containers_are_compact_json(self):
        self.assertEqual(
            self.log(ids=[1, 2], pair=(1, "a"), user={"name": "a b", "id": 3}),
            'event ids=[1,2] pair=[1,"a"] user={"name":"a b","id":3}',
        )

    def test_values_json_cannot_write_use_their_text(self):
        self.assertEqual(self.log(at={"when": object}), 'event at={"when":"<class \'object\'>"}')

    def test_none_and_numbers(self):
        self.assertEqual(self.log(value=None, ratio=0.5), "event value=None ratio=0.5")

    def test_field_names_that_clash_with_the_parameters(self):
        lines = captured(lambda: ConsoleLogger().info("event %s", 1, message="m", args="a", level="l"))
        self.assertEqual(message_of(lines[0]), "event 1 message=m args=a level=l")

    def test_no_fields_no_trailing_space(self):
        lines = captured(lambda: ConsoleLogger().info("event"))
        self.assertTrue(lines[0].endswith(" event"))

    def test_fields_reach_added_handlers_as_record_fields(self):
        console = ConsoleLogger()
        records = _Records()
        console.logger.addHandler(records)
        captured(lambda: console.info("event", table="t", password="pw"))
        self.assertEqual(records.records[0].fields, {"table": "t", "password": "***"})
        self.assertEqual(records.records[0].getMessage(), "event")


class SecretMaskingTest(unittest.TestCase):
    def log(self, **fields) -> str:
        return message_of(captured(lambda: ConsoleLogger().info("event", **fields))[0])

    def test_secret_fields_are_masked(self):
        line = self.log(user="alice", password="s3cret", apiKey="k-123", DATABASE_PASSWORD="pw")
        self.assertEqual(line, "event user=alice password=*** apiKey=*** DATABASE_PASSWORD=***")
        for secret in ("s3cret", "k-123"):
            self.assertNotIn(secret, line)

    def test_nested_secret_values_are_masked(self):
        line = self.log(config={"db": {"host": "h", "password": "s3cret"}, "tokens": [{"token": "t0k"}]})
        self.assertEqual(line, 'event config={"db":{"host":"h","password":"***"},"tokens":[{"token":"***"}]}')

    def test_passwords_in_connection_strings_are_masked(self):
        line = self.log(dsn="postgresql://app:s3cret@db/prod")
        self.assertEqual(line, "event dsn=postgresql://app:***@db/prod")

    def test_callers_fields_are_not_changed(self):
        settings = {"password": "s3cret"}
        self.log(settings=settings)
        self.assertEqual(settings, {"password": "s3cret"})


class ExceptionTest(unittest.TestCase):
    def test_exception_prints_the_traceback_after_the_line(self):
        console = ConsoleLogger()

        def fail():
            try:
                raise RuntimeError("disk full")
            except RuntimeError:
                console.exception("write failed", table="accounts", token="t0k")

        lines = captured(fail)
        self.assertEqual(LINE.match(lines[0]).group(2), "ERROR")
        self.assertEqual(message_of(lines[0]), "write failed table=accounts token=***")
        self.assertEqual(lines[1], "Traceback (most recent call last):")
        self.assertIn('raise RuntimeError("disk full")', "\n".join(lines))
        self.assertEqual(lines[-1], "RuntimeError: disk full")

    def test_error_has_no_traceback(self):
        console = ConsoleLogger()

        def fail():
            try:
                raise RuntimeError("disk full")
            except RuntimeError:
                console.error("write failed")

        self.assertEqual(len(captured(fail)), 1)


class IsolationTest(unittest.TestCase):
    def test_two_loggers_do_not_duplicate_output(self):
        first, second = ConsoleLogger(), ConsoleLogger()
        lines = captured(lambda: (first.info("one"), second.info("two")))
        self.assertEqual([message_of(line) for line in lines], ["one", "two"])

    def test_loggers_of_the_same_name_are_separate(self):
        first, second = ConsoleLogger(name="app"), ConsoleLogger(name="app", level="ERROR")
        self.assertIsNot(first.logger, second.logger)
        self.assertEqual(len(first.logger.handlers), 1)
        self.assertEqual(first.logger.level, logging.INFO)
        self.assertEqual([message_of(line) for line in captured(lambda: first.info("x"))], ["x"])

    def test_nothing_enters_the_global_logging_registry(self):
        before = set(logging.root.manager.loggerDict)
        captured(lambda: ConsoleLogger(name="pdip-registry-probe").info("x"))
        self.assertNotIn("pdip-registry-probe", logging.root.manager.loggerDict)
        self.assertEqual(set(logging.root.manager.loggerDict), before)

    def test_root_handlers_do_not_see_the_lines(self):
        records = _Records()
        logging.root.addHandler(records)
        try:
            captured(lambda: ConsoleLogger().warning("private"))
        finally:
            logging.root.removeHandler(records)
        self.assertEqual(records.records, [])

    def test_name_is_the_record_name(self):
        console = ConsoleLogger(name="billing")
        self.assertEqual(console.logger.name, "billing")


class StdoutTest(unittest.TestCase):
    def test_writes_to_stdout_current_at_emit_time(self):
        console = ConsoleLogger()  # made before stdout is redirected
        first, second = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(first):
            console.info("to first")
        with contextlib.redirect_stdout(second):
            console.info("to second")
        self.assertEqual([message_of(line) for line in first.getvalue().splitlines()], ["to first"])
        self.assertEqual([message_of(line) for line in second.getvalue().splitlines()], ["to second"])

    def test_a_failing_stdout_is_reported_not_raised(self):
        class Broken(io.StringIO):
            def write(self, text):
                raise OSError("stdout closed")

        console = ConsoleLogger()
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(Broken()):
            previous, logging.raiseExceptions = logging.raiseExceptions, True
            try:
                console.info("lost")
            finally:
                logging.raiseExceptions = previous
        self.assertIn("OSError: stdout closed", errors.getvalue())

    def test_stdout_is_restored_untouched(self):
        stdout = sys.stdout
        captured(lambda: ConsoleLogger().info("x"))
        self.assertIs(sys.stdout, stdout)


if __name__ == "__main__":
    unittest.main()
