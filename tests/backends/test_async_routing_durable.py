"""AsyncRoutingBackend when the broker fails: outage and spool, a killed process's spool, fork, a hung broker."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone

import pytest
from celery import Celery
from kombu.utils.json import loads

from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.spool import Spool
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend, default_app, free_port, record_measurement, start_redis

pytestmark = pytest.mark.server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sequences_in_queue(server, queue):
    """The ``seq`` of every event in the ``send_event``/``send_events`` messages waiting in a Redis queue."""
    found = []
    for raw in server.client().lrange(queue, 0, -1):
        message = json.loads(raw)
        args = loads(base64.b64decode(message['body']))[0]
        events = args[1] if isinstance(args[1], list) else [args[1]]
        found.extend(event['data']['seq'] for event in events)
    return found


def emit_range(tracker, numbers, pause=0.002):
    for number in numbers:
        tracker.emit('edx.test.durable', {'seq': number})
        time.sleep(pause)


@pytest.mark.parametrize('batch_size', [1, 10])
def test_events_emitted_while_redis_is_down_are_published_from_the_spool_when_it_is_back(tmp_path, batch_size):
    server = start_redis()
    app = Celery('eventtracking-outage', broker=server.url(0), set_as_current=False)
    app.conf.task_default_queue = 'outage-test'
    app.finalize()
    backend = AsyncRoutingBackend(backend_name='outage', batch_size=batch_size, batch_interval=0.05,
                                  spool_dir=str(tmp_path), publish_timeout=2.0)
    tracker = Tracker(backends={'outage': backend})
    try:
        with default_app(app):
            emit_range(tracker, range(0, 30))
            assert backend.flush(timeout=10)
            before = sequences_in_queue(server, 'outage-test')
            port = server.port
            server.stop()

            emit_range(tracker, range(30, 60))
            assert backend.flush(timeout=10)
            assert backend.delivery['spooled_pending'] > 0
            server = start_redis(port)
            emit_range(tracker, range(60, 90))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                backend.flush(timeout=5)
                if backend.delivery == {'queued': 0, 'published': backend.delivery['published'],
                                        'spooled_pending': 0}:
                    break
            after = sequences_in_queue(server, 'outage-test')
    finally:
        backend.shutdown(timeout=5)
        app.close()
        server.stop()

    assert set(before) | set(after) == set(range(90)), 'no event may be lost across the outage'
    # duplicates (len(before) + len(after) - 90) are allowed: delivery is at least once
    assert tracker.stats.get('spooled', 0) >= 30
    assert tracker.stats.get('publish_error', 0) == 0
    assert os.listdir(tmp_path) == []


CHILD = textwrap.dedent('''
    import sys, time
    from datetime import datetime, timezone
    from celery import Celery
    app = Celery('eventtracking-dead', broker='redis://127.0.0.1:%(port)d/0')
    app.set_default()
    from eventtracking.backends.async_routing import AsyncRoutingBackend
    backend = AsyncRoutingBackend(backend_name='durable', batch_size=10, batch_interval=0.05,
                                  spool_dir=sys.argv[1])
    for number in range(25):
        backend.send({'name': 'edx.test.durable',
                      'data': {'seq': number, 'at': datetime(2024, 1, 1, 12, number, tzinfo=timezone.utc)}})
    backend.flush(timeout=20)
    print(backend.delivery['spooled_pending'], flush=True)
    time.sleep(600)
''')


def test_the_spool_of_a_killed_process_is_delivered_by_the_next_one(
        tmp_path, celery_worker_thread, register_default_tracker):
    spool_dir = str(tmp_path / 'spool')
    child = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-c', CHILD % {'port': free_port()}, spool_dir],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert child.stdout.readline().strip() == '25'
        assert Spool(spool_dir, 'durable').adopt_orphans() == 0, 'a live process keeps its spool'
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()

    sink = CollectingBackend()
    tracker = register_default_tracker(Tracker(backends={
        'durable': AsyncRoutingBackend(backend_name='durable', batch_size=10, spool_dir=spool_dir,
                                       backends={'sink': sink}),
    }))

    tracker.emit('edx.test.durable', {'seq': 25, 'at': datetime(2024, 1, 1, 12, 25, tzinfo=timezone.utc)})

    events = sink.wait_for(26)
    assert sorted(event['data']['seq'] for event in events) == list(range(26))
    assert {event['data']['at'] for event in events} == {
        datetime(2024, 1, 1, 12, number, tzinfo=timezone.utc) for number in range(26)
    }
    tracker.get_backend('durable').flush(timeout=10)
    assert [name for name in os.listdir(spool_dir) if f'-{child.pid}-' in name] == [], 'published, then removed'


def test_a_forked_child_publishes_its_own_events_and_leaves_the_parents_queue_alone(
        celery_worker_thread, register_default_tracker):
    sink = CollectingBackend()
    backend = AsyncRoutingBackend(backend_name='forked', batch_size=100, batch_interval=60, backends={'sink': sink})
    tracker = register_default_tracker(Tracker(backends={'forked': backend}))
    emit_range(tracker, [0], pause=0)
    assert backend.flush(timeout=10)
    assert [event['data']['seq'] for event in sink.wait_for(1)] == [0]
    emit_range(tracker, [1, 2, 3], pause=0)
    assert backend.delivery['queued'] == 3

    pid = os.fork()
    if pid == 0:  # the child: only os._exit from here on
        status = 1
        try:
            if backend.delivery['queued'] == 0:
                emit_range(tracker, [101, 102], pause=0)
                status = 0 if backend.flush(timeout=20) and backend.delivery['published'] == 2 else 2
                status = status or (3 if tracker.stats.get('publish_error') else 0)
        finally:
            os._exit(status)  # pylint: disable=protected-access
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(event['data']['seq'] for event in sink.wait_for(3)) == [0, 101, 102]
    assert backend.delivery['queued'] == 3
    assert backend.flush(timeout=10)
    assert sorted(event['data']['seq'] for event in sink.wait_for(6)) == [0, 1, 2, 3, 101, 102]


class HungServer:
    """A TCP server on loopback that accepts every connection and never answers."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def hung_broker_app():
    server = HungServer()
    app = Celery('eventtracking-hung', broker=f'redis://127.0.0.1:{server.port}/0', set_as_current=False)
    app.finalize()
    with default_app(app):
        yield app
    server.close()


def timed_emits(tracker, count):
    durations = []
    for number in range(count):
        started = time.perf_counter()
        tracker.emit('edx.test.hung', {'seq': number})
        durations.append(time.perf_counter() - started)
    return durations


def test_on_a_hung_broker_a_default_mode_emit_waits_at_most_the_publish_timeout_then_backs_off(hung_broker_app):
    backend = AsyncRoutingBackend(backend_name='hung')  # the default publish_timeout: 1 s
    tracker = Tracker(backends={'hung': backend})

    durations = timed_emits(tracker, 6)

    record_measurement('emit, default mode, hung broker (default publish_timeout=1)', durations)
    assert max(durations) < 3.0, 'generous bound: the publish timeout is 1 s'
    stats = tracker.stats
    assert stats.get('publish_error', 0) + stats.get('backed_off', 0) == 6
    assert stats.get('backed_off', 0) >= 1, 'after a timed-out publish the backend backs off'


def test_on_a_hung_broker_a_batching_emit_does_no_io_and_the_batches_are_spooled(hung_broker_app, tmp_path):
    backend = AsyncRoutingBackend(backend_name='hung-batch', batch_size=10, batch_interval=0.05,
                                  spool_dir=str(tmp_path), publish_timeout=0.5)
    tracker = Tracker(backends={'hung-batch': backend})

    durations = timed_emits(tracker, 200)
    backend.flush(timeout=10)

    record_measurement('emit, batch_size=10, hung broker', durations)
    assert max(durations) < 0.5, 'generous bound: a batching emit only appends to a queue'
    assert backend.delivery['queued'] == 0
    assert backend.delivery['spooled_pending'] == 200
    assert tracker.stats.get('spooled') == 200
    backend.shutdown(timeout=2)
