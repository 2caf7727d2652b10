"""The tracker: builds events from a name, data and the entered contexts, and routes them.

Typical use goes through the module-level functions, which act on the default
tracker::

    from eventtracking import tracker
    tracker.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo'})

An event is a dict::

    {'name': ..., 'timestamp': <aware UTC datetime>, 'data': {...}, 'context': {...}}
"""

import logging
from contextlib import contextmanager
from datetime import datetime, timezone

from eventtracking import metrics, on_commit
from eventtracking.backends.routing import RoutingBackend
from eventtracking.events import safe_name
from eventtracking.locator import DefaultContextLocator
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import EMIT_ERROR, NO_TRACKER, EventCounters, merge_stats

UTC = timezone.utc
UNKNOWN_EVENT_TYPE = 'unknown'
DEFAULT_TRACKER_NAME = 'default'
TRACKERS = {}

UNROUTED = EventCounters()
"""Counts events given to the module-level :func:`emit` while no default tracker was registered."""

LOG = logging.getLogger(__name__)
FAILURE_LOG = RateLimitedLog(LOG)


class Tracker:
    """Annotates events with the entered contexts and the time, and routes them to backends.

    ``backends`` (a mapping of name to backend) and ``processors`` (a list of
    callables) make up the root :class:`~eventtracking.backends.routing.RoutingBackend`.
    ``context_locator`` decides where the context stack lives (one per
    process, per thread, or per asyncio task: see :mod:`eventtracking.locator`).
    """

    def __init__(self, backends=None, context_locator=None, processors=None):
        self.routing_backend = RoutingBackend(backends=backends, processors=processors)
        self.context_locator = context_locator or DefaultContextLocator()
        self.counters = EventCounters()

    @property
    def located_context(self):
        """The context stack (name -> context dict) that applies where this is called."""
        return self.context_locator.get()

    def get_backend(self, name):
        """Return the top-level backend registered as ``name`` (``KeyError`` if none)."""
        return self.backends[name]

    @property
    def processors(self):
        """The top-level processors, in the order they run."""
        return self.routing_backend.processors

    @property
    def backends(self):
        """The top-level backends (name -> backend), in the order they are sent to."""
        return self.routing_backend.backends

    @property
    def stats(self):
        """Counts by reason of every event filtered, dropped or failed anywhere in this tracker's tree."""
        without_stack = {EMIT_ERROR: self._emit_errors_without_stack} if self._emit_errors_without_stack else {}
        return merge_stats(self.counters.snapshot(), without_stack, self.routing_backend.stats)

    _emit_errors_without_stack = 0  # emit_error events that could not be counted in self.counters: see emit

    def emit(self, name=None, data=None):
        """Build an event stamped with the current UTC time and the entered contexts, and route it.

        ``data`` is the event's payload, a dict of JSON-serializable values. Never
        raises: failures anywhere in the tree are logged and counted in :attr:`stats`.
        """
        try:
            event = self.build_event(name, data)
            metrics.emitted()
            self.routing_backend.send(event)
        except Exception:  # pylint: disable=broad-except
            # RecursionError too: emit may be called with the stack nearly exhausted (from deep recursion), where
            # any call can raise it, logging's own and even a comparison included. The caller must not get it, and
            # the event is counted once: if increment() cannot run, in an attribute, which needs no call.
            try:
                self.counters.increment(EMIT_ERROR)
            except RecursionError:
                self._emit_errors_without_stack += 1
            try:
                FAILURE_LOG.exception(EMIT_ERROR, 'Failed to emit event %s', safe_name(name))
            except RecursionError:
                pass  # no stack left to log with; the event is counted

    def build_event(self, name=None, data=None):
        """Return the event :meth:`emit` would route now, without routing it: name, UTC time, data, context."""
        return {
            'name': name or UNKNOWN_EVENT_TYPE,
            'timestamp': datetime.now(UTC),
            'data': data or {},
            'context': self.resolve_context(),
        }

    def emit_on_commit(self, name=None, data=None, using=None):
        """Build the event now and route it once the database transaction around the call commits.

        Inside a Django atomic block on the connection ``using`` (the default
        one when None), the event (timestamp and context taken now) is routed
        after the outermost block commits, and never if the block it was
        emitted in rolls back (a savepoint's rollback discards it too): it is
        then counted ``rolled_back`` in :attr:`stats` and logged. Outside any
        atomic block, or without Django, it is routed at once, as by
        :meth:`emit`. Never raises. See :mod:`eventtracking.on_commit`.
        """
        on_commit.emit_on_commit(self, name, data, using)

    def resolve_context(self):
        """Return a new dict: the union of every entered context, later ones winning on shared keys."""
        merged = {}
        for context in self.context_locator.get().values():
            merged.update(context)
        return merged

    def enter_context(self, name, ctx):
        """Add ``ctx`` under ``name`` to the context of every event emitted until it is exited."""
        self.located_context[name] = ctx

    def exit_context(self, name):
        """Remove the context entered as ``name`` (``KeyError`` if it was not entered)."""
        del self.located_context[name]

    @contextmanager
    def context(self, name, ctx):
        """Enter ``ctx`` as ``name`` for the ``with`` block; it is exited even if the block raises."""
        self.enter_context(name, ctx)
        try:
            yield
        finally:
            self.exit_context(name)


def register_tracker(tracker, name=DEFAULT_TRACKER_NAME):
    """Make ``tracker`` reachable as ``get_tracker(name)``; the default name makes it the default tracker."""
    TRACKERS[name] = tracker


def get_tracker(name=DEFAULT_TRACKER_NAME):
    """Return the tracker registered as ``name`` (``KeyError`` if none is)."""
    return TRACKERS[name]


def emit(name=None, data=None):
    """Emit an event through the default tracker (see :meth:`Tracker.emit`).

    With no default tracker registered the event is dropped, logged at WARNING
    and counted in :data:`UNROUTED` (the original library raised ``KeyError``).
    """
    try:
        default = TRACKERS[DEFAULT_TRACKER_NAME]
    except KeyError:
        UNROUTED.increment(NO_TRACKER)
        FAILURE_LOG.warning(NO_TRACKER, 'Dropped event %s: no default tracker is registered', safe_name(name))
        return
    default.emit(name, data)


def emit_on_commit(name=None, data=None, using=None):
    """Emit an event through the default tracker once the transaction commits (see :meth:`Tracker.emit_on_commit`).

    With no default tracker registered the event is dropped, logged and
    counted in :data:`UNROUTED`, as by :func:`emit`.
    """
    default = TRACKERS.get(DEFAULT_TRACKER_NAME)
    if default is None:
        emit(name, data)  # drops, counts and logs it
        return
    default.emit_on_commit(name, data, using)
