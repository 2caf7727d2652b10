"""Counters of events that were filtered, dropped or failed, by reason.

Every :class:`~eventtracking.backends.routing.RoutingBackend`, every
:class:`~eventtracking.backends.logger.LoggerBackend` and every
:class:`~eventtracking.backends.file.FileBackend` owns an
:class:`EventCounters`. Their ``stats`` property returns a plain ``dict``
snapshot (reason -> count); a routing backend's snapshot includes the counts
of every backend below it, and ``Tracker.stats`` is the root's snapshot.

The counts are exported by :mod:`eventtracking.metrics` (when turned on) with
the counters' ``backend``: the dotted path of the backend in the tree, which
a routing backend sets (:func:`label_backend`) when a backend is registered
in it.
"""

import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Mapping

from eventtracking import metrics
from eventtracking.forking import after_fork_in_child

FILTERED = 'filtered'
"""A processor raised ``EventEmissionExit``: dropped on purpose, not logged."""

SKIPPED = 'skipped'
"""A backend raised ``NoTransformerImplemented`` or ``NoBackendEnabled``: logged at INFO."""

PROCESSOR_ERROR = 'processor_error'
"""A processor raised: logged at ERROR, the event went on unchanged by it."""

BACKEND_ERROR = 'backend_error'
"""A backend raised: logged at ERROR, the event is lost for that backend."""

UNCOPYABLE = 'uncopyable'
"""The event could not be copied to isolate a branch: lost for that branch."""

OVERSIZE = 'oversize'
"""The serialized event was longer than the backend's ``max_event_size``."""

EMIT_ERROR = 'emit_error'
"""The tracker itself failed to build the event (a broken context locator, say)."""

NO_TRACKER = 'no_tracker'
"""``eventtracking.tracker.emit`` was called while no default tracker was registered."""

PUBLISH_ERROR = 'publish_error'
"""A backend could not hand the event to its broker (Celery's, say): logged at ERROR, the event is lost."""

BACKED_OFF = 'backed_off'
"""A backend skipped the event because its server was unreachable moments ago: logged at WARNING."""

UNAVAILABLE = 'unavailable'
"""A backend's client library is not installed: warned about once at construction, counted per event."""

QUEUE_FULL = 'queue_full'
"""A batching ``AsyncRoutingBackend``'s queue held ``max_queue_size`` events: the new one was dropped."""

SPOOLED = 'spooled'
"""An ``AsyncRoutingBackend`` could not publish its events yet: they wait in its spool, delayed, not lost."""

SPOOL_FULL = 'spool_full'
"""An ``AsyncRoutingBackend``'s spool was over ``spool_max_bytes``, or the disk refused the event: dropped."""

SPOOL_CORRUPT = 'spool_corrupt'
"""A spool record could not be read back as an event: moved aside to a ``.quarantined`` file, not published."""

DUPLICATE = 'duplicate'
"""A Celery worker skipped a batch whose id its de-duplication cache had seen: delivered once already."""

UNREGISTERED = 'unregistered'
"""``EventTypeValidator`` saw an event whose name no registered event type has."""

INVALID = 'invalid'
"""``EventTypeValidator`` saw an event whose data fails its registered type's schema."""

CONTEXT_TOO_LARGE = 'context_too_large'
"""A Celery task's context stack was over ``EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES``: not sent with it."""

ROLLED_BACK = 'rolled_back'
"""An event emitted with ``emit_on_commit`` was discarded because its transaction rolled back."""

WRITE_ERROR = 'write_error'
"""A ``FileBackend`` could not write the event's line (disk full, file not writable)."""

DISABLED = 'disabled'
"""A ``LoggerBackend``'s logger does not write at the backend's level, so the line would go nowhere."""

NOT_ALLOWED = 'not_allowed'
"""A browser posted an event whose name is not accepted from web pages (``eventtracking.django.browser``)."""

MALFORMED = 'malformed'
"""A browser posted a request or an event that could not be read (not JSON, a missing name, data not an object).

A browser request or event over its size or count limit is counted as :data:`OVERSIZE`.
"""

RATE_LIMITED = 'rate_limited'
"""A browser session (or address) posted more events than ``EVENT_TRACKING_BROWSER_RATE`` allows."""

CONTEXT_INVALID = 'context_invalid'
"""A Celery task's context header was malformed, too large, too deep or named a context twice: the task ran
without it."""

COMMIT_HOOK_FAILED = 'commit_hook_failed'
"""An event emitted with ``emit_on_commit`` whose transaction committed was never routed: an earlier
``on_commit`` callback of the application (not registered ``robust``) raised, and Django dropped the callbacks
after it."""


def merge_stats(*snapshots):
    """Sum several ``stats`` snapshots into one dict."""
    total = Counter()
    for snapshot in snapshots:
        total.update(snapshot)
    return dict(total)


def join_path(parent, name):
    """The tree path of backend ``name`` below the backend at path ``parent`` (``''`` is the root)."""
    return f'{parent}.{name}' if parent else str(name)


class EventCounters:
    """Thread-safe counts of events by reason; cheap to increment.

    ``backend`` is the path, in the tree, of the backend these counters belong
    to (``''``: the tracker, or not in a tree); it labels the counts
    :mod:`eventtracking.metrics` exports. The metrics take what was counted
    since they last looked (:func:`export_all`, each second), so an increment
    does no more work with metrics on than off; what is counted while they
    are off is never exported.
    """

    __slots__ = ('_counts', '_exported', '_lock', '_label', '__weakref__')

    def __init__(self, backend=''):
        self._counts = Counter()
        self._exported = Counter()  # how much of each count the metrics have
        self._lock = threading.Lock()
        self._label = [backend]
        with _REGISTRY_LOCK:
            _ALL_COUNTERS.add(self)
        finalizer = weakref.finalize(self, _export_rest, self._counts, self._exported, self._label)
        finalizer.atexit = False
        after_fork_in_child(self, EventCounters._after_fork)

    @property
    def backend(self):
        """The tree path that labels these counts in the metrics."""
        return self._label[0]

    @backend.setter
    def backend(self, path):
        self._label[0] = path

    def increment(self, reason, amount=1, child=None):
        """Add ``amount`` to the count for ``reason``.

        ``child`` names the backend below this one where the event was lost
        (a routing backend counts its backends' failures): the metrics then
        label it with that backend's path.
        """
        with self._lock:
            self._counts[reason] += amount
            if child is None:
                return
            self._exported[reason] += amount  # reported now, under the child's path
        metrics.dropped(reason, join_path(self._label[0], child), amount)

    def snapshot(self):
        """Return the counts as a new dict (reason -> count); reasons never seen are absent."""
        with self._lock:
            return dict(self._counts)

    def export(self):
        """Report to :func:`eventtracking.metrics.dropped` what was counted since the last export."""
        with self._lock:
            new = _unexported(self._counts, self._exported)
        for reason, count in new.items():
            metrics.dropped(reason, self._label[0], count)

    def mark_exported(self):
        """Let the metrics skip what is counted so far (when they are turned on)."""
        with self._lock:
            _unexported(self._counts, self._exported)

    def _after_fork(self):
        """In a child process after ``fork``: a new lock (another thread may have held the old one), and the
        parent's counts are the parent's to export."""
        self._lock = threading.Lock()
        _unexported(self._counts, self._exported)

    def reset(self):
        """Forget every count."""
        with self._lock:
            self._counts.clear()
            self._exported.clear()

    def __getitem__(self, reason):
        with self._lock:
            return self._counts[reason]

    def __repr__(self):
        return f'EventCounters({self.snapshot()!r})'


_ALL_COUNTERS = weakref.WeakSet()
_REGISTRY_LOCK = threading.Lock()


def _unexported(counts, exported):
    """What ``counts`` has beyond ``exported`` (reason -> count); ``exported`` then equals ``counts``."""
    new = {}
    for reason, count in counts.items():
        added = count - exported.get(reason, 0)
        if added > 0:
            new[reason] = added
            exported[reason] = count
    return new


def _export_rest(counts, exported, label):
    """An :class:`EventCounters` was garbage-collected: its last counts still reach the metrics."""
    for reason, count in _unexported(counts, exported).items():
        metrics.dropped(reason, label[0], count)


def _all_counters():
    with _REGISTRY_LOCK:
        return list(_ALL_COUNTERS)


def export_all():
    """Report every count not reported yet to :func:`eventtracking.metrics.dropped` (the metrics' flush)."""
    for counters in _all_counters():
        counters.export()


def mark_all_exported():
    """Let the metrics skip every count so far (called when they are turned on)."""
    for counters in _all_counters():
        counters.mark_exported()


def _new_registry_lock():
    global _REGISTRY_LOCK  # pylint: disable=global-statement
    _REGISTRY_LOCK = threading.Lock()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_new_registry_lock)


def label_backend(backend, path, _depth=0):
    """Set ``backend``'s counters', its processors' and every backend's below it to their tree paths.

    ``path`` is ``backend``'s own path. Objects without an
    :class:`EventCounters` ``counters`` attribute are left alone.
    """
    if _depth > 50:  # a tree that contains itself
        return
    _label(backend, path)
    processors = getattr(backend, 'processors', None)
    if isinstance(processors, (list, tuple)):
        for processor in processors:
            _label(processor, path)
    children = getattr(backend, 'backends', None)
    if isinstance(children, Mapping):
        for name, child in list(children.items()):
            label_backend(child, join_path(path, name), _depth + 1)


def _label(owner, path):
    counters = getattr(owner, 'counters', None)
    if isinstance(counters, EventCounters):
        counters.backend = path


class RecoveryLog:
    """One INFO line when a backend's delivery works again after failures: how many events, after how long.

    The delivery code calls :meth:`failed` for every failed attempt (to
    publish, or to replay the spool) and :meth:`succeeded` with the events of
    every successful one and what still waits. After failures, the successes
    add up until nothing waits; then one line is logged, never one per event
    or batch. ``clock`` returns seconds (monotonic).
    """

    def __init__(self, backend, logger=None, clock=time.monotonic):
        self.backend = backend
        self.logger = logger or logging.getLogger(__name__)
        self.clock = clock
        self._lock = threading.Lock()
        self._reset()
        after_fork_in_child(self, RecoveryLog._after_fork)

    def _reset(self):
        self._failing_since = None
        self._failures = 0
        self._delivered = 0

    @property
    def recovering(self):
        """Whether attempts failed since the last recovery line (or since the start)."""
        return self._failing_since is not None

    def failed(self):
        """Note a failed attempt (the first one starts the outage)."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = self.clock()
            self._failures += 1

    def succeeded(self, count, remaining=0):
        """Note that ``count`` events were delivered and ``remaining`` still wait (in memory or spooled).

        After failures, logs the recovery once nothing waits, with the events
        delivered since the first success and the seconds since the first
        failure. Returns True when it logged.
        """
        with self._lock:
            if self._failing_since is None:
                return False
            self._delivered += count
            if remaining:
                return False
            seconds = self.clock() - self._failing_since
            delivered, failures = self._delivered, self._failures
            self._reset()
        self.logger.info('Delivery to backend %r recovered: %d event(s) published after %.1f s of failures '
                         '(%d failed attempt(s))', self.backend, delivered, seconds, failures)
        return True

    def _after_fork(self):
        self._lock = threading.Lock()
        self._reset()
