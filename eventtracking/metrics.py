"""Counts an operator can see from outside the process: Prometheus or OpenTelemetry instruments.

The library reports into this module at a few points (an event emitted, an
event dropped or failed by reason and backend, a batch published, the state of
a backend's delivery); :func:`enable` chooses where those reports go. Until it
is called every report is a no-op that costs one function call.

Every label value is bounded: ``reason`` is a ``stats`` reason and ``backend``
the dotted path of a backend in the configured tree (``''`` for the tracker
itself); never an event name or value.

What is exported (Prometheus name / OpenTelemetry name):

* ``eventtracking_events_emitted_total`` / ``eventtracking.events.emitted``
* ``eventtracking_events_dropped_total{reason,backend}`` / ``eventtracking.events.dropped``
* ``eventtracking_events_published_total{backend}`` / ``eventtracking.events.published``
* ``eventtracking_publish_duration_seconds{backend}`` / ``eventtracking.publish.duration`` (histograms)
* ``eventtracking_events_queued{backend}`` / ``eventtracking.events.queued``
* ``eventtracking_spool_pending_events{backend}`` / ``eventtracking.spool.pending.events``
* ``eventtracking_spool_pending_bytes{backend}`` / ``eventtracking.spool.pending.bytes``
* ``eventtracking_oldest_pending_age_seconds{backend}`` / ``eventtracking.pending.oldest_age``

Each process (each gunicorn or Celery worker) counts its own; Prometheus'
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) or the OpenTelemetry
collector sums them.

An emit only appends to an in-process queue (a ``deque``, well under a
microsecond), and a loss is only counted in its
:class:`~eventtracking.stats.EventCounters`; a thread of this module adds
what was queued and counted since it last looked to the instruments every
:data:`FLUSH_INTERVAL` seconds, and so does every collection in this
process, and the exit. So a scrape that reads another
process's values (Prometheus' multiprocess mode) sees them at most
:data:`FLUSH_INTERVAL` seconds late; a process killed by SIGKILL loses the
counts of its last second.
"""

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from operator import methodcaller

from eventtracking._extras import missing_extra
from eventtracking.forking import after_fork_in_child

LOG = logging.getLogger(__name__)

PROMETHEUS = 'prometheus'
OPENTELEMETRY = 'opentelemetry'
KINDS = (None, PROMETHEUS, OPENTELEMETRY)
"""The values :func:`enable` (and ``EVENT_TRACKING_METRICS``) accept."""

FLUSH_INTERVAL = 1.0
"""Seconds between two additions of the queued counts to the instruments (see the module's docstring)."""

REFRESH_INTERVAL = 5.0
"""Seconds between two readings of the delivery gauges in Prometheus' multiprocess mode (where a scrape
reads every worker's files and cannot ask the workers)."""

PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the publish-latency histogram's buckets."""

GAUGE_KEYS = ('queued', 'spooled_events', 'spooled_bytes', 'oldest_pending_age')
"""The keys of a delivery source's dict (see :func:`register_delivery`)."""

_exporter = None
_emitted_sink = None  # the current exporter's queue of emitted counts: its append, or None when off
_dropped_sink = None  # its queue of (reason, backend, count)
_exporters = {}  # kind -> exporter: a Prometheus registry takes each metric name once per process
_sources = {}  # backend path -> a callable returning the delivery dict (or a weak reference's call)
_enable_lock = threading.Lock()


def enable(kind):
    """Export the library's counts through ``kind``: None (off), ``'prometheus'`` or ``'opentelemetry'``.

    ``'prometheus'`` registers the metrics in ``prometheus_client``'s default
    registry (the one ``django-prometheus`` and ``prometheus_client``'s own
    exposition serve); with ``PROMETHEUS_MULTIPROC_DIR`` set before
    ``prometheus_client`` is first imported, each process writes its values
    there for a scrape to sum. ``'opentelemetry'`` creates instruments on the
    meter ``'eventtracking'`` of the global ``MeterProvider`` the
    application configures. Calling it again with the same kind is harmless.
    ``ValueError`` for another kind; ``ImportError`` naming the extra when its
    library is not installed.
    """
    global _exporter, _emitted_sink, _dropped_sink  # pylint: disable=global-statement
    if kind not in KINDS:
        raise ValueError(f'metrics kind must be one of {KINDS!r}, not {kind!r}')
    with _enable_lock:
        previous = _exporter
        exporter = None
        if kind is not None:
            exporter = _exporters.get(kind)
            if exporter is None:
                exporter = _exporters[kind] = (_Prometheus if kind == PROMETHEUS else _OpenTelemetry)()
        if exporter is previous:
            return
        if previous is not None:
            previous.flush()  # what was counted until now goes to it
        else:
            from eventtracking import stats  # pylint: disable=import-outside-toplevel  # stats imports this module
            stats.mark_all_exported()  # what was counted while off is not exported
        if exporter is None:
            _exporter = _emitted_sink = _dropped_sink = None
            return
        _exporter = exporter
        _emitted_sink, _dropped_sink = exporter.emits.append, exporter.drops.append
        exporter.started()


def enabled():
    """The kind given to the last :func:`enable` (None when off)."""
    exporter = _exporter
    return None if exporter is None else exporter.kind


def emitted(count=1):
    """Report ``count`` events handed to a tracker's routing."""
    sink = _emitted_sink
    if sink is not None:
        sink(count)


def dropped(reason, backend, count=1):
    """Report ``count`` events dropped or failed for ``reason`` (a ``stats`` reason) in ``backend`` (a tree path)."""
    sink = _dropped_sink
    if sink is not None:
        sink((reason, backend, count))


def flush():
    """Add the counts queued in this process to the instruments now (also done every :data:`FLUSH_INTERVAL`)."""
    exporter = _exporter
    if exporter is not None:
        exporter.flush()


def published(backend, count, seconds):
    """Report a batch of ``count`` events handed to ``backend``'s broker in ``seconds``."""
    exporter = _exporter
    if exporter is not None:
        exporter.published(backend, count, seconds)


def register_delivery(backend, source):
    """Let the pending-delivery gauges of ``backend`` read ``source()`` when scraped.

    ``source`` returns a dict with ``queued`` (events waiting in memory),
    ``spooled_events`` and ``spooled_bytes`` (pending in the spool) and
    ``oldest_pending_age`` (seconds, or None when nothing waits). A bound
    method is held weakly: once its object is gone, the backend's gauges read 0.
    Registering the same ``backend`` again replaces its source.
    """
    try:
        reference = weakref.WeakMethod(source)
    except TypeError:
        _sources[backend] = source
    else:
        _sources[backend] = reference
    exporter = _exporter
    if exporter is not None:
        exporter.delivery_registered(backend)


def delivery_readings():
    """``{backend path: the dict its source returns}`` for every registered delivery, read now.

    A source that is gone, raises or returns something else than a dict reads
    as all zeros (logged once per backend at DEBUG).
    """
    readings = {}
    for backend, source in list(_sources.items()):
        readings[backend] = _read(backend, source)
    return readings


def _read(backend, source):
    if isinstance(source, weakref.WeakMethod):
        source = source()
    reading = None
    if source is not None:
        try:
            reading = source()
        except Exception:  # pylint: disable=broad-except  # a scrape must not fail for one backend
            LOG.debug('The delivery source of backend %r raised', backend, exc_info=True)
    if not isinstance(reading, dict):
        reading = {}
    return {key: reading.get(key) or 0 for key in GAUGE_KEYS}


def refresh():
    """Flush, and read every delivery source now and set the gauges (the Prometheus view calls it before a scrape)."""
    exporter = _exporter
    if exporter is not None:
        exporter.flush()
        exporter.refresh()


def prometheus_exposition(accept=None):
    """``(body, content_type)``: every metric of ``prometheus_client``'s registry, summed over processes.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) the values of every
    process that wrote there; otherwise this process's default registry.
    ``accept`` is the request's ``Accept`` header (OpenMetrics when it asks).
    """
    try:
        # pylint: disable=import-outside-toplevel
        from prometheus_client import REGISTRY, CollectorRegistry
        from prometheus_client.exposition import choose_encoder
        from prometheus_client.multiprocess import MultiProcessCollector
    except ImportError as exc:
        raise missing_extra('prometheus', __name__, exc) from exc
    refresh()
    if multiprocess_directory():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    encoder, content_type = choose_encoder(accept or '')
    return encoder(registry), content_type


def multiprocess_directory():
    """The ``PROMETHEUS_MULTIPROC_DIR`` of this process (None when unset or empty)."""
    return os.environ.get('PROMETHEUS_MULTIPROC_DIR') or os.environ.get('prometheus_multiproc_dir') or None


def _path_of(backend):
    return backend if isinstance(backend, str) else str(backend)


class _Exporter:
    """What both exporters share: the queues an emit appends to, and the thread that empties them."""

    kind = None

    def __init__(self):
        self.emits = deque()
        self.drops = deque()
        self._flush_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._thread = None
        self._inline = False  # the thread could not start: emits take its turns
        self._inline_lock = threading.Lock()
        self._next_inline_turn = 0.0
        self._inline_turns = 0
        after_fork_in_child(self, methodcaller('_after_fork'))

    def started(self):
        """Made the current exporter: start the thread that flushes (and refreshes the gauges).

        If the thread cannot start (no thread left to the process, interpreter
        shutdown), the emits themselves take its turns, once a second, and try
        to start it again: counts neither pile up nor wait for the exit.
        """
        global _emitted_sink  # pylint: disable=global-statement
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=_flush_loop, args=(weakref.ref(self),),
                                                name=f'eventtracking-metrics-{self.kind}', daemon=True)
                try:
                    self._thread.start()
                except RuntimeError as exc:
                    self._thread = None
                    if not self._inline:
                        LOG.warning('Could not start the metrics thread (%s): the %s metrics are updated by the '
                                    'emits, once a second', exc, self.kind)
                    self._inline = True
                else:
                    self._inline = False
            if _exporter is self:
                _emitted_sink = self._emit_inline if self._inline else self.emits.append

    def _emit_inline(self, count):
        """An emit's report while the thread cannot run: queued, and every :data:`FLUSH_INTERVAL` a turn here."""
        self.emits.append(count)
        now = time.monotonic()
        if now < self._next_inline_turn or not self._inline_lock.acquire(blocking=False):
            return
        try:
            self._next_inline_turn = now + FLUSH_INTERVAL
            self._inline_turns += 1
            self.tick(self._inline_turns)
            self.started()
        except Exception:  # pylint: disable=broad-except  # never into the emitting code
            LOG.exception('A metrics turn failed')
        finally:
            self._inline_lock.release()

    def flush(self):
        """Take every count not exported yet and every queued one, and hand the sums to :meth:`add`."""
        if _exporter is self:
            from eventtracking import stats  # pylint: disable=import-outside-toplevel  # stats imports this module
            stats.export_all()
        with self._flush_lock:
            emitted = 0
            emits = self.emits
            while emits:
                try:
                    emitted += emits.popleft()
                except IndexError:
                    break
            drops = {}
            queued = self.drops
            while queued:
                try:
                    reason, backend, count = queued.popleft()
                except IndexError:
                    break
                key = (reason, _path_of(backend))
                drops[key] = drops.get(key, 0) + count
            if emitted or drops:
                try:
                    self.add(emitted, drops)
                except Exception:  # pylint: disable=broad-except  # a full disk under the multiprocess files
                    LOG.warning('Could not add %d emitted and %d dropped event(s) to the %s metrics', emitted,
                                sum(drops.values()), self.kind, exc_info=True)

    def add(self, emitted, drops):
        """Add ``emitted`` events and ``drops`` (``{(reason, backend): count}``) to the instruments."""
        raise NotImplementedError

    def delivery_registered(self, backend):
        """A delivery source was registered for ``backend``."""

    def refresh(self):
        """Set the delivery gauges from their sources (where a collection cannot read them itself)."""

    def tick(self, number):
        """One turn of the thread (``number`` counts them): flush."""
        del number
        self.flush()

    def _after_fork(self):
        """In a child: the queues hold the parent's counts (the parent adds them), and the thread is gone."""
        self.emits.clear()
        self.drops.clear()
        self._flush_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._inline_lock = threading.Lock()
        self._thread = None
        if _exporter is self:
            self.started()  # it waits before its first turn: every object has mended itself by then


def _flush_loop(ref):
    """The thread of an exporter (held weakly): a turn every :data:`FLUSH_INTERVAL` seconds while it is current."""
    pause = threading.Event()
    number = 0
    while True:
        pause.wait(FLUSH_INTERVAL)
        exporter = ref()
        if exporter is None or exporter._thread is not threading.current_thread():  # pylint: disable=protected-access
            return
        number += 1
        try:
            exporter.tick(number)
        except Exception:  # pylint: disable=broad-except
            LOG.exception('The metrics thread failed a turn')
        del exporter


@atexit.register
def _flush_at_exit():
    exporter = _exporter
    if exporter is not None:
        exporter.flush()
        exporter.refresh()


class _Prometheus(_Exporter):
    """Reports into ``prometheus_client`` metrics of the default registry."""

    kind = PROMETHEUS

    def __init__(self):
        try:
            import prometheus_client  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise missing_extra('prometheus', __name__, exc) from exc
        super().__init__()
        self._multiprocess = bool(multiprocess_directory())
        if not self._multiprocess:  # a collection of the registry first adds what is queued
            prometheus_client.REGISTRY.register(_FlushFirst(self))
        counter, gauge, histogram = prometheus_client.Counter, prometheus_client.Gauge, prometheus_client.Histogram
        self._emitted = counter('eventtracking_events_emitted', "Events handed to a tracker's routing")
        self._dropped = counter('eventtracking_events_dropped',
                                'Events dropped, failed or delayed, by stats reason and backend path',
                                ['reason', 'backend'])
        self._published = counter('eventtracking_events_published', "Events handed to a backend's broker",
                                  ['backend'])
        self._duration = histogram('eventtracking_publish_duration_seconds',
                                   "Seconds one publish to a backend's broker took", ['backend'],
                                   buckets=PUBLISH_BUCKETS)
        self._gauges = {
            'queued': gauge('eventtracking_events_queued', 'Events waiting in memory to be published',
                            ['backend'], multiprocess_mode='livesum'),
            'spooled_events': gauge('eventtracking_spool_pending_events', 'Events waiting in the spool',
                                    ['backend'], multiprocess_mode='livesum'),
            'spooled_bytes': gauge('eventtracking_spool_pending_bytes', 'Bytes of spool files waiting',
                                   ['backend'], multiprocess_mode='livesum'),
            'oldest_pending_age': gauge('eventtracking_oldest_pending_age_seconds',
                                        'Age of the oldest event waiting to be published',
                                        ['backend'], multiprocess_mode='livemax'),
        }

    def started(self):
        super().started()
        for backend in list(_sources):
            self.delivery_registered(backend)

    def add(self, emitted, drops):
        if emitted:
            self._emitted.inc(emitted)
        for (reason, backend), count in drops.items():
            self._dropped.labels(reason, backend).inc(count)

    def published(self, backend, count, seconds):
        try:
            backend = _path_of(backend)
            self._published.labels(backend).inc(count)
            self._duration.labels(backend).observe(seconds)
        except Exception:  # pylint: disable=broad-except
            LOG.debug('Could not count published events', exc_info=True)

    def delivery_registered(self, backend):
        backend = _path_of(backend)
        if self._multiprocess:
            self.refresh()
            return
        for key, gauge in self._gauges.items():
            gauge.labels(backend).set_function(_reader(backend, key))

    def refresh(self):
        if not self._multiprocess:
            return  # the gauges read their sources when collected
        for backend, reading in delivery_readings().items():
            for key, gauge in self._gauges.items():
                try:
                    gauge.labels(_path_of(backend)).set(reading[key])
                except Exception:  # pylint: disable=broad-except
                    LOG.debug('Could not set a delivery gauge', exc_info=True)

    def tick(self, number):
        self.flush()
        if _sources and number % max(1, round(REFRESH_INTERVAL / FLUSH_INTERVAL)) == 0:
            self.refresh()


class _FlushFirst:
    """A collector of no metric, registered before the library's: a collection of the registry flushes first."""

    def __init__(self, exporter):
        self._exporter = weakref.ref(exporter)

    def describe(self):
        return []

    def collect(self):
        exporter = self._exporter()
        if exporter is not None and _exporter is exporter:
            exporter.flush()
        return []


def _reader(backend, key):
    """A gauge function: ``key`` of ``backend``'s delivery reading (0 when it has none)."""

    def read():
        source = _sources.get(backend)
        return 0 if source is None else _read(backend, source)[key]

    return read


class _OpenTelemetry(_Exporter):
    """Reports into instruments of the OpenTelemetry meter ``'eventtracking'``.

    Counts are added up in this process and handed to the SDK by observable
    counters when its reader collects: an emit never calls into the SDK.
    """

    kind = OPENTELEMETRY

    def __init__(self):
        try:
            from opentelemetry import metrics as otel  # pylint: disable=import-outside-toplevel
            from opentelemetry.metrics import Observation  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise missing_extra('opentelemetry', __name__, exc) from exc
        super().__init__()
        from eventtracking import __version__  # pylint: disable=import-outside-toplevel
        self._observation = Observation
        self._lock = threading.Lock()
        self._emitted_total = 0
        self._dropped_totals = {}
        self._published_totals = {}
        meter = otel.get_meter('eventtracking', __version__)
        meter.create_observable_counter('eventtracking.events.emitted', [self._observe_emitted], unit='{event}',
                                        description="Events handed to a tracker's routing")
        meter.create_observable_counter('eventtracking.events.dropped', [self._observe_dropped], unit='{event}',
                                        description='Events dropped, failed or delayed, by stats reason and backend')
        meter.create_observable_counter('eventtracking.events.published', [self._observe_published],
                                        unit='{event}', description="Events handed to a backend's broker")
        duration = {'name': 'eventtracking.publish.duration', 'unit': 's',
                    'description': "Seconds one publish to a backend's broker took"}
        try:  # the SDK's default buckets are sized for milliseconds; the advisory is in opentelemetry-api 1.30+
            self._duration = meter.create_histogram(**duration, explicit_bucket_boundaries_advisory=PUBLISH_BUCKETS)
        except TypeError:
            self._duration = meter.create_histogram(**duration)
        for key, name, unit, description in (
                ('queued', 'eventtracking.events.queued', '{event}', 'Events waiting in memory to be published'),
                ('spooled_events', 'eventtracking.spool.pending.events', '{event}', 'Events waiting in the spool'),
                ('spooled_bytes', 'eventtracking.spool.pending.bytes', 'By', 'Bytes of spool files waiting')):
            meter.create_observable_up_down_counter(name, [self._gauge_callback(key)], unit=unit,
                                                    description=description)
        meter.create_observable_gauge('eventtracking.pending.oldest_age', [self._gauge_callback('oldest_pending_age')],
                                      unit='s', description='Age of the oldest event waiting to be published')

    def add(self, emitted, drops):
        with self._lock:
            self._emitted_total += emitted
            for key, count in drops.items():
                self._dropped_totals[key] = self._dropped_totals.get(key, 0) + count

    def published(self, backend, count, seconds):
        backend = _path_of(backend)
        with self._lock:
            self._published_totals[backend] = self._published_totals.get(backend, 0) + count
        try:
            self._duration.record(seconds, {'eventtracking.backend': backend})
        except Exception:  # pylint: disable=broad-except
            LOG.debug('Could not record a publish duration', exc_info=True)

    def _observe_emitted(self, options):  # pylint: disable=unused-argument
        if _exporter is self:
            self.flush()
        with self._lock:
            total = self._emitted_total
        return [self._observation(total)]

    def _observe_dropped(self, options):  # pylint: disable=unused-argument
        if _exporter is self:
            self.flush()
        with self._lock:
            totals = list(self._dropped_totals.items())
        return [self._observation(count, {'eventtracking.reason': reason, 'eventtracking.backend': backend})
                for (reason, backend), count in totals]

    def _observe_published(self, options):  # pylint: disable=unused-argument
        with self._lock:
            totals = list(self._published_totals.items())
        return [self._observation(count, {'eventtracking.backend': backend}) for backend, count in totals]

    def _gauge_callback(self, key):
        def observe(options):  # pylint: disable=unused-argument
            return [self._observation(reading[key], {'eventtracking.backend': _path_of(backend)})
                    for backend, reading in delivery_readings().items()]
        return observe

    def _after_fork(self):
        """A forked child counts its own events from zero (its SDK exports them as another process's)."""
        super()._after_fork()
        self._lock = threading.Lock()
        self._emitted_total = 0
        self._dropped_totals = {}
        self._published_totals = {}
