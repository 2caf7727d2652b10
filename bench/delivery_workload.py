#!/usr/bin/env python3
"""One side of the delivery benchmark, run by ``bench/delivery.py`` in either library's environment.

``worker``: a Celery worker (solo pool) whose default tracker has an
``AsyncRoutingBackend`` named ``bench`` with one nested backend that appends
each event's ``seq`` to a file (``send_batch`` when the library calls it).

``emit``: a tracker with the same ``AsyncRoutingBackend`` emits events through
a Redis broker; prints a JSON line with what it measured. Only the API both
libraries share is used, plus the options of this library's SPEC 3.1 when
``--batch-size`` or ``--spool-dir`` is given (the original has none).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time

QUEUE = 'bench-delivery'
BACKEND = 'bench'


def configure_django(dedup=False):
    """The original's task module imports edx-django-utils, which wants configured settings.

    ``dedup``: the worker skips batch ids it delivered already (this library's ``EVENT_TRACKING_DEDUP_CACHE``,
    here a local-memory cache: one worker process).
    """
    try:
        from django.conf import settings  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    if not settings.configured:
        extra = {}
        if dedup:
            extra = {'CACHES': {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}},
                     'EVENT_TRACKING_DEDUP_CACHE': 'default'}
        settings.configure(**extra)
        import django  # pylint: disable=import-outside-toplevel
        django.setup()


def celery_app(broker):
    from celery import Celery  # pylint: disable=import-outside-toplevel

    app = Celery('bench-delivery', broker=broker, include=['eventtracking.tasks'])
    app.conf.update(task_default_queue=QUEUE, worker_hijack_root_logger=False, worker_prefetch_multiplier=16,
                    broker_connection_retry_on_startup=True)
    app.set_default()
    app.set_current()
    import eventtracking.tasks  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    assert app.connection_for_write().transport  # imports the Redis transport now, without connecting
    return app


class SeqFile:
    """Appends the ``seq`` of every event it gets to a file, one per line."""

    def __init__(self, path):
        self.handle = open(path, 'a', encoding='ascii')  # pylint: disable=consider-using-with

    def send(self, event):
        self.handle.write(f"{event['data']['seq']}\n")
        self.handle.flush()

    def send_batch(self, events):
        self.handle.write(''.join(f"{event['data']['seq']}\n" for event in events))
        self.handle.flush()


def make_tracker(backends, **options):
    from eventtracking import tracker  # pylint: disable=import-outside-toplevel
    from eventtracking.backends.async_routing import AsyncRoutingBackend  # pylint: disable=import-outside-toplevel

    backend = AsyncRoutingBackend(backend_name=BACKEND, backends=backends, **options)
    instance = tracker.Tracker(backends={BACKEND: backend})
    tracker.register_tracker(instance)
    return instance, backend


def run_worker(args):
    app = celery_app(args.broker)
    make_tracker({'seqs': SeqFile(args.out)})
    app.worker_main(['worker', '--pool=solo', '--loglevel=ERROR', '-Q', QUEUE, '--without-gossip',
                     '--without-mingle', '--without-heartbeat'])


def event_data(number):
    return {'seq': number, 'course_id': 'course-v1:edX+DemoX+Demo', 'user_id': 42, 'page': 'x' * 200}


def options_of(args):
    options = {}
    if args.batch_size:
        options.update(batch_size=args.batch_size, batch_interval=args.batch_interval)
    if args.spool_dir:
        options['spool_dir'] = args.spool_dir
    return options


def finish(backend, limit=60.0):
    """Let this library publish what it holds (its queue, its spool); the original has nothing to finish."""
    if not hasattr(backend, 'flush'):
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        backend.flush(timeout=max(0.1, deadline - time.monotonic()))
        delivery = backend.delivery
        if not delivery['queued'] and not delivery['spooled_pending']:
            return
        time.sleep(0.2)


def timed_emits(tracker, numbers, pause=0.0, started=None, print_each=False):
    durations = []
    first = numbers[0] if len(numbers) else 0
    for number in numbers:
        if started is not None and pause:
            target = started + (number - first) * pause
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        begin = time.perf_counter()
        try:
            tracker.emit('edx.bench.delivery', event_data(number))
        except Exception:  # pylint: disable=broad-except  # the original lets a publish failure through
            pass
        durations.append(time.perf_counter() - begin)
        if print_each:
            print(number, flush=True)
    return durations


def summary(durations):
    ordered = sorted(durations)
    return {
        'n': len(ordered), 'median_us': statistics.median(ordered) * 1e6,
        'p99_us': ordered[int(len(ordered) * 0.99) - 1] * 1e6 if ordered else None, 'max_us': ordered[-1] * 1e6,
        'over_1ms': sum(1 for duration in ordered if duration > 0.001),
    }


def run_emit(args):
    celery_app(args.broker)
    tracker, backend = make_tracker({}, **options_of(args))
    result = {'module': os.path.dirname(sys.modules['eventtracking'].__file__)}
    if args.scenario == 'hung':
        durations = []
        worker = threading.Thread(target=lambda: durations.extend(timed_emits(tracker, range(args.events))),
                                  daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(args.limit)
        result.update(summary(durations) if durations else {'n': 0})
        result['blocked'] = worker.is_alive()
        result['blocked_for_s'] = time.monotonic() - started if worker.is_alive() else None
        print(json.dumps(result), flush=True)
        os._exit(0)  # pylint: disable=protected-access  # a thread may still hang on the broker
    numbers = range(args.first, args.first + args.events)
    if args.scenario == 'killed':
        print(json.dumps({'started': time.time()}), flush=True)
        timed_emits(tracker, numbers, pause=args.duration / max(1, args.events), started=time.monotonic(),
                    print_each=True)
        time.sleep(600)  # killed before this ends
    if args.scenario == 'outage':
        started = time.monotonic()
        print(json.dumps({'started': time.time()}), flush=True)
        durations = timed_emits(tracker, numbers, pause=args.duration / args.events, started=started)
    else:
        result['started'] = time.time()
        durations = timed_emits(tracker, numbers)
        result['emitted'] = time.time()
    finish(backend)
    result['finished'] = time.time()
    result.update(summary(durations) if durations else {'n': 0})
    result['stats'] = getattr(tracker, 'stats', None) if isinstance(getattr(tracker, 'stats', None), dict) else None
    print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('role', choices=['worker', 'emit'])
    parser.add_argument('--broker', required=True)
    parser.add_argument('--out', help='worker: the file of delivered seq numbers')
    parser.add_argument('--scenario', choices=['cost', 'outage', 'hung', 'killed'], default='cost')
    parser.add_argument('--first', type=int, default=0, help='the seq of the first event')
    parser.add_argument('--dedup', action='store_true', help="worker: this library's de-duplication cache")
    parser.add_argument('--events', type=int, default=5000)
    parser.add_argument('--batch-size', type=int, default=0)
    parser.add_argument('--batch-interval', type=float, default=0.2)
    parser.add_argument('--spool-dir')
    parser.add_argument('--duration', type=float, default=6.0, help='outage: seconds over which to emit')
    parser.add_argument('--limit', type=float, default=15.0, help='hung: seconds to wait for the emits')
    args = parser.parse_args()
    configure_django(dedup=args.dedup)
    if args.role == 'worker':
        run_worker(args)
    else:
        run_emit(args)


if __name__ == '__main__':
    main()
