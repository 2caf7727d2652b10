"""The BatchPublisher on its own: a fake publish, an injected clock, a memory queue or a real spool; no broker."""

import json
import os
import subprocess
import sys
import threading

import pytest

from eventtracking import batching
from eventtracking.backoff import Backoff
from eventtracking.batching import BatchPublisher, MemoryQueue
from eventtracking.spool import Spool
from eventtracking.stats import EventCounters


class Broker:
    """Takes batches like ``send_events.delay`` would, or refuses them while ``down``."""

    def __init__(self):
        self.batches = []
        self.down = False

    def __call__(self, events, batch_id):
        if self.down:
            raise ConnectionError('broker down')
        self.batches.append((batch_id, [event['data']['seq'] for event in events]))


def event(number):
    return {'name': 'edx.test.batching', 'data': {'seq': number}}


def publisher(log, broker, clock, **options):
    options.setdefault('batch_size', 3)
    options.setdefault('batch_interval', 10.0)
    return BatchPublisher('unit', broker, EventCounters(), log, backoff=Backoff(rand=lambda: 0.0),
                          clock=lambda: clock[0], **options)


@pytest.fixture
def no_thread(monkeypatch):
    """The publisher's thread cannot start: every pass is made by the test, at the time it chooses."""

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, 'start', refuse)


@pytest.mark.parametrize('kind', ['memory', 'spool'])
def test_a_full_batch_is_due_at_once_and_a_partial_one_batch_interval_after_its_oldest_event(
        tmp_path, no_thread, kind):  # pylint: disable=unused-argument,redefined-outer-name
    clock = [1000.0]
    log = MemoryQueue(100, clock=lambda: clock[0]) if kind == 'memory' else Spool(tmp_path, 'unit',
                                                                                   clock=lambda: clock[0])
    broker = Broker()
    unit = publisher(log, broker, clock)
    for number in range(4):
        assert unit.put(event(number))
    assert unit._thread is None  # pylint: disable=protected-access

    assert unit._pass(force=False) == pytest.approx(10.0)  # pylint: disable=protected-access
    assert [seqs for _, seqs in broker.batches] == [[0, 1, 2]]
    clock[0] += 9.9
    assert unit._pass(force=False) == pytest.approx(0.1)  # pylint: disable=protected-access
    clock[0] += 0.1
    unit._pass(force=False)  # pylint: disable=protected-access
    assert [seqs for _, seqs in broker.batches] == [[0, 1, 2], [3]]
    assert unit.published == 4


def test_a_thread_that_cannot_start_leaves_no_trace_and_shutdown_publishes_a_memory_queue(no_thread):
    # pylint: disable=unused-argument,redefined-outer-name
    broker = Broker()
    unit = publisher(MemoryQueue(100), broker, [0.0])
    assert unit.put(event(0)) and unit.put(event(1))
    assert unit._thread is None  # pylint: disable=protected-access
    assert unit.flush(timeout=1) is True
    assert [seqs for _, seqs in broker.batches] == [[0, 1]]
    unit.put(event(2))
    assert unit.shutdown() is True
    assert unit.shutdown() is True, 'a second shutdown does nothing more'
    assert [seqs for _, seqs in broker.batches] == [[0, 1], [2]]


def test_with_a_memory_queue_a_refused_batch_is_counted_and_the_queue_bound_holds(no_thread):
    # pylint: disable=unused-argument,redefined-outer-name
    broker = Broker()
    broker.down = True
    unit = publisher(MemoryQueue(4), broker, [0.0])
    results = [unit.put(event(number)) for number in range(6)]
    assert results == [True] * 4 + [False] * 2
    unit._pass(force=True)  # pylint: disable=protected-access
    assert unit.counters.snapshot() == {'queue_full': 2, 'publish_error': 3}
    assert unit.backoff.failures == 1


def test_with_a_spool_a_refused_batch_waits_and_comes_again_with_its_id(tmp_path, no_thread):
    # pylint: disable=unused-argument,redefined-outer-name
    clock = [0.0]
    broker = Broker()
    unit = publisher(Spool(tmp_path, 'unit', clock=lambda: clock[0]), broker, clock)
    for number in range(5):
        unit.put(event(number))
    broker.down = True
    seen = []
    unit.publish = lambda events, batch_id: (seen.append(batch_id), broker(events, batch_id))
    unit._pass(force=True)  # pylint: disable=protected-access
    assert unit.counters.snapshot() == {'spooled': 5}
    unit._pass(force=True)  # pylint: disable=protected-access
    assert unit.counters.snapshot() == {'spooled': 5}, 'each delayed event is counted once'
    broker.down = False
    unit._pass(force=True)  # pylint: disable=protected-access

    assert seen[0] == seen[1] == seen[2] == broker.batches[0][0]
    assert [seqs for _, seqs in broker.batches] == [[0, 1, 2], [3, 4]]
    assert unit.log.pending() == 0


def test_an_event_the_spool_cannot_hold_costs_only_itself_and_is_counted(tmp_path, no_thread):
    # pylint: disable=unused-argument,redefined-outer-name
    unit = publisher(Spool(tmp_path, 'unit'), Broker(), [0.0])
    assert unit.put(event(0))
    assert not unit.put({'name': 'bad', 'data': {'lock': threading.Lock()}})
    assert unit.put(event(1))
    assert unit.counters.snapshot() == {'unserializable': 1}
    assert unit.log.pending() == 2


def test_the_thread_publishes_when_a_batch_is_full_and_ends_at_shutdown():
    broker = Broker()
    unit = publisher(MemoryQueue(100), broker, [0.0], batch_size=2, batch_interval=60)
    unit.put(event(0))
    thread = unit._thread  # pylint: disable=protected-access
    unit.put(event(1))
    deadline = threading.Event()
    for _ in range(200):
        if broker.batches:
            break
        deadline.wait(0.02)
    assert [seqs for _, seqs in broker.batches] == [[0, 1]]
    assert unit.shutdown(timeout=5) is True
    assert not thread.is_alive() and unit._thread is None  # pylint: disable=protected-access


def test_at_interpreter_exit_no_thread_is_started(monkeypatch):
    monkeypatch.setattr(batching, '_EXITING', [True])
    broker = Broker()
    unit = publisher(MemoryQueue(100), broker, [0.0])
    unit.put(event(0))
    assert unit._thread is None  # pylint: disable=protected-access
    assert unit.shutdown() is True
    assert [seqs for _, seqs in broker.batches] == [[0]]


EXIT_WITH_THE_BROKER_DOWN = """
import atexit, json
held = []
atexit.register(lambda: print(json.dumps([held[0].counters.snapshot(), held[0].queued])))  # runs after the library's
from eventtracking.batching import BatchPublisher, MemoryQueue
from eventtracking.stats import EventCounters
def down(events, batch_id):
    raise ConnectionError('broker down')
unit = BatchPublisher('unit', down, EventCounters(), MemoryQueue(1000), batch_size=100, batch_interval=30.0)
held.append(unit)
for number in range(250):
    unit.put({'name': 'edx.test.batching', 'data': {'seq': number}})
"""


def test_what_a_memory_queue_still_holds_when_the_process_exits_is_counted_not_lost_in_silence():
    completed = subprocess.run([sys.executable, '-c', EXIT_WITH_THE_BROKER_DOWN], capture_output=True, text=True,
                               timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    counts, queued = json.loads(completed.stdout)
    assert (counts, queued) == ({'publish_error': 250}, 0)
    assert 'before the process exited' in completed.stderr


def test_the_delivery_state_reported_to_metrics_says_what_waits_and_does_not_keep_the_publisher_alive(
        tmp_path, no_thread, monkeypatch):  # pylint: disable=unused-argument,redefined-outer-name
    import gc  # pylint: disable=import-outside-toplevel
    import weakref  # pylint: disable=import-outside-toplevel

    from eventtracking import metrics  # pylint: disable=import-outside-toplevel
    sources = {}
    monkeypatch.setattr(metrics, 'register_delivery', lambda backend, source: sources.setdefault(backend, source))
    clock = [100.0]
    unit = publisher(Spool(tmp_path, 'unit', clock=lambda: clock[0]), Broker(), clock)
    unit.put(event(0))
    unit.put(event(1))
    clock[0] = 104.0
    state = sources['unit']()
    assert state['queued'] == 0 and state['spooled_events'] == 2 and state['oldest_pending_age'] == 4.0
    assert state['spooled_bytes'] == os.path.getsize(next(tmp_path.glob('*.spool')))
    ref = weakref.ref(unit)
    del unit
    gc.collect()
    assert ref() is None
    assert sources['unit']()['spooled_events'] == 0
