"""The write-ahead spool against real faults: kill -9, SIGTERM, os._exit, fork, a full disk, a frozen Redis.

Emitters are real processes (``python -c``) publishing to the session's Redis;
the session's Celery worker delivers to a CollectingBackend in this process.
Every event carries a unique id, and the test reconciles: every id an
emitter saw ``send`` return for is delivered, and with the de-duplication
cache none twice.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.spool import SUFFIX, Spool, spool_status
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend, default_app, free_port, record_measurement

pytestmark = pytest.mark.server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PRELUDE = textwrap.dedent('''
    import json, os, sys, threading, time
    from celery import Celery
    BROKER, QUEUE, SPOOL = sys.argv[1], sys.argv[2], sys.argv[3]
    def make_app(name='wal-emitter', default=True):
        app = Celery(name, broker=BROKER)
        app.conf.task_default_queue = QUEUE
        app.conf.broker_connection_retry_on_startup = False
        if default:
            app.set_default()
        return app
    from eventtracking.backends.async_routing import AsyncRoutingBackend
    def event(ident):
        return {'name': 'edx.test.wal', 'data': {'id': ident}}
''')

EMITTER = PRELUDE + textwrap.dedent('''
    RUN, COUNT = sys.argv[4], int(sys.argv[5])
    make_app()
    backend = AsyncRoutingBackend(backend_name='wal', batch_size=20, batch_interval=0.05, spool_dir=SPOOL)
    print('ready', flush=True)
    for number in range(COUNT):
        backend.send(event(f'{RUN}-{number}'))
        print(f'{RUN}-{number}', flush=True)
        time.sleep(0.0003)
    time.sleep(600)
''')


@pytest.fixture
def dedup_cache(settings):
    settings.CACHES = {
        'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache', 'LOCATION': 'default'},
        'dedup': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache', 'LOCATION': 'eventtracking-dedup'},
    }
    settings.EVENT_TRACKING_DEDUP_CACHE = 'dedup'
    return settings


def spawn(script, *args):
    return subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-c', script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )


class Lines:
    """Reads a child's stdout in a thread: the complete lines so far."""

    def __init__(self, child):
        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(child,), daemon=True)
        self._thread.start()

    def _read(self, child):
        for line in child.stdout:
            if line.endswith('\n'):
                self.lines.append(line.rstrip('\n'))

    def wait_for(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while text not in self.lines:
            assert time.monotonic() < deadline, f'no {text!r} from the child'
            time.sleep(0.01)

    def join(self):
        self._thread.join(timeout=10)


def kill(child):
    child.kill()
    child.wait(timeout=30)
    child.stdout.close()
    child.stderr.close()


def run_to_end(script, *args, timeout=90):
    completed = subprocess.run([sys.executable, '-c', script, *map(str, args)], capture_output=True, text=True,
                               cwd=ROOT, timeout=timeout, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def worker_side(register_default_tracker, name):
    """The tracker the worker finds ``name`` in (registered before anything is published), and its sink."""
    sink = CollectingBackend()
    register_default_tracker(Tracker(backends={name: AsyncRoutingBackend(backend_name=name,
                                                                         backends={'sink': sink})}))
    return sink


def takeover(name, spool_dir, **options):
    """An AsyncRoutingBackend in this process that takes over ``spool_dir``."""
    options.setdefault('batch_size', 100)
    options.setdefault('batch_interval', 0.05)
    return AsyncRoutingBackend(backend_name=name, spool_dir=spool_dir, **options)


def adopter(register_default_tracker, name, spool_dir, **options):
    """An AsyncRoutingBackend in this process that takes over ``spool_dir`` and whose worker side feeds a sink."""
    sink = CollectingBackend()
    backend = takeover(name, spool_dir, backends={'sink': sink}, **options)
    tracker = register_default_tracker(Tracker(backends={name: backend}))
    return tracker, backend, sink


def deliver_all(backend, sink, count, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backend.flush(timeout=5)
        if len(sink.events) >= count and not backend.delivery['spooled_pending']:
            break
        time.sleep(0.05)
    return [event['data']['id'] for event in sink.wait_for(count, timeout=max(0.1, deadline - time.monotonic()))]


def pending_files(directory):
    return [name for name in os.listdir(directory) if name.endswith(SUFFIX)]


def test_kill_9_at_random_moments_under_load_and_in_takeovers_loses_nothing_and_duplicates_nothing(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker, dedup_cache):
    # pylint: disable=unused-argument,redefined-outer-name,too-many-locals
    spool_dir = str(tmp_path)
    broker, queue = celery_broker_app.conf.broker_url, celery_broker_app.conf.task_default_queue
    rng = random.Random(int(os.environ.get('EVENTTRACKING_KILL_SEED', '18')))
    emitted, last_lines, cut_short = set(), [], 0
    sink = worker_side(register_default_tracker, 'wal')
    runs = [('down', f'redis://127.0.0.1:{free_port()}/0', 3000)] + [(f'up{n}', broker, 3000) for n in range(5)]
    for run, url, count in runs:
        child = spawn(EMITTER, url, queue, spool_dir, run, count)
        lines = Lines(child)
        lines.wait_for('ready')
        time.sleep(rng.uniform(0.1, 1.2))  # under load, and while taking over what the last one left
        kill(child)
        lines.join()
        ids = [line for line in lines.lines if line.startswith(f'{run}-')]
        emitted.update(ids)
        last_lines.append(f'{run}-{len(ids)}')  # being written when killed: may be delivered too
        cut_short += len(ids) < count

    backend = takeover('wal', spool_dir)
    delivered = deliver_all(backend, sink, len(emitted))
    backend.shutdown(timeout=5)

    assert len(emitted) > 1000 and cut_short >= 3, 'the kills missed the emitting; the test proves little'
    assert emitted - set(delivered) == set(), 'every event send accepted is delivered'
    assert set(delivered) - emitted <= set(last_lines), 'nothing else is delivered'
    assert len(delivered) == len(set(delivered)), 'with the de-duplication cache, no event twice'
    assert pending_files(spool_dir) == []
    assert backend.stats.get('spool_corrupt', 0) == 0


SIGTERM = PRELUDE + textwrap.dedent('''
    make_app()
    backend = AsyncRoutingBackend(backend_name='term', batch_size=50, batch_interval=30, spool_dir=SPOOL)
    for number in range(5):
        backend.send(event(f'term-{number}'))
    print('sent', flush=True)
    time.sleep(600)
''')


def test_a_process_ended_by_a_default_sigterm_loses_nothing(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker):
    # pylint: disable=unused-argument,redefined-outer-name
    sink = worker_side(register_default_tracker, 'term')
    child = spawn(SIGTERM, celery_broker_app.conf.broker_url, celery_broker_app.conf.task_default_queue, tmp_path)
    lines = Lines(child)
    lines.wait_for('sent')
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    kill(child)

    backend = takeover('term', str(tmp_path))
    assert sorted(deliver_all(backend, sink, 5)) == [f'term-{number}' for number in range(5)]
    backend.shutdown(timeout=5)


MULTIPROCESSING = PRELUDE + textwrap.dedent('''
    import multiprocessing
    make_app()
    backend = AsyncRoutingBackend(backend_name='mp', batch_size=100, batch_interval=0.05, spool_dir=SPOOL)
    backend.send(event('parent-0'))
    def work():
        for number in range(800):
            backend.send(event(f'child-{number}'))
    process = multiprocessing.get_context('fork').Process(target=work)
    process.start()
    process.join()
    print(process.exitcode, flush=True)
''')


def test_a_multiprocessing_child_that_ends_with_os_exit_loses_nothing(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker, dedup_cache):
    # pylint: disable=unused-argument,redefined-outer-name
    sink = worker_side(register_default_tracker, 'mp')
    out = run_to_end(MULTIPROCESSING, celery_broker_app.conf.broker_url, celery_broker_app.conf.task_default_queue,
                     tmp_path)
    assert out.split() == ['0']

    backend = takeover('mp', str(tmp_path))
    delivered = deliver_all(backend, sink, 801)
    backend.shutdown(timeout=5)
    assert sorted(delivered) == sorted(['parent-0'] + [f'child-{number}' for number in range(800)])


FORK_AT_FIRST_PUBLISH = PRELUDE + textwrap.dedent('''
    codes = []
    for trial in range(16):
        app = make_app(f'fork-{trial}')
        backend = AsyncRoutingBackend(backend_name='forked', batch_size=2, batch_interval=0.001)
        backend.send(event(f'parent-{trial}'))
        backend.send(event(f'parent-{trial}-b'))
        time.sleep(trial % 8 * 0.0007)  # the thread is making its first publish, at some point of it
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for number in range(3):
                    backend.send(event(f'child-{trial}-{number}'))
                backend.flush(timeout=20)
                status = 0 if backend.delivery['published'] == 3 and not backend.stats else 2
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
        backend.flush(timeout=20)
    print(json.dumps(codes), flush=True)
''')


def test_a_child_forked_while_the_parent_makes_its_first_publish_publishes_its_own_events(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker):
    # pylint: disable=unused-argument,redefined-outer-name
    sink = worker_side(register_default_tracker, 'forked')
    out = run_to_end(FORK_AT_FIRST_PUBLISH, celery_broker_app.conf.broker_url,
                     celery_broker_app.conf.task_default_queue, tmp_path)

    assert json.loads(out) == [0] * 16
    delivered = [event['data']['id'] for event in sink.wait_for(16 * 5)]
    assert sorted(delivered) == sorted([f'parent-{trial}{suffix}' for trial in range(16) for suffix in ('', '-b')] +
                                       [f'child-{trial}-{number}' for trial in range(16) for number in range(3)])


FULL_DISK = PRELUDE + textwrap.dedent('''
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
    make_app()
    backend = AsyncRoutingBackend(backend_name='full', batch_size=50, batch_interval=30, spool_dir=SPOOL)
    for number in range(400):
        backend.send(event(f'full-{number}'))
    print(json.dumps(backend.stats), flush=True)
''')


def test_a_spool_that_fills_refuses_whole_events_counted_and_keeps_every_other(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker):
    # pylint: disable=unused-argument,redefined-outer-name
    sink = worker_side(register_default_tracker, 'full')
    dead = f'redis://127.0.0.1:{free_port()}/0'
    stats = json.loads(run_to_end(FULL_DISK, dead, celery_broker_app.conf.task_default_queue, tmp_path))
    assert 0 < stats['spool_full'] < 400

    backend = takeover('full', str(tmp_path))
    delivered = deliver_all(backend, sink, 400 - stats['spool_full'])
    backend.shutdown(timeout=5)
    assert sorted(delivered, key=lambda ident: int(ident.split('-')[1])) == [
        f'full-{number}' for number in range(400 - stats['spool_full'])]
    assert 'spool_corrupt' not in backend.stats
    assert [item for item in spool_status(str(tmp_path)) if item['state'] == 'quarantined'] == []


def test_a_large_orphan_taken_over_under_load_pushes_no_new_event_out(
        tmp_path, celery_worker_thread, register_default_tracker):
    # pylint: disable=unused-argument,redefined-outer-name
    orphan = Spool(tmp_path, 'orphan')
    for number in range(20000):
        orphan.append({'name': 'edx.test.wal', 'data': {'id': f'old-{number}'}})
    orphan.close()

    tracker, backend, sink = adopter(register_default_tracker, 'orphan', str(tmp_path), max_queue_size=100)
    durations = []
    for number in range(1000):
        started = time.perf_counter()
        tracker.emit('edx.test.wal', {'id': f'new-{number}'})
        durations.append(time.perf_counter() - started)
        time.sleep(0.0005)
    delivered = deliver_all(backend, sink, 21000)
    backend.shutdown(timeout=5)

    record_measurement('emit while a 20k-event orphan is taken over', durations)
    assert max(durations) < 0.5, 'generous bound: an emit never waits for the takeover'
    assert 'queue_full' not in tracker.stats and 'spool_full' not in tracker.stats
    assert len(set(delivered)) == 21000


FROM_A_THREAD = PRELUDE + textwrap.dedent('''
    make_app('thread-app', default=False)  # current in the main thread only, as a Django project's app is
    backend = AsyncRoutingBackend(backend_name='threaded', batch_size=5, batch_interval=0.05)
    def emit():
        for number in range(20):
            backend.send(event(f'thread-{number}'))
        backend.flush(timeout=20)
    thread = threading.Thread(target=emit)
    thread.start()
    thread.join()
    print(json.dumps([backend.delivery['published'], backend.stats]), flush=True)
''')


def test_the_first_event_from_a_thread_is_published_through_the_configured_app(
        tmp_path, celery_broker_app, celery_worker_thread, register_default_tracker):
    # pylint: disable=unused-argument,redefined-outer-name
    sink = worker_side(register_default_tracker, 'threaded')
    out = run_to_end(FROM_A_THREAD, celery_broker_app.conf.broker_url, celery_broker_app.conf.task_default_queue,
                     tmp_path)
    assert json.loads(out) == [20, {}]
    assert len(sink.wait_for(20)) == 20


def test_a_frozen_redis_delays_delivery_and_with_the_dedup_cache_duplicates_nothing(
        tmp_path, redis_server, celery_broker_app, celery_worker_thread, register_default_tracker, dedup_cache):
    # pylint: disable=unused-argument,redefined-outer-name
    tracker, backend, sink = adopter(register_default_tracker, 'frozen', str(tmp_path), batch_size=10,
                                     publish_timeout=0.3)
    pid = redis_server._pid  # pylint: disable=protected-access
    try:
        with default_app(celery_broker_app):
            for number in range(400):
                tracker.emit('edx.test.wal', {'id': f'frozen-{number}'})
                time.sleep(0.005)
                if number == 100:
                    os.kill(pid, signal.SIGSTOP)
                if number == 300:
                    os.kill(pid, signal.SIGCONT)
            deliver_all(backend, sink, 400)
            time.sleep(1.0)  # publishes that hung in the freeze and completed after it arrive too
            delivered = [event['data']['id'] for event in sink.events]
    finally:
        os.kill(pid, signal.SIGCONT)
        backend.shutdown(timeout=5)

    assert sorted(set(delivered)) == sorted(f'frozen-{number}' for number in range(400))
    assert len(delivered) == 400, 'a batch published again after the freeze is skipped by its id'
    assert tracker.stats.get('spooled', 0) > 0, 'the freeze did delay events'


HELD_LOCKS = textwrap.dedent('''
    import os, sys, threading
    from eventtracking import registry
    from eventtracking.backends import segment
    from eventtracking.backends.async_routing import AsyncRoutingBackend
    backend = AsyncRoutingBackend(backend_name='locks', batch_size=5)
    backend.publisher  # pylint: disable=pointless-statement
    watch = segment._ClientWatch()
    held = [registry._LOCK, watch._lock, backend._publisher_lock, backend.publisher._pass_lock]
    taken, release = threading.Event(), threading.Event()
    def hold():
        for lock in held:
            lock.acquire()
        taken.set()
        release.wait()
    threading.Thread(target=hold, daemon=True).start()
    taken.wait()
    pid = os.fork()
    if pid == 0:
        free = [backend._publisher_lock, backend.publisher._pass_lock, registry._LOCK, watch._lock]
        os._exit(0 if all(lock.acquire(timeout=2) for lock in free) else 1)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
''')


def test_a_child_forked_while_another_thread_holds_the_libraries_locks_gets_new_ones():
    completed = subprocess.run([sys.executable, '-c', HELD_LOCKS], capture_output=True, text=True, cwd=ROOT,
                               timeout=60, check=False)
    assert completed.stdout.strip() == '0', completed.stderr[-2000:]
