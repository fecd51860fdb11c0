"""Child processes and their pipes: last words, deaths (also mid-message), forgotten connections."""

import os
import signal
import socket
import time
import unittest
from unittest import mock

from pdip.integrator.errors import IntegrationFailedError
from pdip.integrator.executors import children, process
from pdip.integrator.executors.children import (
    forget_inherited_connections,
    messages,
    send_large,
    start_children,
    stop_children,
    tell,
)

DONE = "done"


def talk(channel, count):
    for number in range(count):
        channel.send(number)
    channel.send(DONE)


def exit_with(channel, code):
    os._exit(code)


def send_a_lot(channel, size):
    channel.send(b"x" * size)  # far more than a pipe holds: the child blocks part-way through
    channel.send(DONE)


def send_columns(channel, rows):
    import pyarrow

    batch = pyarrow.record_batch({"id": list(range(rows)), "name": [f"name {n}" for n in range(rows)]})
    send_large(channel, {"batch": batch, "small": pyarrow.py_buffer(b"tiny")})
    send_large(channel, "no buffers")
    channel.send(DONE)


def send_columns_and_die(channel, rows):
    import pyarrow

    batch = pyarrow.record_batch({"name": ["n" * 64] * rows})

    def half_then_exit(channel, view):
        os.write(channel.fileno(), view[: view.nbytes // 2])
        os._exit(5)

    with mock.patch.object(children, "_written", side_effect=half_then_exit):
        send_large(channel, batch)


def stubborn(channel):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    channel.send("deaf")
    signal.pause()


def orphan(parent):
    children.die_with_parent(parent)


def follow(started):
    """Every message of every child until each says DONE."""
    got = []
    for child, message in messages(started):
        if message == DONE:
            child.finished = True
        else:
            got.append((child.name, message))
    return got


class ChildrenTest(unittest.TestCase):
    def start(self, work):
        started = start_children("numbers", work)
        self.addCleanup(stop_children, started)
        return started

    def test_each_child_talks_down_its_own_pipe_until_its_last_word(self):
        started = self.start([("reader 1 of 2", talk, (3,)), ("reader 2 of 2", talk, (2,))])
        got = follow(started)
        self.assertEqual(sorted(got), [("reader 1 of 2", 0), ("reader 1 of 2", 1), ("reader 1 of 2", 2),
                                       ("reader 2 of 2", 0), ("reader 2 of 2", 1)])  # fmt: skip
        stop_children(started)
        self.assertFalse([child for child in started if child.process.is_alive()])

    def test_a_child_that_exits_without_its_last_word_fails_the_run_with_its_code(self):
        started = self.start([("reader", exit_with, (3,))])
        with self.assertRaises(IntegrationFailedError) as raised:
            follow(started)
        self.assertIn(
            "integration 'numbers' failed: the reader exited with code 3 before it finished", str(raised.exception)
        )

    def test_a_child_killed_half_way_through_a_message_fails_the_run_at_once(self):
        started = self.start([("reader", send_a_lot, (64 * 1024 * 1024,))])
        time.sleep(0.05)  # the child is now blocked in the middle of its message
        os.kill(started[0].process.pid, signal.SIGKILL)
        began = time.monotonic()
        with self.assertRaises(IntegrationFailedError) as raised:
            follow(started)
        self.assertIn("the reader was killed (signal 9, SIGKILL) before it finished", str(raised.exception))
        self.assertLess(time.monotonic() - began, 5)

    def test_the_large_buffers_of_a_message_follow_it_raw_and_arrive_whole(self):
        started = self.start([("reader", send_columns, (200_000,))])
        got = [message for _, message in follow(started)]
        self.assertEqual(got[0]["batch"].column("name")[199_999].as_py(), "name 199999")
        self.assertEqual(got[0]["batch"].num_rows, 200_000)
        self.assertEqual(got[0]["small"].to_pybytes(), b"tiny")
        self.assertEqual(got[1], "no buffers")

    def test_a_child_that_dies_half_way_through_the_buffers_of_its_message_fails_the_run(self):
        started = self.start([("reader", send_columns_and_die, (100_000,))])
        with self.assertRaises(IntegrationFailedError) as raised:
            follow(started)
        self.assertIn("the reader exited with code 5 before it finished", str(raised.exception))

    def test_children_that_said_their_last_word_get_the_goodbye_and_the_others_are_ended(self):
        started = self.start([("reader", talk, (0,))])
        follow(started)
        stop_children(started, goodbye="close")
        self.assertEqual(started[0].process.exitcode, 0)
        self.assertFalse(tell(started[0].channel, "anything"))  # its pipe is closed now

    def test_a_child_deaf_to_terminate_is_killed_after_the_patience_runs_out(self):
        started = self.start([("reader", stubborn, ())])
        self.assertEqual(started[0].channel.recv(), "deaf")  # SIGTERM is ignored from here on
        stop_children(started, patience=0.2)
        self.assertEqual(started[0].process.exitcode, -signal.SIGKILL)

    def test_a_child_whose_parent_is_already_gone_exits_at_once(self):
        process = children.start_method().Process(target=orphan, args=(os.getpid() + 1_000_000,))
        process.start()
        process.join(timeout=5)
        self.assertEqual(process.exitcode, 1)

    def test_a_child_that_cannot_be_started_ends_the_ones_already_started(self):
        start = children.start_method()
        made = []

        class FailingSecondProcess(start.Process):
            def start(self):
                made.append(self)
                if len(made) == 2:
                    raise OSError("no more processes")
                super().start()

        with mock.patch.object(start, "Process", FailingSecondProcess), self.assertRaises(OSError):
            start_children("numbers", [("reader 1 of 2", talk, (1000,)), ("reader 2 of 2", talk, (1,))])
        self.assertEqual(len(made), 2)
        self.assertFalse(made[0].is_alive())  # the first one was ended, not left running


class SilentSocket:
    """What PyMySQL keeps: `_sock`."""

    def __init__(self, sock):
        self._sock = sock


class PgConn:
    def __init__(self, descriptor=None, error=None):
        self.descriptor, self.error = descriptor, error

    @property
    def socket(self):
        if self.error:
            raise self.error
        return self.descriptor


class PsycopgLike:
    def __init__(self, pgconn):
        self.pgconn = pgconn


class ForgetTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(children._OPENED.clear)

    def pair(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        return ours, theirs

    def test_the_sockets_of_remembered_connections_are_cut_without_a_word(self):
        mysql_side, mysql_peer = self.pair()
        pg_side, pg_peer = self.pair()
        mysql_like = SilentSocket(mysql_side)
        pg_like = PsycopgLike(PgConn(pg_side.fileno()))
        broken = PsycopgLike(PgConn(error=RuntimeError("the connection is closed")))
        closed = PsycopgLike(PgConn(-1))
        elsewhere = object.__new__(type("SqliteLike", (), {}))
        for connection in (mysql_like, pg_like, broken, closed, elsewhere):
            children._OPENED.add(connection)
        self.assertEqual(forget_inherited_connections(), 2)
        for peer in (mysql_peer, pg_peer):
            peer.settimeout(2)
            self.assertEqual(peer.recv(1), b"")  # the far end sees the socket gone: nothing was sent
        self.assertEqual(len(children._OPENED), 0)

    def test_every_connection_sqlalchemy_opens_is_remembered(self):
        import sqlalchemy as sa

        self.assertTrue(sa.event.contains(sa.engine.Engine, "connect", children._remember))


class TellTest(unittest.TestCase):
    def test_telling_a_process_that_is_gone_says_so(self):
        start = children.start_method()
        ours, theirs = start.Pipe(duplex=True)
        theirs.close()
        self.addCleanup(ours.close)
        self.assertFalse(tell(ours, b"x" * (8 * 1024 * 1024)))


if __name__ == "__main__":
    unittest.main()


class AcknowledgementsTest(unittest.TestCase):
    """A reader process passes the writer's acknowledgements to its source, waits for them when
    it is `IN_FLIGHT` batches ahead, and stops reading when the writer says CLOSE early."""

    def setUp(self):
        import multiprocessing

        self.reader, self.writer = multiprocessing.Pipe()
        self.addCleanup(self.reader.close)
        self.addCleanup(self.writer.close)
        self.told = []
        self.source = mock.Mock(acknowledge=self.told.append)

    def test_those_waiting_are_passed_and_at_least_as_many_batches_taken_as_asked_for(self):
        from pdip.integrator.executors.process import Acknowledge, _pass_acknowledgements

        self.assertEqual(_pass_acknowledgements(self.source, self.reader), 0)
        for position in (1, 2):
            self.writer.send(Acknowledge(position))
            self.writer.send(process.TAKEN)
        self.assertEqual(_pass_acknowledgements(self.source, self.reader, at_least=1), 2)
        self.writer.send(Acknowledge(3))
        self.writer.send(process.TAKEN)
        self.writer.send(process.CLOSE)
        self.assertEqual(_pass_acknowledgements(self.source, self.reader, until_close=True), 1)
        self.assertEqual(self.told, [1, 2, 3])

    def test_a_batch_taken_but_held_paces_the_reader_without_an_acknowledgement(self):
        from pdip.integrator.executors.process import _pass_acknowledgements

        self.writer.send(process.TAKEN)  # a target that gathers batches into one commit holds it
        self.assertEqual(_pass_acknowledgements(self.source, self.reader, at_least=1), 1)
        self.assertEqual(self.told, [])

    def test_a_close_before_the_reader_is_done_stops_it(self):
        from pdip.integrator.executors.process import _pass_acknowledgements, _WriterClosed

        self.writer.send(process.CLOSE)
        with self.assertRaises(_WriterClosed):
            _pass_acknowledgements(self.source, self.reader, at_least=1)
