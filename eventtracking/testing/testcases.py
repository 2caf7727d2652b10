"""``EventTrackingTestCase``: a Django ``TestCase`` whose default tracker keeps events in memory, at a frozen time."""

import logging

try:
    from django.test import TestCase, override_settings
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Django
    raise ImportError(
        'EventTrackingTestCase needs Django, which is not installed: pip install "eventtracking[django]"',
        name=exc.name,
    ) from exc

from eventtracking import tracker as tracker_module
from eventtracking.backends.routing import RoutingBackend
from eventtracking.django import DjangoTracker
from eventtracking.events import event_name, safe_name
from eventtracking.isolation import copy_event
from eventtracking.testing.assertions import format_events, number_emitted
from eventtracking.testing.capture import invalid_events_message
from eventtracking.testing.backends import InMemoryBackend
from eventtracking.testing.clock import FROZEN_TIME, frozen_tracker_time

IN_MEMORY_BACKEND_NAME = 'mem'
"""The name of the in-memory backend in :data:`IN_MEMORY_BACKEND_CONFIG`."""

IN_MEMORY_BACKEND_CONFIG = {
    IN_MEMORY_BACKEND_NAME: {'ENGINE': 'eventtracking.testing.backends.InMemoryBackend', 'OPTIONS': {}},
}
"""The ``EVENT_TRACKING_BACKENDS`` setting :class:`EventTrackingTestCase` runs its tests with."""

LOG = logging.getLogger(__name__)


@override_settings(EVENT_TRACKING_BACKENDS=IN_MEMORY_BACKEND_CONFIG)
class EventTrackingTestCase(TestCase):
    """A Django ``TestCase`` whose default tracker sends every event to an :class:`InMemoryBackend`.

    In each test the default tracker is a fresh
    :class:`~eventtracking.django.DjangoTracker` built from the settings
    (``EVENT_TRACKING_BACKENDS`` is the in-memory backend, unless a subclass
    overrides it with ``@override_settings``), and every event is stamped with
    :attr:`frozen_time`. After a test, the previous default tracker is back.

    :meth:`get_event` and the assertions see every event that tracker routes
    (it is observed: see :meth:`eventtracking.tracker.Tracker.observe`),
    whichever way it came: ``emit``, ``emit_on_commit`` once the
    transaction commits (in a ``TestCase``, inside
    ``self.captureOnCommitCallbacks(execute=True)``), ``EventType.emit``, the
    event-bus consumer, ``eventtracking replay``, browser events; each as it
    left the root processors. The tracker's backends are the test's own
    (the in-memory one by default), so the events go on to them as well:
    :attr:`backend` holds what the in-memory backend received.

    A test that changes the settings (``@override_settings`` on the method,
    ``with self.settings(...)``) calls :meth:`recreate_tracker` to apply them.
    Subclasses that override ``setUp`` must call ``super().setUp()``.
    """

    frozen_time = FROZEN_TIME
    """The instant events are stamped with (2013-10-03 08:24:55 UTC); None to let the clock run."""

    tracker = None
    """The default tracker during the test, built by :meth:`recreate_tracker`."""

    _observation = None
    _routed = ()

    def setUp(self):
        super().setUp()
        if self.frozen_time is not None:
            self.enterContext(frozen_tracker_time(self.frozen_time))
        previous = tracker_module.TRACKERS.get(tracker_module.DEFAULT_TRACKER_NAME)
        self.addCleanup(_restore_default_tracker, previous)
        self.addCleanup(self._stop_observing)
        self.recreate_tracker()

    def recreate_tracker(self):
        """Build a new :class:`DjangoTracker` from the current settings and register it as the default tracker.

        The events seen so far are forgotten: :meth:`get_event` and the
        assertions see the new tracker's.
        """
        self._stop_observing()
        self.tracker = DjangoTracker()
        tracker_module.register_tracker(self.tracker)
        self._routed = []
        self._observation = self.tracker.observe(self._keep, passthrough=True)
        return self.tracker

    def _keep(self, event):
        try:
            event = copy_event(event)
        except Exception:  # pylint: disable=broad-except
            LOG.exception('Could not copy event %s to keep it; keeping it as it is', safe_name(event_name(event)))
        self._routed.append(event)

    def _stop_observing(self):
        if self._observation is not None:
            self._observation.close()
            self._observation = None

    @property
    def backend(self):
        """The in-memory backend of :attr:`tracker`: the one named ``mem``, else the first found in its tree."""
        backends = self.tracker.backends
        found = backends.get(IN_MEMORY_BACKEND_NAME)
        if not isinstance(found, InMemoryBackend):
            found = _find_in_memory_backend(backends)
        if found is None:
            raise LookupError(
                'The tracker has no InMemoryBackend: EVENT_TRACKING_BACKENDS must configure one '
                f'(for example {IN_MEMORY_BACKEND_CONFIG!r}); its backends are {list(backends)!r}'
            )
        return found

    def get_event(self, idx=0):
        """Return the event the tracker routed at position ``idx`` (the first by default; negative counts from the
        end)."""
        events = list(self._routed)
        try:
            return events[idx]
        except IndexError:
            raise AssertionError(
                f'No event at index {idx}: {len(events)} event(s) emitted\n{format_events(events)}'
            ) from None

    def assert_no_events_emitted(self):
        """Fail, showing them, if the tracker routed any event."""
        events = list(self._routed)
        if events:
            raise self.failureException(
                f'Expected no events, {number_emitted(len(events))}:\n{format_events(events)}'
            )

    def assert_events_emitted(self):
        """Fail if the tracker routed no event."""
        if not self._routed:
            raise self.failureException('Expected at least one event, none was emitted.')

    def assert_all_events_valid(self):
        """Fail if any event the tracker routed is unregistered or invalid, listing each one with its problems
        (see :meth:`eventtracking.testing.capture.EventCapture.assert_all_valid`)."""
        message = invalid_events_message(list(self._routed))
        if message:
            raise self.failureException(message)


def _restore_default_tracker(previous):
    if previous is None:
        tracker_module.TRACKERS.pop(tracker_module.DEFAULT_TRACKER_NAME, None)
    else:
        tracker_module.register_tracker(previous)


def _find_in_memory_backend(backends):
    for backend in backends.values():
        if isinstance(backend, InMemoryBackend):
            return backend
        if isinstance(backend, RoutingBackend):
            found = _find_in_memory_backend(backend.backends)
            if found is not None:
                return found
    return None
