"""Capture every event that any tracker emits, and wait for events that arrive from other threads.

:class:`EventCapture` is what the pytest fixture ``captured_events`` yields;
outside pytest, use it as a context manager::

    from eventtracking.testing import EventCapture

    with EventCapture() as captured:
        enroll(user, course)
        event = captured.wait_for_events({'name': 'edx.course.enrollment.activated'})[0]

What is captured is each event as a tracker routes it
(:meth:`Tracker.route <eventtracking.tracker.Tracker.route>`, which every
path passes: ``emit``, ``emit_on_commit`` after the commit,
``EventType.emit``, the event-bus consumer, ``eventtracking replay``,
browser events), after the root processors (an event they stop is not
captured). Every tracker counts, whether it existed before the capture
started or is built during it, in any thread. Each captured event is a copy,
so later changes by backends do not show.

A capture is an observer (:func:`eventtracking.tracker.observe`), the way
structlog's ``capture_logs`` swaps configuration: nothing is patched, and
nothing is left behind when it stops. By default it holds what it sees: the
events go to no backend while it is active (no tracking-log line, no spool
file, no Celery task). ``EventCapture(passthrough=True)``, or
:meth:`EventCapture.passthrough`, routes them on to the backends as well.

If no default tracker is registered when a capture starts, a plain
:class:`~eventtracking.tracker.Tracker` without backends is registered for its
duration, so ``eventtracking.tracker.emit`` events are captured too.
"""

import logging
import threading
import time

from eventtracking import tracker as tracker_module
from eventtracking.events import event_name, safe_name
from eventtracking.isolation import copy_event
from eventtracking.testing.assertions import (
    EventMatchTolerates, assert_events_match, format_events, format_tolerances, is_matching_event, number_emitted,
)

DEFAULT_TIMEOUT = 10.0
"""Seconds :meth:`EventCapture.wait_for_events` waits by default."""

LOG = logging.getLogger(__name__)


class EventWaitTimeout(AssertionError):
    """Not enough matching events arrived in time; the message shows every event captured."""


class EventCapture:
    """The events every tracker emits between :meth:`start` and :meth:`stop`, in the order they were emitted.

    Thread-safe: events may arrive from any thread (a thread pool, an
    in-process Celery worker) while a test waits for them.

    With ``passthrough`` false (the default) the events captured reach no
    backend; true, they are routed to the backends as well (see
    :meth:`passthrough`).
    """

    def __init__(self, passthrough=False):
        self._events = []
        self._forgotten = 0
        self._condition = threading.Condition()
        self._passthrough = bool(passthrough)
        self._observation = None
        self._registered_default = None

    @property
    def _active(self):
        return self._observation is not None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return f'<{type(self).__name__} {"active" if self._active else "stopped"}, {len(self._events)} event(s)>'

    def start(self):
        """Start capturing (a no-op when already started)."""
        with _LOCK:
            if self._active:
                return
            if tracker_module.DEFAULT_TRACKER_NAME not in tracker_module.TRACKERS:
                self._registered_default = tracker_module.Tracker()
                tracker_module.register_tracker(self._registered_default)
            self._observation = tracker_module.observe(self._record, passthrough=self._passthrough)
            _ACTIVE.append(self)

    def stop(self):
        """Stop capturing and undo what :meth:`start` changed; the events captured stay readable."""
        with _LOCK:
            if not self._active:
                return
            self._observation.close()
            self._observation = None
            _ACTIVE.remove(self)
            default_name = tracker_module.DEFAULT_TRACKER_NAME
            if self._registered_default is not None:
                if tracker_module.TRACKERS.get(default_name) is self._registered_default:
                    del tracker_module.TRACKERS[default_name]
                self._registered_default = None

    def passthrough(self, enabled=True):
        """Route the events captured from now on to the backends as well (``enabled`` false: hold them again).

        Takes effect at once, for the rest of the capture; used as a context
        manager, it applies to the ``with`` block only::

            from eventtracking import tracker
            from eventtracking.testing import EventCapture

            with EventCapture() as captured:
                tracker.emit('edx.held')  # captured only
                with captured.passthrough():
                    tracker.emit('edx.passed')  # captured, and routed to the backends
        """
        previous = self._passthrough
        self._set_passthrough(enabled)
        return _PassthroughBlock(self, previous)

    @property
    def passing_through(self):
        """Whether the events captured are routed to the backends as well."""
        return self._passthrough

    def _set_passthrough(self, enabled):
        with _LOCK:
            self._passthrough = bool(enabled)
            if self._observation is not None:
                self._observation.passthrough = self._passthrough

    def _record(self, event):
        """The observer: keep a copy of ``event`` (the event itself if it cannot be copied)."""
        try:
            copied = copy_event(event)
        except Exception:  # pylint: disable=broad-except
            LOG.exception('Could not copy event %s to capture it; capturing it as it is', safe_name(event_name(event)))
            copied = event
        with self._condition:
            self._events.append(copied)
            self._condition.notify_all()

    @property
    def events(self):
        """A list of the events captured so far, oldest first."""
        with self._condition:
            return list(self._events)

    def clear(self):
        """Forget the events captured so far."""
        with self._condition:
            self._forgotten += len(self._events)
            del self._events[:]

    def _position(self):
        """How many events were captured since the start, forgotten ones included."""
        with self._condition:
            return self._forgotten + len(self._events)

    def _since(self, position):
        """The events still kept that were captured at or after ``position`` (see :meth:`_position`)."""
        with self._condition:
            return self._events[max(position - self._forgotten, 0):]

    def get_event(self, idx=0):
        """Return the event captured at position ``idx`` (the first by default; negative counts from the end)."""
        __tracebackhide__ = True
        events = self.events
        try:
            return events[idx]
        except IndexError:
            raise AssertionError(
                f'No event at index {idx}: {len(events)} event(s) captured\n{format_events(events)}'
            ) from None

    def assert_no_events_emitted(self):
        """Fail, showing them, if any events were captured."""
        __tracebackhide__ = True
        events = self.events
        if events:
            raise AssertionError(f'Expected no events, {number_emitted(len(events))}:\n{format_events(events)}')

    def assert_events_emitted(self):
        """Fail if no event was captured."""
        __tracebackhide__ = True
        if not self.events:
            raise AssertionError('Expected at least one event, none was emitted.')

    def assert_all_valid(self):
        """Fail if any captured event is unregistered or invalid, listing each one with its problems.

        An event is valid when a registered event type has its name and its
        ``data`` passes the type's schema (see :func:`eventtracking.registry.event_problems`).
        Needs the ``schema`` extra.
        """
        __tracebackhide__ = True
        message = invalid_events_message(self.events)
        if message:
            raise AssertionError(message)

    def wait_for_events(self, event_filter=None, number_of_matches=1, timeout=DEFAULT_TIMEOUT, tolerate=None):
        """Wait until at least ``number_of_matches`` captured events match ``event_filter``; return the matches.

        ``event_filter`` is None (every event matches), an expected event
        (a dict, compared with :func:`~eventtracking.testing.is_matching_event`
        and ``tolerate``, lenient by default) or a callable taking an event and
        returning true for a match; an exception it raises counts as no match.
        Returns every matching event captured so far, oldest first. After
        ``timeout`` seconds raises :class:`EventWaitTimeout` showing every
        event captured.
        """
        __tracebackhide__ = True
        return self._wait(0, event_filter, number_of_matches, timeout, tolerate)

    def assert_events_match(self, expected_events, actual_events, tolerate=None):
        """Compare the events pairwise, in order (see :func:`eventtracking.testing.assert_events_match`)."""
        __tracebackhide__ = True
        assert_events_match(expected_events, actual_events, tolerate)

    def assert_events_match_during(self, event_filter=None, expected_events=None, tolerate=None,
                                   timeout=DEFAULT_TIMEOUT):
        """A context manager checking the events matching ``event_filter`` captured from the start of the block.

        After the block, waits (up to ``timeout`` seconds) until as many events
        as ``expected_events`` match the filter, then compares them pairwise
        with ``expected_events``, as :meth:`assert_events_match` does. Events
        captured before the block do not count. With no ``expected_events``
        it asserts that no event matching the filter was emitted in the block.
        If the block raises, its exception propagates and nothing is checked.
        """
        return _MatchDuring(self, event_filter, list(expected_events or ()), tolerate, timeout)

    def _wait(self, start, event_filter, number_of_matches, timeout, tolerate, block=False):
        __tracebackhide__ = True
        if number_of_matches < 0:
            raise ValueError(f'number_of_matches must not be negative, got {number_of_matches!r}')
        matcher = _EventMatcher(event_filter, tolerate)
        deadline = time.monotonic() + timeout
        matches = []
        seen = start
        while True:
            with self._condition:
                while self._position() <= seen and len(matches) < number_of_matches:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                fresh = self._since(seen)
                seen = self._position()
            matches.extend(matcher.matches(fresh))
            if len(matches) >= number_of_matches:
                return matches
            if not fresh:
                raise EventWaitTimeout(self._timeout_message(
                    start, matcher, number_of_matches, len(matches), timeout, block))

    def _timeout_message(self, start, matcher, wanted, found, timeout, block):
        noun = 'event' if wanted == 1 else 'events'
        matching = '' if matcher.event_filter is None else f' matching {matcher.describe()}'
        lines = [f'Timed out after {timeout:g} s waiting for {wanted} {noun}{matching}: {found} arrived.']
        if isinstance(matcher.event_filter, dict):
            lines.append(f'Matched tolerating: {format_tolerances(matcher.tolerate)}')
        if matcher.errors:
            lines.append(f'The filter raised on {matcher.errors} event(s); the last time: {matcher.last_error!r}')
        counted = self._since(start)
        scope = ' since the block started' if block else ''
        lines.append(f'Events captured{scope} ({len(counted)}):')
        lines.append(format_events(counted))
        return '\n'.join(lines)


def invalid_events_message(events):
    """A message listing each of ``events`` that is unregistered or invalid, with its position and problems;
    '' when every one is registered and valid."""
    from eventtracking.registry import event_problems  # pylint: disable=import-outside-toplevel  # the schema extra
    failing = [(index, event, event_problems(event)) for index, event in enumerate(events)]
    failing = [entry for entry in failing if entry[2]]
    if not failing:
        return ''
    lines = [f'{len(failing)} of the {len(events)} event(s) emitted are unregistered or invalid:']
    for index, event, problems in failing:
        lines.append(f'  event {index} {safe_name(event_name(event))}:')
        lines.extend(f'    {problem}' for problem in problems)
    return '\n'.join(lines)


class _MatchDuring:
    """The context manager returned by :meth:`EventCapture.assert_events_match_during`."""

    def __init__(self, capture, event_filter, expected_events, tolerate, timeout):
        self.matcher = _EventMatcher(event_filter, tolerate)
        self.capture = capture
        self.event_filter = event_filter
        self.expected_events = expected_events
        self.tolerate = tolerate
        self.timeout = timeout
        self.start = None

    def __enter__(self):
        self.start = self.capture._position()  # pylint: disable=protected-access
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        __tracebackhide__ = True
        if exc_type is not None:
            return False
        capture = self.capture
        if self.expected_events:
            matches = capture._wait(  # pylint: disable=protected-access
                self.start, self.event_filter, len(self.expected_events), self.timeout, self.tolerate, block=True)
        else:
            matches = self.matcher.matches(capture._since(self.start))  # pylint: disable=protected-access
        assert_events_match(self.expected_events, matches, self.tolerate)
        return False


class _EventMatcher:
    """Applies one ``event_filter`` (None, an expected event or a callable) and remembers its errors."""

    def __init__(self, event_filter, tolerate):
        if event_filter is not None and not isinstance(event_filter, dict) and not callable(event_filter):
            raise TypeError(f'event_filter must be None, a dict or a callable, not {event_filter!r}')
        self.event_filter = event_filter
        self.tolerate = EventMatchTolerates.lenient() if tolerate is None else tolerate
        self.errors = 0
        self.last_error = None

    def matches(self, events):
        return [event for event in events if self.match(event)]

    def match(self, event):
        if self.event_filter is None:
            return True
        if isinstance(self.event_filter, dict):
            return is_matching_event(self.event_filter, event, self.tolerate)
        try:
            return bool(self.event_filter(event))
        except Exception as exc:  # pylint: disable=broad-except
            self.errors += 1
            self.last_error = exc
            return False

    def describe(self):
        if isinstance(self.event_filter, dict):
            return repr(self.event_filter)
        return getattr(self.event_filter, '__qualname__', None) or repr(self.event_filter)


class _PassthroughBlock:
    """What :meth:`EventCapture.passthrough` returns: in a ``with`` block, the mode before it is back after it."""

    def __init__(self, capture, previous):
        self.capture = capture
        self.previous = previous

    def __enter__(self):
        return self.capture

    def __exit__(self, *exc_info):
        self.capture._set_passthrough(self.previous)  # pylint: disable=protected-access


_LOCK = threading.RLock()
_ACTIVE = []  # the started captures


def is_capturing():
    """Return True while at least one :class:`EventCapture` is active."""
    return bool(_ACTIVE)
