"""eventtracking.metrics in one process: every instrument's value exact, with the OpenTelemetry SDK's in-memory
reader and with prometheus_client's default registry; labels are tree paths; RecoveryLog logs once per recovery.

(tests/test_metrics_gunicorn.py checks Prometheus' multiprocess mode across real gunicorn workers.)
"""

import logging
import os
import subprocess
import sys

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import REGISTRY

from eventtracking import metrics
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors.whitelist import NameWhitelistProcessor
from eventtracking.stats import EventCounters, RecoveryLog, label_backend
from eventtracking.tracker import Tracker

LOGGER_NAME = 'tests.metrics'
BIG = 'x' * 400


@pytest.fixture(scope='module')
def otel_reader():
    """The SDK's in-memory reader on the global MeterProvider (which can be set once per process)."""
    reader = InMemoryMetricReader()
    otel_metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


@pytest.fixture(autouse=True)
def metrics_off_afterwards():
    """Every test leaves the export off and no delivery source registered."""
    saved = dict(metrics._sources)  # pylint: disable=protected-access
    yield
    metrics.enable(None)
    metrics._sources.clear()  # pylint: disable=protected-access
    metrics._sources.update(saved)  # pylint: disable=protected-access


@pytest.fixture(autouse=True)
def logger_writes():
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.NullHandler()
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)


class Broken:
    def send(self, event):
        raise RuntimeError('down')


def a_tracker():
    """tracking_logs (oversize over 300 bytes), analytics (lets only 'kept' through) > xapi, broken (always raises)."""
    return Tracker(backends={
        'tracking_logs': LoggerBackend(name=LOGGER_NAME, max_event_size=300),
        'analytics': RoutingBackend(
            processors=[NameWhitelistProcessor(whitelist=['kept'])],
            backends={'xapi': LoggerBackend(name=LOGGER_NAME, max_event_size=300)},
        ),
        'broken': Broken(),
    })


def emit_the_mix(tracker):
    """5 kept, 3 filtered in analytics, 2 oversize (in tracking_logs and analytics.xapi); all 10 fail in broken."""
    for _ in range(5):
        tracker.emit('kept', {'n': 1})
    for _ in range(3):
        tracker.emit('other', {'n': 1})
    for _ in range(2):
        tracker.emit('kept', {'big': BIG})


EXPECTED_DROPS = {
    ('filtered', 'analytics'): 3,
    ('oversize', 'tracking_logs'): 2,
    ('oversize', 'analytics.xapi'): 2,
    ('backend_error', 'broken'): 10,
}


class Delivery:
    """A delivery source as a batching backend provides it (a bound method, held weakly)."""

    def __init__(self, **reading):
        self.reading = reading

    def read(self):
        return dict(self.reading)


# --- labels ---------------------------------------------------------------------------------------------------------


def test_counters_are_labelled_with_their_tree_path_also_when_a_subtree_is_registered_later():
    leaf = LoggerBackend(name=LOGGER_NAME)
    branch = RoutingBackend(backends={'xapi': leaf})
    assert leaf.counters.backend == 'xapi'
    tracker = Tracker(backends={'analytics': branch})
    assert (branch.counters.backend, leaf.counters.backend) == ('analytics', 'analytics.xapi')
    assert tracker.routing_backend.counters.backend == ''
    later = LoggerBackend(name=LOGGER_NAME)
    branch.register_backend('caliper', later)
    assert later.counters.backend == 'analytics.caliper'


def test_a_processor_with_counters_is_labelled_with_its_node():
    class Counting:
        def __init__(self):
            self.counters = EventCounters()

        def __call__(self, event):
            return event

    processor = Counting()
    branch = RoutingBackend(backends={'xapi': LoggerBackend(name=LOGGER_NAME)})
    branch.register_processor(processor)
    Tracker(backends={'analytics': branch})
    assert processor.counters.backend == 'analytics'


def test_labelling_leaves_objects_without_counters_alone():
    class Plain:
        processors = 'not a list'
        backends = None

        def send(self, event):
            pass

    label_backend(Plain(), 'x')  # nothing to label, and no error
    Tracker(backends={'plain': Plain()})


# --- OpenTelemetry --------------------------------------------------------------------------------------------------


def otel_points(reader):
    """{instrument name: {frozenset(attributes): data point}} from one collection."""
    points = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != 'eventtracking':
                continue
            for metric in scope_metrics.metrics:
                named = points.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    named[frozenset(point.attributes.items())] = point
    return points


def otel_value(points, name, **attributes):
    point = points.get(name, {}).get(frozenset(attributes.items()))
    return 0 if point is None else point.value


def test_opentelemetry_every_instrument_exact(otel_reader):
    metrics.enable('opentelemetry')
    before = otel_points(otel_reader)
    tracker = a_tracker()
    emit_the_mix(tracker)
    metrics.published('analytics', 4, 0.25)
    metrics.published('analytics', 6, 0.5)
    source = Delivery(queued=7, spooled_events=30, spooled_bytes=4096, oldest_pending_age=12.5)
    metrics.register_delivery('analytics', source.read)
    after = otel_points(otel_reader)

    def delta(name, **attributes):
        return otel_value(after, name, **attributes) - otel_value(before, name, **attributes)

    assert delta('eventtracking.events.emitted') == 10
    for (reason, backend), count in EXPECTED_DROPS.items():
        assert delta('eventtracking.events.dropped', **{'eventtracking.reason': reason,
                                                        'eventtracking.backend': backend}) == count
    dropped_now = {key: point.value for key, point in after['eventtracking.events.dropped'].items()}
    dropped_before = {key: point.value for key, point in before.get('eventtracking.events.dropped', {}).items()}
    assert sum(dropped_now.values()) - sum(dropped_before.values()) == sum(EXPECTED_DROPS.values())
    assert delta('eventtracking.events.published', **{'eventtracking.backend': 'analytics'}) == 10
    histogram = after['eventtracking.publish.duration'][frozenset({('eventtracking.backend', 'analytics')})]
    old = before.get('eventtracking.publish.duration', {}).get(frozenset({('eventtracking.backend', 'analytics')}))
    assert histogram.count - (old.count if old else 0) == 2
    assert histogram.sum - (old.sum if old else 0) == pytest.approx(0.75)
    assert tuple(histogram.explicit_bounds) == metrics.PUBLISH_BUCKETS  # seconds, not the SDK's default (ms-sized)
    on_analytics = {'eventtracking.backend': 'analytics'}
    assert otel_value(after, 'eventtracking.events.queued', **on_analytics) == 7
    assert otel_value(after, 'eventtracking.spool.pending.events', **on_analytics) == 30
    assert otel_value(after, 'eventtracking.spool.pending.bytes', **on_analytics) == 4096
    assert otel_value(after, 'eventtracking.pending.oldest_age', **on_analytics) == 12.5
    assert tracker.stats['backend_error'] == 10  # the stats are counted as before


OTEL_INSTRUMENTS = {
    'eventtracking.events.emitted': ('{event}', 'Sum', True),
    'eventtracking.events.dropped': ('{event}', 'Sum', True),
    'eventtracking.events.published': ('{event}', 'Sum', True),
    'eventtracking.publish.duration': ('s', 'Histogram', None),
    'eventtracking.events.queued': ('{event}', 'Sum', False),
    'eventtracking.spool.pending.events': ('{event}', 'Sum', False),
    'eventtracking.spool.pending.bytes': ('By', 'Sum', False),
    'eventtracking.pending.oldest_age': ('s', 'Gauge', None),
}


def test_opentelemetry_instruments_names_units_and_kinds(otel_reader):
    metrics.enable('opentelemetry')
    metrics.emitted()
    EventCounters('kinds').increment('filtered')
    metrics.published('kinds', 1, 0.01)
    metrics.register_delivery('kinds', Delivery(queued=1, spooled_events=1, spooled_bytes=1,
                                                oldest_pending_age=1).read)
    found = {}
    for resource_metrics in otel_reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name == 'eventtracking':
                for metric in scope_metrics.metrics:
                    found[metric.name] = (metric.unit, type(metric.data).__name__,
                                          getattr(metric.data, 'is_monotonic', None))
    assert found == OTEL_INSTRUMENTS


def test_opentelemetry_gauges_read_zero_once_their_source_is_gone(otel_reader):
    metrics.enable('opentelemetry')
    source = Delivery(queued=3)
    metrics.register_delivery('gone', source.read)
    assert otel_value(otel_points(otel_reader), 'eventtracking.events.queued', **{'eventtracking.backend': 'gone'}) == 3
    del source
    assert otel_value(otel_points(otel_reader), 'eventtracking.events.queued', **{'eventtracking.backend': 'gone'}) == 0


def test_opentelemetry_a_raising_source_reads_zero_and_the_collection_goes_on(otel_reader):
    metrics.enable('opentelemetry')

    def broken():
        raise OSError('spool unreadable')

    fine = Delivery(spooled_events=2)
    metrics.register_delivery('broken_source', broken)
    metrics.register_delivery('fine', fine.read)
    points = otel_points(otel_reader)
    assert otel_value(points, 'eventtracking.spool.pending.events', **{'eventtracking.backend': 'broken_source'}) == 0
    assert otel_value(points, 'eventtracking.spool.pending.events', **{'eventtracking.backend': 'fine'}) == 2


def test_nothing_is_counted_while_off(otel_reader):
    metrics.enable('opentelemetry')
    before = otel_points(otel_reader)
    metrics.enable(None)
    emit_the_mix(a_tracker())
    metrics.enable('opentelemetry')
    after = otel_points(otel_reader)
    assert otel_value(after, 'eventtracking.events.emitted') == otel_value(before, 'eventtracking.events.emitted')


# --- Prometheus, one process ----------------------------------------------------------------------------------------


def prometheus_value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def test_prometheus_every_metric_exact_in_one_process():
    metrics.enable('prometheus')
    names = [('eventtracking_events_emitted_total', {})] + [
        ('eventtracking_events_dropped_total', {'reason': reason, 'backend': backend})
        for reason, backend in EXPECTED_DROPS
    ] + [('eventtracking_events_published_total', {'backend': 'analytics'}),
         ('eventtracking_publish_duration_seconds_count', {'backend': 'analytics'}),
         ('eventtracking_publish_duration_seconds_sum', {'backend': 'analytics'})]
    before = {(name, tuple(labels.items())): prometheus_value(name, **labels) for name, labels in names}
    emit_the_mix(a_tracker())
    metrics.published('analytics', 4, 0.25)
    metrics.published('analytics', 6, 0.5)
    source = Delivery(queued=7, spooled_events=30, spooled_bytes=4096, oldest_pending_age=12.5)
    metrics.register_delivery('analytics', source.read)

    def delta(name, **labels):
        return prometheus_value(name, **labels) - before[(name, tuple(labels.items()))]

    assert delta('eventtracking_events_emitted_total') == 10
    for (reason, backend), count in EXPECTED_DROPS.items():
        assert delta('eventtracking_events_dropped_total', reason=reason, backend=backend) == count
    assert delta('eventtracking_events_published_total', backend='analytics') == 10
    assert delta('eventtracking_publish_duration_seconds_count', backend='analytics') == 2
    assert delta('eventtracking_publish_duration_seconds_sum', backend='analytics') == pytest.approx(0.75)
    assert prometheus_value('eventtracking_events_queued', backend='analytics') == 7
    assert prometheus_value('eventtracking_spool_pending_events', backend='analytics') == 30
    assert prometheus_value('eventtracking_spool_pending_bytes', backend='analytics') == 4096
    assert prometheus_value('eventtracking_oldest_pending_age_seconds', backend='analytics') == 12.5
    source.reading['queued'] = 2  # read at each scrape
    assert prometheus_value('eventtracking_events_queued', backend='analytics') == 2
    body, content_type = metrics.prometheus_exposition()
    assert content_type.startswith('text/plain')
    assert b'eventtracking_events_dropped_total{backend="analytics",reason="filtered"}' in body


def test_enable_is_idempotent_and_checks_its_kind():
    metrics.enable('prometheus')
    metrics.enable('prometheus')  # the registry takes each name once: the exporter is reused
    assert metrics.enabled() == 'prometheus'
    with pytest.raises(ValueError, match='prometheus'):
        metrics.enable('statsd')
    metrics.enable(None)
    assert metrics.enabled() is None


def test_a_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setattr(metrics, '_exporters', {})
    monkeypatch.setitem(sys.modules, 'opentelemetry', None)
    with pytest.raises(ImportError, match=r"needs .opentelemetry.*\[opentelemetry\]"):
        metrics.enable('opentelemetry')
    assert metrics.enabled() is None


# --- RecoveryLog ----------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_recovery_is_logged_once_when_the_backlog_drains(caplog):
    clock = Clock()
    recovery = RecoveryLog('analytics', clock=clock)
    caplog.set_level(logging.INFO, logger='eventtracking.stats')
    assert recovery.succeeded(100) is False  # no failure before: nothing to say
    recovery.failed()
    clock.now += 12
    recovery.failed()
    clock.now += 8
    assert recovery.succeeded(100, remaining=150) is False
    assert recovery.succeeded(100, remaining=50) is False
    assert recovery.succeeded(50, remaining=0) is True
    assert recovery.succeeded(10) is False
    lines = [record.getMessage() for record in caplog.records if record.name == 'eventtracking.stats']
    assert lines == ["Delivery to backend 'analytics' recovered: 250 event(s) published after 20.0 s of failures "
                     "(2 failed attempt(s))"]
    assert caplog.records[-1].levelno == logging.INFO


def test_a_failure_while_draining_continues_the_same_outage(caplog):
    clock = Clock()
    recovery = RecoveryLog('x', clock=clock)
    caplog.set_level(logging.INFO, logger='eventtracking.stats')
    recovery.failed()
    clock.now += 5
    recovery.succeeded(10, remaining=10)
    recovery.failed()
    assert recovery.recovering
    clock.now += 5
    recovery.succeeded(10)
    recovery.failed()
    clock.now += 1
    recovery.succeeded(3)
    assert [record.getMessage() for record in caplog.records] == [
        "Delivery to backend 'x' recovered: 20 event(s) published after 10.0 s of failures (2 failed attempt(s))",
        "Delivery to backend 'x' recovered: 3 event(s) published after 1.0 s of failures (1 failed attempt(s))",
    ]


# --- counts reach the metrics exactly once ----------------------------------------------------------------------------


def dropped_total(reader, reason, backend):
    return otel_value(otel_points(reader), 'eventtracking.events.dropped',
                      **{'eventtracking.reason': reason, 'eventtracking.backend': backend})


def test_the_last_counts_of_garbage_collected_counters_are_exported(otel_reader):
    metrics.enable('opentelemetry')
    before = dropped_total(otel_reader, 'oversize', 'gone')
    counters = EventCounters('gone')
    counters.increment('oversize', 4)
    del counters
    assert dropped_total(otel_reader, 'oversize', 'gone') - before == 4


def test_counts_are_exported_once_and_reset_counts_are_not_exported_again(otel_reader):
    metrics.enable('opentelemetry')
    counters = EventCounters('once')
    counters.increment('filtered', 2)
    first = dropped_total(otel_reader, 'filtered', 'once')
    assert dropped_total(otel_reader, 'filtered', 'once') == first  # a second collection adds nothing
    counters.reset()
    counters.increment('filtered')
    assert dropped_total(otel_reader, 'filtered', 'once') == first + 1


def test_a_forked_child_exports_its_own_counts_and_the_parent_its_own(otel_reader):
    metrics.enable('opentelemetry')
    counters = EventCounters('forked')
    before = dropped_total(otel_reader, 'filtered', 'forked')
    counters.increment('filtered', 3)  # counted, not exported yet
    metrics.emitted(3)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its exporter starts from zero; the parent's 3 are the parent's
        try:
            counters.increment('filtered', 2)
            metrics.emitted(2)
            points = otel_points(otel_reader)
            found = (otel_value(points, 'eventtracking.events.dropped',
                                **{'eventtracking.reason': 'filtered', 'eventtracking.backend': 'forked'}),
                     otel_value(points, 'eventtracking.events.emitted'))
            os.write(write_end, repr(found).encode())
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert child == '(2, 2)'
    assert dropped_total(otel_reader, 'filtered', 'forked') - before == 3


NO_THREAD_CHILD = '''
import sys, threading, time
started = threading.Thread.start
def refuse(self):
    if self.name.startswith('eventtracking-metrics'):
        raise RuntimeError("can't start new thread")
    started(self)
threading.Thread.start = refuse
from eventtracking import metrics
from eventtracking.backends.logger import LoggerBackend
from eventtracking.tracker import Tracker
metrics.enable('prometheus')  # the thread cannot start: no exception, and the counts still reach the files
tracker = Tracker(backends={'log': LoggerBackend(name='nowhere', max_event_size=10)})
deadline = time.monotonic() + 3 * metrics.FLUSH_INTERVAL
while time.monotonic() < deadline:
    tracker.emit('edx.test.kept', {'big': 'x' * 20})
    time.sleep(0.01)
print(metrics.enabled(), tracker.stats['oversize'], flush=True)
sys.stdin.read()  # alive (no exit flush) while the parent reads the files
'''


def test_when_the_thread_cannot_start_the_counts_still_reach_the_multiprocess_files_each_second(tmp_path):
    from prometheus_client import CollectorRegistry  # pylint: disable=import-outside-toplevel
    from prometheus_client.multiprocess import MultiProcessCollector  # pylint: disable=import-outside-toplevel

    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, '-c', NO_THREAD_CHILD], env=env, stdin=subprocess.PIPE,  # pylint: disable=consider-using-with
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.split()[:1] == ['prometheus'], child.stderr.read() if child.poll() is not None else line
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))
        oversize = int(line.split()[1])
        emitted = registry.get_sample_value('eventtracking_events_emitted_total') or 0
        written = registry.get_sample_value('eventtracking_events_dropped_total',
                                            {'reason': 'oversize', 'backend': 'log'}) or 0
        assert 0 < emitted <= oversize and 0 < written <= oversize  # added while emitting, with no thread
        assert oversize - emitted < oversize / 2  # at most about the last second's emits wait
    finally:
        child.communicate('', timeout=30)
