"""Counters of events that were filtered, dropped or failed, by reason.

Every :class:`~eventtracking.backends.routing.RoutingBackend`, every
:class:`~eventtracking.backends.logger.LoggerBackend` and every
:class:`~eventtracking.backends.file.FileBackend` owns an
:class:`EventCounters`. Their ``stats`` property returns a plain ``dict``
snapshot (reason -> count); a routing backend's snapshot includes the counts
of every backend below it, and ``Tracker.stats`` is the root's snapshot.
"""

import threading
from collections import Counter

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


class EventCounters:
    """Thread-safe counts of events by reason; cheap to increment."""

    __slots__ = ('_counts', '_lock', '__weakref__')

    def __init__(self):
        self._counts = Counter()
        self._lock = threading.Lock()
        after_fork_in_child(self, EventCounters._new_lock)

    def increment(self, reason, amount=1):
        """Add ``amount`` to the count for ``reason``."""
        with self._lock:
            self._counts[reason] += amount

    def snapshot(self):
        """Return the counts as a new dict (reason -> count); reasons never seen are absent."""
        with self._lock:
            return dict(self._counts)

    def _new_lock(self):
        """In a child process after ``fork``: another thread may have held the old lock."""
        self._lock = threading.Lock()

    def reset(self):
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    def __getitem__(self, reason):
        with self._lock:
            return self._counts[reason]

    def __repr__(self):
        return f'EventCounters({self.snapshot()!r})'
