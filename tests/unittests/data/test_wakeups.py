"""How a relay that follows the outbox waits (no server: the waits with a server are tested in
tests/integrationtests/changes/test_outbox_wakeup.py)."""

import types
import unittest
from unittest import mock

from pdip.data import wakeups
from pdip.tracking.table import change_log_table


def engine(name, driver):
    return types.SimpleNamespace(dialect=types.SimpleNamespace(name=name, driver=driver))


class WakeupTest(unittest.TestCase):
    def test_polling_is_quick_while_entries_come_and_slows_down_to_idle_once_they_stop(self):
        polling = wakeups.Polling(idle=0.05)
        waits = []
        with mock.patch.object(wakeups.time, "sleep", waits.append):
            for found in (True, False, False, False, True):
                polling.wait(found)
        self.assertEqual(waits, [0.01, 0.02, 0.04, 0.05, 0.01])

    def test_a_postgresql_driver_that_cannot_listen_is_polled_and_said_so(self):
        import sqlalchemy as sa

        with self.assertLogs("pdip.data.wakeups", "INFO") as logs:
            wakeup = wakeups.wakeup_for(engine("postgresql", "pg8000"), change_log_table(sa.MetaData()), idle=2)
        self.assertIsInstance(wakeup, wakeups.Polling)
        self.assertIn(
            "the pg8000 driver cannot wait for notifications; new entries are polled every 2 s", logs.output[0]
        )
        wakeup.close()

    def test_notifications_wait_for_one_then_take_the_ones_that_piled_up(self):
        calls = []

        def notifies(**options):
            calls.append(options)
            return iter(["one"] if "stop_after" in options else ["two", "three"])

        connection = types.SimpleNamespace(notifies=notifies, close=lambda: calls.append("closed"))
        wakeup = wakeups.Notifications(connection, idle=1.5)
        wakeup.wait(found=False)
        wakeup.close()
        self.assertEqual(calls, [{"timeout": 1.5, "stop_after": 1}, {"timeout": 0}, "closed"])
