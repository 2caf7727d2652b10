"""A batching AsyncRoutingBackend (batch_size > 1) against a real Celery worker consuming from a real Redis."""

import gc
import logging
import subprocess
import sys
import threading
import time
import weakref
from unittest import mock

import pytest

from eventtracking import batching, tasks
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.tracker import Tracker
from tests.backends.test_async_routing import connected
from tests.servers import CollectingBackend

pytestmark = pytest.mark.server


class BatchCollector(CollectingBackend):
    """A CollectingBackend that also takes whole batches, and keeps each batch it was given."""

    def __init__(self, fail_times=0):
        super().__init__(fail_times)
        self.batches = []

    def send_batch(self, events):
        with self._condition:
            self.calls += 1
            if self.calls <= self.fail_times:
                raise RuntimeError(f'BatchCollector failure {self.calls} of {self.fail_times}')
            self.batches.append(list(events))
            self.events.extend(events)
            self.thread_names.extend(threading.current_thread().name for _ in events)
            self._condition.notify_all()


class PublishedBatches:
    """Records each ``send_events`` task Celery is about to publish: (monotonic time, its events)."""

    def __init__(self):
        self.batches = []

    def __call__(self, sender=None, body=None, **kwargs):
        if sender == tasks.send_events.name:
            self.batches.append((time.monotonic(), body[0][1]))


@pytest.fixture
def published():
    yield from connected(PublishedBatches())


def batching_tracker(nested, **options):
    options.setdefault('batch_size', 5)
    backend = AsyncRoutingBackend(backend_name='batched', backends=nested, **options)
    return Tracker(backends={'batched': backend}), backend


def sequence(events):
    return [event['data']['seq'] for event in events]


def test_batches_arrive_in_the_worker_in_order_and_send_batch_gets_one_call_per_batch(
        celery_worker_thread, register_default_tracker):
    batch_sink, plain_sink = BatchCollector(), CollectingBackend()
    tracker, backend = batching_tracker({'batch': batch_sink, 'plain': plain_sink}, batch_interval=30)
    register_default_tracker(tracker)

    for number in range(12):
        tracker.emit('edx.test.batched', {'seq': number})
    assert backend.flush(timeout=10)

    assert sequence(batch_sink.wait_for(12)) == list(range(12))
    assert [sequence(batch) for batch in batch_sink.batches] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert sequence(plain_sink.wait_for(12)) == list(range(12))
    assert plain_sink.calls == 12
    assert backend.delivery == {'queued': 0, 'published': 12, 'spooled_pending': 0}


def test_the_timer_publishes_a_partial_batch_within_batch_interval(
        celery_worker_thread, register_default_tracker, published):
    sink = BatchCollector()
    tracker, _ = batching_tracker({'sink': sink}, batch_size=100, batch_interval=0.3)
    register_default_tracker(tracker)

    started = time.monotonic()
    for number in range(3):
        tracker.emit('edx.test.timer', {'seq': number})

    assert sequence(sink.wait_for(3)) == [0, 1, 2]
    [(published_at, events)] = published.batches
    assert len(events) == 3
    assert 0.25 <= published_at - started < 5.0, 'the partial batch waits for the timer, then goes without an event'


def test_flush_publishes_at_once(celery_worker_thread, register_default_tracker, published):
    sink = BatchCollector()
    tracker, backend = batching_tracker({'sink': sink}, batch_size=100, batch_interval=60)
    register_default_tracker(tracker)
    for number in range(3):
        tracker.emit('edx.test.flush', {'seq': number})
    assert backend.delivery['queued'] == 3
    assert published.batches == []

    assert backend.flush(timeout=10) is True

    assert [len(events) for _, events in published.batches] == [3]
    assert sequence(sink.wait_for(3)) == [0, 1, 2]
    assert backend.delivery['queued'] == 0


def test_a_full_queue_drops_counts_and_logs_one_line(celery_worker_thread, register_default_tracker, caplog):
    sink = BatchCollector()
    tracker, backend = batching_tracker({'sink': sink}, batch_size=100, batch_interval=60, max_queue_size=5)
    register_default_tracker(tracker)

    with caplog.at_level(logging.WARNING, logger='eventtracking'):
        for number in range(9):
            tracker.emit('edx.test.full', {'seq': number, 'secret': 'personal-data'})

    assert tracker.stats.get('queue_full') == 4
    lines = [record.getMessage() for record in caplog.records if 'queue_full' in record.getMessage()]
    assert len(lines) == 1
    assert 'personal-data' not in lines[0]
    backend.flush(timeout=10)
    assert sequence(sink.wait_for(5)) == [0, 1, 2, 3, 4]


def test_send_events_is_looked_up_when_the_batch_is_published():
    backend = AsyncRoutingBackend(backend_name='patched', batch_size=10, batch_interval=60)
    with mock.patch('eventtracking.tasks.send_events') as send_events:
        backend.send({'name': 'edx.test.one', 'data': {}})
        backend.send({'name': 'edx.test.two', 'data': {}})
        assert backend.flush(timeout=5)
    send_events.delay.assert_called_once_with(
        'patched', [{'name': 'edx.test.one', 'data': {}}, {'name': 'edx.test.two', 'data': {}}], batch_id=mock.ANY,
    )
    assert backend.delivery['published'] == 2
    backend.shutdown()


def test_shutdown_flushes_and_stops_the_thread():
    backend = AsyncRoutingBackend(backend_name='stopping', batch_size=10, batch_interval=60)
    with mock.patch('eventtracking.tasks.send_events') as send_events:
        backend.send({'name': 'edx.test.last', 'data': {}})
        thread = backend.publisher._thread  # pylint: disable=protected-access
        assert thread.is_alive()
        assert backend.shutdown(timeout=5) is True
    assert send_events.delay.call_count == 1
    assert not thread.is_alive()


def test_events_are_published_at_interpreter_exit(tmp_path):
    script = (
        'from unittest import mock\n'
        'import atexit, sys\n'
        'send_events = mock.patch("eventtracking.tasks.send_events").start()\n'
        '# registered first, so it runs after the publishers are flushed\n'
        'atexit.register(lambda: sys.stdout.write(repr([call.args for call in send_events.delay.call_args_list])))\n'
        'from eventtracking.backends.async_routing import AsyncRoutingBackend\n'
        'backend = AsyncRoutingBackend(backend_name="exiting", batch_size=50, batch_interval=60)\n'
        'for number in range(3):\n'
        '    backend.send({"name": "edx.test.exit", "data": {"seq": number}})\n'
    )
    completed = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60,
                               check=True, cwd=tmp_path)
    assert completed.stdout == (
        "[('exiting', [{'name': 'edx.test.exit', 'data': {'seq': 0}}, "
        "{'name': 'edx.test.exit', 'data': {'seq': 1}}, {'name': 'edx.test.exit', 'data': {'seq': 2}}])]"
    )


def test_a_failing_nested_backend_gets_the_batch_again_and_only_it(
        celery_worker_thread, register_default_tracker, monkeypatch):
    monkeypatch.setattr(tasks, 'COUNTDOWN', 0)
    flaky, steady = BatchCollector(fail_times=1), BatchCollector()
    tracker, backend = batching_tracker({'flaky': flaky, 'steady': steady}, batch_interval=30)
    register_default_tracker(tracker)

    for number in range(3):
        tracker.emit('edx.test.retry', {'seq': number})
    backend.flush(timeout=10)

    assert sequence(flaky.wait_for(3)) == [0, 1, 2]
    assert flaky.calls == 2
    assert steady.calls == 1
    assert tracker.stats.get('backend_error', 0) == 0


class FailsOnceOn(CollectingBackend):
    """Raises the first time it is sent the event ``seq``."""

    def __init__(self, seq):
        super().__init__()
        self.seq = seq

    def send(self, event):
        if event['data']['seq'] == self.seq:
            self.seq = None
            raise RuntimeError('down for a moment')
        super().send(event)


def test_backends_that_failed_on_different_events_each_get_only_their_own_again_from_the_worker(
        celery_worker_thread, register_default_tracker, monkeypatch):
    monkeypatch.setattr(tasks, 'COUNTDOWN', 0)
    first, second = FailsOnceOn(0), FailsOnceOn(1)
    tracker, backend = batching_tracker({'first': first, 'second': second}, batch_interval=30)
    register_default_tracker(tracker)

    for number in range(3):
        tracker.emit('edx.test.retry', {'seq': number})
    backend.flush(timeout=10)

    assert sorted(sequence(first.wait_for(3))) == [0, 1, 2]
    assert sorted(sequence(second.wait_for(3))) == [0, 1, 2]
    time.sleep(0.5)  # a second delivery of an event would come now
    assert (sorted(sequence(first.events)), sorted(sequence(second.events))) == ([0, 1, 2], [0, 1, 2])
    assert tracker.stats.get('backend_error', 0) == 0


def test_a_backend_two_levels_down_is_found_by_its_dotted_path(celery_worker_thread, register_default_tracker):
    sink = BatchCollector()
    deep = AsyncRoutingBackend(backend_name='analytics.xapi.async', batch_size=10, batch_interval=0.05,
                               backends={'sink': sink})
    tracker = register_default_tracker(Tracker(backends={
        'analytics': RoutingBackend(backends={'xapi': RoutingBackend(backends={'async': deep})}),
    }))

    tracker.emit('edx.test.deep', {'seq': 7})

    assert sequence(sink.wait_for(1)) == [7]
    assert sink.thread_names[0] != threading.current_thread().name


def test_without_a_backend_name_construction_logs_nothing(caplog):
    with caplog.at_level(logging.DEBUG, logger='eventtracking'):
        AsyncRoutingBackend()
    assert caplog.records == []


def test_without_celery_the_import_error_names_the_module_imported():
    script = (
        'import sys\n'
        'sys.modules["celery"] = None\n'
        'try:\n'
        '    import eventtracking.backends.async_routing\n'
        'except ImportError as exc:\n'
        '    print(exc)\n'
    )
    completed = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60, check=True)
    assert completed.stdout.startswith('eventtracking.backends.async_routing needs ')
    assert "pip install '<eventtracking checkout or wheel>[celery]'" in completed.stdout


def test_an_unused_backend_is_garbage_collected_and_its_thread_ends(monkeypatch):
    monkeypatch.setattr(batching, 'IDLE_RECHECK', 0.05)
    backend = AsyncRoutingBackend(backend_name='collected', batch_size=10, batch_interval=60)
    with mock.patch('eventtracking.tasks.send_events') as send_events:
        backend.send({'name': 'edx.test.collected', 'data': {}})
        assert backend.flush(timeout=5)
    assert send_events.delay.call_count == 1
    thread = backend.publisher._thread  # pylint: disable=protected-access
    collected = weakref.ref(backend)
    del backend

    deadline = time.monotonic() + 10
    while (collected() is not None or thread.is_alive()) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.02)
    assert collected() is None
    assert not thread.is_alive()


def test_a_queued_event_is_not_changed_by_what_the_caller_does_after_emit():
    backend = AsyncRoutingBackend(backend_name='isolated', batch_size=10, batch_interval=60)
    tracker = Tracker(backends={'isolated': backend})
    data = {'grades': [1, 2], 'user': {'id': 7}}
    with mock.patch('eventtracking.tasks.send_events') as send_events:
        tracker.emit('edx.test.isolated', data)
        data['grades'].append(3)
        data['user']['id'] = 8
        assert backend.flush(timeout=5)
    [[published]] = [call.args[1] for call in send_events.delay.call_args_list]
    assert published['data'] == {'grades': [1, 2], 'user': {'id': 7}}
    backend.shutdown()
