"""gunicorn's workers taking turns at one listening socket (`pdip.api.balancing`), without a server."""

import selectors
import socket
import unittest
from types import SimpleNamespace
from unittest import mock

from gunicorn.config import Config
from gunicorn.workers.gthread import ThreadWorker

from pdip.api.balancing import FREE, RECHECK_SECONDS, BalancedThreadWorker, ConnectionShares


def _worker() -> SimpleNamespace:
    return SimpleNamespace()


class ConnectionSharesTest(unittest.TestCase):
    def test_a_worker_counts_from_its_first_count_and_its_slot_is_freed_when_it_exits(self):
        shares = ConnectionShares(2)
        first, second, third = _worker(), _worker(), _worker()
        shares.assign(None, first)
        shares.assign(None, second)
        shares.assign(None, third)  # more workers than planned (TTIN): it accepts without balancing
        self.assertEqual((first.share_slot, second.share_slot, third.share_slot), (0, 1, None))
        self.assertIs(first.connection_shares, shares)
        self.assertEqual(list(shares.counts), [FREE, FREE])  # booting workers hold nobody back
        shares.publish(0, 3)
        self.assertTrue(shares.may_accept(0))  # the other has not counted yet
        shares.publish(1, 2)
        self.assertFalse(shares.may_accept(0))  # 3 > 2: the other catches up first
        self.assertTrue(shares.may_accept(1))
        shares.publish(1, 3)
        self.assertTrue(shares.may_accept(0))  # equal shares: both accept
        shares.release(None, second)
        self.assertEqual(list(shares.counts), [3, FREE])
        shares.release(None, third)  # a worker without a slot frees nothing
        successor = _worker()
        shares.assign(None, successor)
        self.assertEqual(successor.share_slot, 1)

    def test_the_first_workers_count_while_they_boot_so_the_first_up_does_not_take_every_connection(self):
        shares = ConnectionShares(4, starting=2)
        first, second, replacement = _worker(), _worker(), _worker()
        shares.assign(None, first)
        shares.assign(None, second)
        self.assertEqual(list(shares.counts), [0, 0, FREE, FREE])
        shares.publish(0, 1)  # the first one up took a connection
        self.assertFalse(shares.may_accept(0))  # the next waits for the second to boot
        shares.release(None, second)  # it never booted, and gunicorn replaced it
        shares.assign(None, replacement)
        self.assertEqual(list(shares.counts), [1, FREE, FREE, FREE])  # the replacement counts from its first turn
        self.assertTrue(shares.may_accept(0))


class BalancedThreadWorkerTest(unittest.TestCase):
    def setUp(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(self.listener.close)
        config = Config()
        config.set("threads", 2)
        self.worker = BalancedThreadWorker(1, 0, [self.listener], None, 30, config, SimpleNamespace())
        self.addCleanup(self.worker.tmp.close)
        self.worker.poller = selectors.DefaultSelector()
        self.addCleanup(self.worker.poller.close)
        self.shares = ConnectionShares(2)
        self.shares.assign(None, self.worker)
        self.worker.share_slot, self.worker.connection_shares = 0, self.shares
        self.waits = []
        self.worker.alive = True

    def _wait(self):
        """One turn of the worker's loop, gunicorn's wait for events recording its timeout."""
        with mock.patch.object(
            ThreadWorker, "wait_for_and_dispatch_events", lambda _, timeout: self.waits.append(timeout)
        ):
            self.worker.wait_for_and_dispatch_events(1.0)

    def test_a_worker_over_its_share_stops_accepting_and_looks_again_soon(self):
        self.worker.nr_conns = 2
        self.shares.publish(1, 1)
        self._wait()
        self.assertFalse(self.worker._accepting)
        self.assertEqual(self.waits, [RECHECK_SECONDS])
        self.assertEqual(self.shares.counts[0], 2)  # its count is published for the others
        self.shares.publish(1, 2)  # the other caught up
        self._wait()
        self.assertTrue(self.worker._accepting)
        self.assertEqual(self.waits[-1], 1.0)
        self.shares.publish(1, 0)
        self._wait()  # over its share again while accepting: it stops
        self.assertFalse(self.worker._accepting)

    def test_a_worker_without_a_slot_or_shutting_down_follows_gunicorn(self):
        self.worker.share_slot = None
        self.worker.nr_conns = 5
        self.shares.publish(1, 0)
        self._wait()
        self.assertTrue(self.worker._accepting)
        self.worker.alive = False  # shutting down: gunicorn disables accepting, the worker keeps it so
        self.worker.set_accept_enabled(False)
        self._wait()
        self.assertFalse(self.worker._accepting)

    def test_a_stopping_worker_no_longer_counts(self):
        self.worker.nr_conns = 0
        self._wait()
        self.assertEqual(self.shares.counts[0], 0)
        self.worker.alive = False  # it drains its connections and accepts none: the others must not wait for it
        self._wait()
        self.assertEqual(self.shares.counts[0], FREE)


class GunicornLoopTest(unittest.TestCase):
    def test_the_gthread_loop_the_worker_extends_is_gunicorn_s(self):
        """Were gunicorn to rename what `BalancedThreadWorker` overrides, the worker would accept
        every connection again without a word: its overrides must be gunicorn's own methods."""
        for name in ("set_accept_enabled", "wait_for_and_dispatch_events"):
            self.assertTrue(callable(getattr(ThreadWorker, name, None)), name)
            self.assertIn(name, vars(BalancedThreadWorker))


if __name__ == "__main__":
    unittest.main()
