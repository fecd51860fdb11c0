import contextlib
import dataclasses
import io
import logging
import unittest

from pdip.logging.loggers.console import ConsoleLogger
from pdip.policy import REDACTED, Policy, PolicyLogFilter
from tests.unittests.policy.support import PolicyFilesTestCase

RULES = """\
rules:
  - log: billing
    column: customer
    action: redact
  - log: billing
    column: debug_only
    action: drop_record
  - event: BatchWritten
    column: rows
    action: drop
  - event: Heartbeat
    action: drop_record
  - event: "*"
    column: host
    action: redact
"""


@dataclasses.dataclass
class BatchWritten:
    table: str
    rows: int
    host: str


@dataclasses.dataclass
class Heartbeat:
    at: float


class LogFilterTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.policy = Policy.load(self.write("p.yml", RULES))

    def test_a_console_logger_line_is_rewritten_by_the_policy(self):
        console = ConsoleLogger(name="billing")
        console.logger.addFilter(self.policy.log_filter())
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            console.info("invoice sent", customer="Ada", amount=3)
            console.info("not shown", debug_only=True)
            console.info("%(customer)s paid", {"customer": "Ada"})
        lines = output.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].endswith(f"invoice sent customer={REDACTED} amount=3"))
        self.assertTrue(lines[1].endswith(f"{REDACTED} paid"))

    def test_other_loggers_are_out_of_scope_and_a_scope_may_be_added(self):
        record = logging.LogRecord("shipping", logging.INFO, __file__, 1, "m", None, None)
        record.fields = {"customer": "Ada", "password": "pw"}
        log_filter = PolicyLogFilter(self.policy)
        self.assertTrue(log_filter.filter(record))
        self.assertEqual(record.fields, {"customer": "Ada", "password": REDACTED})
        dropped = logging.LogRecord("shipping", logging.INFO, __file__, 1, "%(debug_only)s", ({"debug_only": 1},), None)
        self.assertFalse(PolicyLogFilter(self.policy, scope="log:billing").filter(dropped))


class EventTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.policy = Policy.load(self.write("p.yml", RULES))

    def test_a_dataclass_event_comes_back_as_a_copy(self):
        event = BatchWritten(table="customers", rows=10, host="db1")
        applied = self.policy.apply_event(event)
        self.assertEqual(applied, BatchWritten(table="customers", rows=None, host=REDACTED))
        self.assertEqual(event.rows, 10)
        self.assertIsNone(self.policy.apply_event(Heartbeat(at=1.0)))

    def test_an_event_the_policy_leaves_alone_is_returned_as_is(self):
        event = Heartbeat(at=1.0)
        self.assertIs(Policy.default().apply_event(event), event)

    def test_a_mapping_event_is_scoped_by_its_type(self):
        self.assertEqual(
            self.policy.apply_event({"type": "BatchWritten", "rows": 3, "table": "t"}),
            {"type": "BatchWritten", "table": "t"},
        )
        self.assertEqual(self.policy.apply_event({"host": "h"}), {"host": REDACTED})
        self.assertEqual(self.policy.apply_event({"rows": 1}, scope="event:BatchWritten"), {})

    def test_other_things_are_a_type_error(self):
        with self.assertRaisesRegex(TypeError, "apply_event takes a mapping or a dataclass instance; got str"):
            self.policy.apply_event("BatchWritten")
        with self.assertRaisesRegex(TypeError, "got type"):
            self.policy.apply_event(BatchWritten)


if __name__ == "__main__":
    unittest.main()
