"""EventCounters and merge_stats."""

import threading

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
