"""A source that reads best in a thread (`Source.reads_in_thread`, a database's log) is read by a
thread of the writer's process under the `process` executor, at most two batches ahead."""

import signal
import tempfile
import threading
import time
import unittest

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.adapters import Adapter, Source
from pdip.integrator.base import Integrator
from pdip.integrator.batch import Batch
from pdip.integrator.executors.inline import read_ahead


class Numbers:
    """Batches of one number each, noting which thread made them and whether the read was closed."""

    def __init__(self, count: int, fail_at: int | None = None):
        self.count, self.fail_at = count, fail_at
        self.made: list[int] = []
        self.threads: set[int] = set()
        self.closed = threading.Event()

    def read(self):
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise RuntimeError(f"the source broke at {number}")
                self.made.append(number)
                self.threads.add(threading.get_ident())
                yield Batch(["n"], [(number,)])
        finally:
            self.closed.set()


def until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


class ReadAheadTest(unittest.TestCase):
    def test_every_batch_comes_in_order_read_by_another_thread(self):
        numbers = Numbers(50)
        taken = [batch.rows[0][0] for batch in read_ahead(numbers.read())]
        self.assertEqual(taken, list(range(50)))
        self.assertNotIn(threading.get_ident(), numbers.threads)
        self.assertTrue(numbers.closed.wait(5))

    def test_the_thread_reads_at_most_two_batches_ahead_of_the_writer(self):
        numbers = Numbers(10)
        batches = read_ahead(numbers.read())
        self.assertEqual(next(batches).rows, [(0,)])  # being written: one handed, two more read
        until(lambda: len(numbers.made) >= 3)
        time.sleep(0.05)  # and no further
        self.assertEqual(numbers.made, [0, 1, 2])
        self.assertEqual(next(batches).rows, [(1,)])  # the first written: room for one more
        until(lambda: len(numbers.made) >= 4)
        time.sleep(0.05)  # and no further
        self.assertEqual(numbers.made, [0, 1, 2, 3])
        batches.close()

    def test_what_the_reading_raises_is_raised_to_the_writer_after_the_batches_before(self):
        batches = read_ahead(Numbers(10, fail_at=3).read())
        self.assertEqual([next(batches).rows for _ in range(3)], [[(0,)], [(1,)], [(2,)]])
        with self.assertRaisesRegex(RuntimeError, "the source broke at 3"):
            next(batches)

    def test_a_writer_that_stops_early_stops_the_reading_and_closes_it(self):
        numbers = Numbers(1000)
        batches = read_ahead(numbers.read())
        next(batches)
        batches.close()
        self.assertTrue(numbers.closed.is_set())  # closed by the thread before the writer went on
        self.assertLess(len(numbers.made), 5)

    def test_a_writer_that_stops_wakes_a_read_waiting_for_news_and_does_not_wait_for_it(self):
        news = threading.Event()
        ended = threading.Event()

        def followed():  # a followed stream with nothing new: it waits until woken
            try:
                yield Batch(["n"], [(0,)])
                news.wait(10)
            finally:
                ended.set()

        batches = read_ahead(followed(), stop=news.set)
        next(batches)
        started = time.monotonic()
        batches.close()
        self.assertLess(time.monotonic() - started, 1)  # not the 2 s it waits for a read that cannot be woken
        self.assertTrue(ended.wait(1))

    def test_a_signal_reaches_a_writer_waiting_for_the_next_batch(self):
        waiting = threading.Event()

        def never():  # a followed stream with nothing new
            yield Batch(["n"], [(0,)])
            waiting.wait(10)

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            batches = read_ahead(never())
            next(batches)
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            started = time.monotonic()
            with self.assertRaises(KeyboardInterrupt):
                next(batches)
            self.assertLess(time.monotonic() - started, 5)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            waiting.set()


class ThreadReadSource(Source):
    """A source that says it reads best in a thread, noting which thread read it."""

    threads: set[int] = set()

    def reads_in_thread(self, request):
        return True

    def read(self, request):
        for number in range(5):
            ThreadReadSource.threads.add(threading.get_ident())
            yield Batch(["id"], [(number,)], position=number)


class ProcessExecutorReadsInAThreadTest(unittest.TestCase):
    def test_the_process_executor_reads_such_a_source_in_a_thread_of_its_own_process(self):
        with Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-read-ahead-")) as pdi:
            integrator = pdi.get(Integrator)
            integrator.registry.register(Adapter(("threaded",), ThreadReadSource, None))
            operation = Operation(
                "ahead",
                [Integration("n", source=Connection("threaded"), target=Connection("memory", {"store": "out"}))],
                executor="process",
            )
            ThreadReadSource.threads.clear()
            result = integrator.integrate(operation)
            self.assertTrue(result.ok, result.integrations[0].error)
            self.assertEqual(integrator.stores["out"], [{"id": number} for number in range(5)])
        self.assertEqual(len(ThreadReadSource.threads), 1)
        self.assertNotIn(threading.get_ident(), ThreadReadSource.threads)
        self.assertFalse(Source.reads_in_thread(ThreadReadSource.__new__(ThreadReadSource), None))


if __name__ == "__main__":
    unittest.main()
