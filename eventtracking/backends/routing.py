"""The routing backend: a node of the tree every event travels through.

Each event is passed through the node's processors in order, then sent to each
of its backends in turn. Backends are usually leaves (logger, MongoDB,
Segment) or further routing backends with processors of their own.
"""

import logging
from collections import OrderedDict

from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import EventDropped, UncopyableEventError
from eventtracking.isolation import copy_event, mutates_events
from eventtracking.processors import accepts_of
from eventtracking.processors.exceptions import EventEmissionExit, NoBackendEnabled, NoTransformerImplemented
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import (
    BACKEND_ERROR, FILTERED, PROCESSOR_ERROR, SKIPPED, UNCOPYABLE, EventCounters, join_path, label_backend,
    merge_stats,
)

LOG = logging.getLogger(__name__)


class RoutingBackend:
    """Run every event through ``processors`` in order, then send it to every backend.

    ``backends`` is a mapping of names to objects with a callable ``send``;
    they are registered, and later called, in ascending order of their names.
    ``processors`` is a list of callables that take an event and return the
    event to continue with (or None to keep the one they were given), or raise
    ``EventEmissionExit`` to stop it.

    Nothing a processor or backend does to an event changes the caller's
    objects or what a sibling backend receives (see :mod:`eventtracking.isolation`).
    No exception from a processor or backend reaches the caller of ``send``:
    each one is counted in :attr:`stats` and logged, at most once a minute
    per backend (or processor) and reason after the first line (see
    ``eventtracking.ratelimit.RateLimitedLog``).

    A filtering processor whose ``__call__`` does no more than ask its own
    ``accepts(event)`` (``NameWhitelistProcessor``, ``RegexFilter``: see
    :func:`eventtracking.processors.asks_accepts`) is asked directly, so an
    event it stops costs no exception.
    """

    mutates_events = False

    def __init__(self, backends=None, processors=None):
        self._route = self._owned_route = ()
        self._planned = []
        self._plan = ()
        self.backends = _BackendRegistry(self._rebuild_route)
        self.processors = []
        self.counters = EventCounters()
        self.failure_log = RateLimitedLog(LOG)
        for name in sorted(backends or {}):
            self.register_backend(name, backends[name])
        for processor in processors or ():
            self.register_processor(processor)

    def register_backend(self, name, backend):
        """Add ``backend`` under ``name``; ``ValueError`` unless it has a callable ``send``."""
        if not callable(getattr(backend, 'send', None)):
            raise ValueError(
                f'Backend {type(backend).__name__} does not have a callable "send" method (registered as {name!r}).'
            )
        self.backends[name] = backend

    def register_processor(self, processor):
        """Append ``processor`` to the chain; ``ValueError`` unless it is callable."""
        if not callable(processor):
            raise ValueError(f'Processor {type(processor).__name__} is not callable: {processor!r}.')
        self.processors.append(processor)
        label_backend(self, self.counters.backend)

    def _rebuild_route(self):
        for name, backend in self.backends.items():  # the metrics label each backend's losses with its path
            label_backend(backend, join_path(self.counters.backend, name))
        route = tuple((name, backend, mutates_events(backend)) for name, backend in self.backends.items())
        self._route = route
        if route and route[-1][2]:
            name, backend, _ = route[-1]
            self._owned_route = route[:-1] + ((name, backend, False),)
        else:
            self._owned_route = route

    @property
    def stats(self):
        """Counts by reason of events filtered, dropped or failed here, in every backend below and by
        any processor that keeps its own counts (a ``stats`` dict)."""
        snapshots = [self.counters.snapshot()]
        for backend in [*self.processors, *self.backends.values()]:
            child = getattr(backend, 'stats', None)
            if isinstance(child, dict):
                snapshots.append(child)
        return merge_stats(*snapshots)

    def send(self, event):
        """Process ``event`` and send the result to every backend; never raises."""
        route = self._route
        if self.processors:
            processed = self.isolated(event)
            if processed is None:
                return
            event, owned = processed
            if owned:
                route = self._owned_route
        self._fan_out(event, route)

    def processed(self, event):
        """Return ``event`` after the processors, isolated as :meth:`send` does; None if it was stopped.

        What :meth:`send` does before its fan-out, for a caller that sends the
        result on itself (the tracker while observers watch, the event-bus
        consumer): the event is copied just before the first processor that
        may change it, so the caller's objects never change; one a processor
        stops is counted ``filtered``, one that cannot be copied
        ``uncopyable`` (logged by name); a processor that raises is logged and
        counted and the chain goes on. Never raises.
        """
        processed = self.isolated(event) if self.processors else (event, False)
        return None if processed is None else processed[0]

    def isolated(self, event):
        """Run ``event`` through the processors, copying it before the first one that may change it.

        Returns ``(event, owned)``, ``owned`` telling whether the event is a
        copy no one else holds, or None when a processor stopped it (counted
        ``filtered``) or it could not be copied (``uncopyable``). Never raises.
        """
        plan = self._plan if self.processors == self._planned else self._replan()
        owned = False
        try:
            for processor, mutates, accepts in plan:
                if accepts is not None and event.__class__ is dict:
                    try:
                        if accepts(event):
                            continue
                    except Exception:  # pylint: disable=broad-except
                        self._processor_failed(processor, event)
                        continue
                    self.counters.increment(FILTERED)
                    return None
                if mutates and not owned:
                    event = copy_event(event)
                    owned = True
                event = self._apply(processor, event)
        except EventEmissionExit:
            self.counters.increment(FILTERED)
            return None
        except UncopyableEventError as exc:
            self._count_uncopyable(exc)
            return None
        return event, owned

    def _replan(self):
        """Note, for each processor, whether it may change events and its ``accepts`` if it only asks that."""
        self._planned = list(self.processors)
        self._plan = tuple((processor, mutates_events(processor), accepts_of(processor)) for processor in self._planned)
        return self._plan

    def process_event(self, event):
        """Run ``event`` through the processors in order and return the result.

        A processor that returns a value other than None replaces the event; one
        that returns None keeps it. ``EventEmissionExit`` propagates; any other
        exception is logged at ERROR and the chain goes on with the event as it
        was. This method changes ``event`` only through the processors themselves:
        :meth:`send` is the isolating entry point.
        """
        for processor in self.processors:
            event = self._apply(processor, event)
        return event

    def _apply(self, processor, event):
        """Run one processor on ``event``; return the event to go on with. ``EventEmissionExit`` propagates."""
        try:
            result = processor(event)
        except EventEmissionExit:
            raise
        except Exception:  # pylint: disable=broad-except
            self._processor_failed(processor, event)
            return event
        return event if result is None else result

    def _processor_failed(self, processor, event):
        """Log, then count, the failure of ``processor``; called while its exception is being handled.

        Logging comes first: with the stack nearly exhausted either step may
        raise ``RecursionError``, which the tracker then counts once as
        ``emit_error``, so the event is never counted twice.
        """
        self.failure_log.exception((PROCESSOR_ERROR, id(processor)), 'Failed to execute processor %s on event %s',
                                   safe_name(processor), safe_name(event_name(event)))
        self.counters.increment(PROCESSOR_ERROR)

    def send_to_backends(self, event):
        """Send ``event`` to every backend in order; log and count failures, never raise."""
        self._fan_out(event, self._route)

    def route_to(self, backend_names=None):
        """The send order's ``(name, backend, needs its own copy)`` steps, only those of ``backend_names`` if given."""
        if backend_names is None:
            return self._route
        return tuple(step for step in self._route if step[0] in backend_names)

    def _fan_out(self, event, route, failed=None):
        """Send ``event`` along ``route``: (name, backend, whether it needs its own copy) triples.

        With a list ``failed``, a backend's unexpected error is logged and its
        name appended there (for a retry), not counted ``backend_error``.
        """
        for name, backend, needs_copy in route:
            if needs_copy:
                try:
                    payload = copy_event(event)
                except UncopyableEventError as exc:
                    self._count_uncopyable(exc, name)
                    continue
            else:
                payload = event
            try:
                backend.send(payload)
            except Exception as exc:  # pylint: disable=broad-except
                self._backend_failed(name, event, exc, failed)

    def _backend_failed(self, name, event, exc, failed=None, shown=None):
        """Log, then count, ``exc``, raised by backend ``name``; called while it is being handled.

        Logged first for the reason given in :meth:`_processor_failed`. With a
        list ``failed``, an unexpected error is appended there, not counted.
        ``shown`` names what failed in the log line (default: the event's name).
        """
        shown = shown or safe_name(event_name(event))
        if failed is not None and not isinstance(exc, (NoTransformerImplemented, NoBackendEnabled, EventDropped)):
            self.failure_log.exception(('retry', name), 'Unable to send %s to backend %r; it will be retried',
                                       shown, name)
            failed.append(name)
            return
        if isinstance(exc, (NoTransformerImplemented, NoBackendEnabled)):
            LOG.info('Backend %r skipped event %s: %s: %s', name, shown, type(exc).__name__, exc)
            reason = SKIPPED
        elif isinstance(exc, EventDropped):
            reason = exc.reason
            self.failure_log.warning((reason, name), 'Dropped event %s in backend %r (%s): %s', shown, name, reason,
                                     exc)
        else:
            reason = BACKEND_ERROR
            self.failure_log.exception((reason, name), 'Unable to send event %s to backend %r', shown, name)
        self.counters.increment(reason, child=name)

    def _count_uncopyable(self, exc, backend_name=None):
        self.failure_log.warning((UNCOPYABLE, backend_name), 'Dropped event %s%s (%s): %s', safe_name(exc.event_name),
                                 f' for backend {backend_name!r}' if backend_name else '', UNCOPYABLE, exc)
        self.counters.increment(UNCOPYABLE, child=backend_name)


class _BackendRegistry(OrderedDict):
    """The ``backends`` mapping: keeps the routing backend's send order in step with every change."""

    def __init__(self, on_change):
        super().__init__()
        self._on_change = on_change

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._on_change()

    def __delitem__(self, key):
        super().__delitem__(key)
        self._on_change()

    def pop(self, key, *default):
        result = super().pop(key, *default)
        self._on_change()
        return result

    def popitem(self, last=True):
        result = super().popitem(last)
        self._on_change()
        return result

    def clear(self):
        super().clear()
        self._on_change()

    def move_to_end(self, key, last=True):
        super().move_to_end(key, last)
        self._on_change()

    def __reduce__(self):
        return (OrderedDict, (list(self.items()),))
