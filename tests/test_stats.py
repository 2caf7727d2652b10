"""EventCounters and merge_stats."""

import os
import threading
import time

import pytest

from eventtracking.stats import EventCounters, merge_stats


def test_increment_snapshot_reset():
    counters = EventCounters()
    assert counters.snapshot() == {}
    counters.increment('filtered')
    counters.increment('filtered', 2)
    counters.increment('oversize')
    assert counters.snapshot() == {'filtered': 3, 'oversize': 1}
    assert counters['filtered'] == 3 and counters['never'] == 0
    snapshot = counters.snapshot()
    snapshot['filtered'] = 100
    assert counters['filtered'] == 3
    counters.reset()
    assert counters.snapshot() == {}
    assert 'EventCounters' in repr(counters)


def test_increments_from_many_threads_are_all_counted():
    counters = EventCounters()

    def work():
        for _ in range(10_000):
            counters.increment('x')

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters['x'] == 80_000


def test_merge_stats():
    assert merge_stats({'a': 1}, {'a': 2, 'b': 1}, {}) == {'a': 3, 'b': 1}
    assert merge_stats() == {}


def test_a_counter_whose_lock_another_thread_held_at_a_fork_still_counts_in_the_child():
    counters = EventCounters()
    held, release = threading.Event(), threading.Event()

    def hold():
        with counters._lock:  # pylint: disable=protected-access  # as increment() does, at the wrong moment
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:  # the child: the holding thread does not exist here
        counters.increment('filtered')
        os._exit(0 if counters['filtered'] == 1 else 1)  # pylint: disable=protected-access
    release.set()
    holder.join()
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail('the child is stuck on the lock the parent\'s thread held at the fork')
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
