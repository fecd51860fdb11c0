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

    def test_a_reader_takes_a_wake_slot_reads_once_more_then_waits_and_lets_the_slot_go(self):
        connection = FakeListener(locks=[False, True])  # slot 0 held by another reader
        wakeup = wakeups.Notifications(connection, idle=1.5, slots=[(7, 100), (7, 101)])
        wakeup.wait(found=False)  # takes slot 1 and returns for the read that closes the handshake
        self.assertEqual(wakeup.held, (7, 101))
        self.assertEqual(connection.waits, [])
        wakeup.wait(found=False)  # that read found nothing: waits for a writer, then lets go
        self.assertIsNone(wakeup.held)
        wakeup.close()
        self.assertEqual(
            connection.calls,
            [
                (
                    "SELECT CASE WHEN pg_try_advisory_lock(7, 100) THEN 0 WHEN pg_try_advisory_lock(7, 101) THEN 1 END",
                    None,
                ),
                {"timeout": 1.5, "stop_after": 1},
                {"timeout": 0},
                ("SELECT pg_advisory_unlock(%s, %s)", (7, 101)),
                "closed",
            ],
        )

    def test_a_read_after_taking_the_slot_that_found_entries_lets_it_go_without_waiting(self):
        connection = FakeListener(locks=[True])
        wakeup = wakeups.Notifications(connection, idle=1.5, slots=[(7, 100)])
        wakeup.wait(found=False)
        wakeup.wait(found=True)
        self.assertEqual(connection.waits, [])
        self.assertEqual(connection.calls[-1], ("SELECT pg_advisory_unlock(%s, %s)", (7, 100)))

    def test_while_a_writer_holds_the_slots_the_reader_waits_briefly_and_reads_again(self):
        connection = FakeListener(locks=[False] * 12)
        wakeup = wakeups.Notifications(connection, idle=30, slots=[(7, 100), (7, 101)])
        for found in (True, False, False, False, False, True):
            wakeup.wait(found)
        self.assertIsNone(wakeup.held)
        self.assertEqual(connection.waits, [0.01, 0.02, 0.04, 0.08, wakeups.BUSY, 0.01])


class FakeListener:
    """A psycopg connection as the reader uses it: advisory lock tries answered from `locks`,
    notifications never coming."""

    def __init__(self, locks):
        self.locks = list(locks)
        self.calls = []
        self.waits = []

    def execute(self, query, parameters=None):
        self.calls.append((query, parameters))
        answer = self._first_taken(query.count("pg_try_advisory_lock")) if "try" in query else True
        return types.SimpleNamespace(fetchone=lambda: (answer,))

    def _first_taken(self, tries):
        """The slots are tried in order until one is taken: its index (None: none was)."""
        for index in range(tries):
            if self.locks.pop(0):
                return index
        return None

    def notifies(self, **options):
        self.calls.append(options)
        if "stop_after" in options:
            self.waits.append(options["timeout"])
        return iter(())

    def close(self):
        self.calls.append("closed")
