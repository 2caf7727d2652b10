"""The tracker: builds events from a name, data and the entered contexts, and routes them.

Typical use goes through the module-level functions, which act on the default
tracker::

    from eventtracking import tracker
    tracker.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo'})

An event is a dict::

    {'name': ..., 'timestamp': <aware UTC datetime>, 'data': {...}, 'context': {...}}

Every event a tracker routes, whichever way it came (:meth:`Tracker.emit`,
:meth:`Tracker.emit_on_commit` after the commit, ``EventType.emit``, the
event-bus consumer, ``eventtracking replay``, browser events), passes
:meth:`Tracker.route`, where observers registered with :func:`observe` (or
:meth:`Tracker.observe`) see it; the test helpers of
:mod:`eventtracking.testing` are such observers.
"""

import logging
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

from eventtracking import metrics
from eventtracking.backends.routing import RoutingBackend
from eventtracking.events import event_name, safe_name
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
            self.route(self.build_event(name, data))
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
        # on_commit belongs to the integration layer (Django transactions), above this core module; the contract
        # puts emit_on_commit on the Tracker, so the core reaches it here, at the call, and never at import.
        from eventtracking import on_commit  # pylint: disable=import-outside-toplevel
        on_commit.emit_on_commit(self, name, data, using)

    def route(self, event, deliver=None):
        """Route a built event: the one entry of every path that routes events through this tracker.

        Without ``deliver``, the event goes through the root processors, then
        to every backend (what :meth:`emit` does with the event it builds).
        ``deliver`` is for an event that was processed where it was built
        (the event-bus consumer's, which the producing site's tracker
        processed): the root processors do not run and ``deliver(event)``
        sends it on instead of the backends.

        Observers (see :func:`observe`) see the event once, after the root
        processors (an event they stop is not seen) and before the backends;
        it goes on to them only if every observer watching this tracker
        lets it pass through. With no observer this costs one check.
        Failures in the tree are counted and logged there; what escapes it
        (a ``RecursionError`` with the stack nearly exhausted) propagates:
        :meth:`emit` counts it.
        """
        metrics.emitted()
        if _observations:
            watching = [observation for observation in _observations if observation.watches(self)]
            if watching:
                self._route_observed(event, deliver, watching)
                return
        if deliver is None:
            self.routing_backend.send(event)
        else:
            deliver(event)

    def _route_observed(self, event, deliver, watching):
        """:meth:`route` while observers watch: process, show them the event, then deliver it if all let it pass."""
        if deliver is None:
            event = self.routing_backend.processed(event)
            if event is None:
                return
            deliver = self.routing_backend.send_to_backends
        for observation in watching:
            observation.notify(event)
        if all(observation.passthrough for observation in watching):
            deliver(event)

    def observe(self, callback, passthrough=False):
        """Show ``callback`` every event this tracker routes, until the returned :class:`Observation` is closed.

        See :func:`observe`, which watches every tracker.
        """
        return observe(callback, passthrough=passthrough, tracker=self)

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


class Observation:
    """An observer of routed events, registered by :func:`observe`: close it (or leave its ``with`` block) to stop.

    ``passthrough`` may be changed while it observes; it applies from the
    next event on.
    """

    __slots__ = ('callback', 'tracker', 'passthrough', '__weakref__')

    def __init__(self, callback, tracker, passthrough):
        self.callback = callback
        self.tracker = tracker
        self.passthrough = passthrough

    def watches(self, tracker):
        """Whether events routed by ``tracker`` are shown to this observer."""
        return self.tracker is None or self.tracker is tracker

    @property
    def active(self):
        """True until :meth:`close`."""
        return self in _observations

    def notify(self, event):
        """Call the callback with ``event``; what it raises is logged with the event's name, never raised."""
        try:
            self.callback(event)
        except Exception:  # pylint: disable=broad-except
            FAILURE_LOG.exception(('observer', id(self)), 'Observer %s failed on event %s', safe_name(self.callback),
                                  safe_name(event_name(event)))

    def close(self):
        """Stop observing (harmless when already stopped)."""
        global _observations  # pylint: disable=global-statement
        with _OBSERVING_LOCK:
            _observations = tuple(observation for observation in _observations if observation is not self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        scope = 'every tracker' if self.tracker is None else repr(self.tracker)
        mode = 'passthrough' if self.passthrough else 'holding'
        return f'<Observation of {scope} by {safe_name(self.callback)}, {mode}, {"active" if self.active else "closed"}>'


_observations = ()  # the active Observations; replaced, never changed in place, so route reads it without a lock
_OBSERVING_LOCK = threading.Lock()


def observe(callback, passthrough=False, tracker=None):
    """Show ``callback`` every event routed (by ``tracker``, or by any tracker when None); return the
    :class:`Observation`, which also works as a context manager.

    ``callback(event)`` gets each event once, as :meth:`Tracker.route`
    hands it on: after the root processors, before the backends. It is
    the tracker's own object: a callback that keeps it keeps a copy
    (:func:`eventtracking.isolation.copy_event`) and changes nothing. It
    may be called from any thread; what it raises is logged, never raised.

    With ``passthrough`` false (the default) the observer holds the events
    it sees: they reach no backend (no log line, no spool file, no task)
    while it observes. With ``passthrough`` true they go on to the backends
    too, unless another observer of the same tracker holds them. This is
    what :class:`eventtracking.testing.EventCapture` uses: nothing is
    patched, and a tracker with no observer pays one check per event.
    """
    global _observations  # pylint: disable=global-statement
    if not callable(callback):
        raise TypeError(f'observe() needs a callable, not {callback!r}')
    if tracker is not None and not isinstance(tracker, Tracker):
        raise TypeError(f'tracker must be a Tracker or None, not {tracker!r}')
    observation = Observation(callback, tracker, bool(passthrough))
    with _OBSERVING_LOCK:
        _observations = _observations + (observation,)
    return observation


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
