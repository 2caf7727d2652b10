"""EventTrackingTestCase: the developer guide's unit-testing example, frozen time, settings overrides."""

import tempfile
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.test import override_settings

from eventtracking import tracker
from eventtracking.cli import main
from eventtracking.django import DjangoTracker
from eventtracking.testing import (
    FROZEN_TIME, EventTrackingTestCase, InMemoryBackend, assert_event_matches, assert_events_equal,
)
from eventtracking.testing import testcases
from tests.cli.helpers import sample_events, write_log
from tests.test_handlers import from_the_bus, tracking_log

LEGACY_LAYOUT = [{'ENGINE': 'eventtracking.processors.legacy.LegacyFieldMappingProcessor'}]


@contextmanager
def _temporary_folder():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def my_function_that_emits_events():
    tracker.emit('foobar', {'a': 'b'})


def my_function_that_does_not_emit():
    return 42


@override_settings(EVENT_TRACKING_PROCESSORS=LEGACY_LAYOUT)
class MyTestClass(EventTrackingTestCase):
    """The guide's example subclass, with the legacy event layout it asserts on."""

    def setUp(self):
        # The setUp() of the superclass must be called
        super().setUp()

    def test_event_emitted(self):
        my_function_that_emits_events()

        # If the above function only emits a single event, this can be used.
        actual_event = self.get_event()

        # This will assert that the "event_type" of the event is "foobar".
        # Note that it makes no assertions about any of the other fields
        # in the event.
        assert_event_matches({'event_type': 'foobar'}, actual_event)
        assert_event_matches({'event_type': 'foobar', 'event': {'a': 'b'}, 'time': FROZEN_TIME}, actual_event)

    def test_no_event_emitted(self):
        my_function_that_does_not_emit()

        # This will fail if any events were emitted by the above function
        # call.
        self.assert_no_events_emitted()


class NativeLayoutTest(EventTrackingTestCase):

    def setUp(self):
        self.previous_default = tracker.TRACKERS.get(tracker.DEFAULT_TRACKER_NAME)
        self.addCleanup(self.check_everything_put_back)
        super().setUp()

    def check_everything_put_back(self):
        self.assertIs(tracker.TRACKERS.get(tracker.DEFAULT_TRACKER_NAME), self.previous_default)
        self.assertIs(tracker.datetime, datetime)
        self.assertFalse([observation for observation in tracker._observations  # pylint: disable=protected-access
                          if observation.tracker is self.tracker])

    def test_the_default_tracker_is_a_django_tracker_with_an_in_memory_backend(self):
        self.assertIsInstance(self.tracker, DjangoTracker)
        self.assertIs(tracker.get_tracker(), self.tracker)
        self.assertIsInstance(self.backend, InMemoryBackend)
        self.assertIs(self.backend, self.tracker.get_backend('mem'))

    def test_events_are_stamped_with_the_frozen_utc_time(self):
        tracker.emit('edx.test.frozen', {'a': 1})
        assert_events_equal(
            {'name': 'edx.test.frozen', 'timestamp': FROZEN_TIME, 'data': {'a': 1}, 'context': {}},
            self.get_event(),
        )
        timestamp = self.get_event()['timestamp']
        self.assertEqual(timestamp, datetime(2013, 10, 3, 8, 24, 55, tzinfo=timestamp.tzinfo))
        self.assertEqual(timestamp.utcoffset(), timedelta(0))

    def test_get_event_by_index(self):
        for name in ('first', 'second', 'third'):
            tracker.emit(name)
        self.assertEqual(self.get_event()['name'], 'first')
        self.assertEqual(self.get_event(2)['name'], 'third')
        self.assertEqual(self.get_event(-2)['name'], 'second')

    def test_get_event_when_too_few_were_emitted(self):
        tracker.emit('only.one')
        with self.assertRaises(AssertionError) as raised:
            self.get_event(1)
        message = str(raised.exception)
        self.assertTrue(message.startswith('No event at index 1: 1 event(s) emitted\n  [0]\n'), message)
        self.assertIn("'name': 'only.one'", message)

    def test_assert_no_events_emitted_fails_showing_the_events(self):
        tracker.emit('edx.unexpected', {'secret': False})
        with self.assertRaises(AssertionError) as raised:
            self.assert_no_events_emitted()
        message = str(raised.exception)
        self.assertTrue(message.startswith('Expected no events, 1 was emitted:\n  [0]\n'), message)
        self.assertIn("'data': {'secret': False}", message)
        self.assertIn('datetime.datetime(2013, 10, 3, 8, 24, 55', message)

    def test_assert_no_events_emitted_counts_the_events_in_the_plural(self):
        tracker.emit('edx.unexpected', {'n': 1})
        tracker.emit('edx.unexpected', {'n': 2})
        with self.assertRaises(AssertionError) as raised:
            self.assert_no_events_emitted()
        self.assertTrue(str(raised.exception).startswith('Expected no events, 2 were emitted:\n  [0]\n'))

    def test_assert_events_emitted(self):
        with self.assertRaises(AssertionError) as raised:
            self.assert_events_emitted()
        self.assertEqual(str(raised.exception), 'Expected at least one event, none was emitted.')
        tracker.emit('edx.expected')
        self.assert_events_emitted()

    @override_settings(EVENT_TRACKING_PROCESSORS=[
        {'ENGINE': 'tests.testing.helpers.DropNamesProcessor', 'OPTIONS': {'names': ['edx.dropped']}},
    ])
    def test_recreate_tracker_applies_settings_overridden_on_the_method(self):
        old = self.tracker
        self.assertIs(self.recreate_tracker(), self.tracker)
        self.assertIsNot(self.tracker, old)
        self.assertIs(tracker.get_tracker(), self.tracker)
        tracker.emit('edx.dropped')
        tracker.emit('edx.kept')
        self.assertEqual([event['name'] for event in self.backend.events], ['edx.kept'])

    def test_recreate_tracker_inside_a_settings_block(self):
        with self.settings(EVENT_TRACKING_PROCESSORS=LEGACY_LAYOUT):
            self.recreate_tracker()
        tracker.emit('foobar', {'a': 'b'})
        assert_event_matches({'event_type': 'foobar', 'event': {'a': 'b'}}, self.get_event())

    def test_emit_on_commit_is_seen_once_the_transaction_commits(self):
        with self.captureOnCommitCallbacks(execute=True):
            with transaction.atomic():
                tracker.emit_on_commit('edx.committed', {'a': 1})
            self.assert_no_events_emitted()
        assert_event_matches({'name': 'edx.committed', 'data': {'a': 1}, 'timestamp': FROZEN_TIME}, self.get_event())
        self.assertEqual(len(self.backend.events), 1)

    def test_events_from_the_event_bus_are_seen(self):
        from_the_bus(tracking_log('edx.from.the.bus'))
        assert_event_matches({'name': 'edx.from.the.bus', 'data': {'mode': 'verified'}}, self.get_event())

    def test_replayed_events_are_seen(self):
        path = self.enterContext(_temporary_folder()) / 'tracking.log'
        write_log(path, sample_events(2))
        self.assertEqual(main(['replay', str(path)]), 0)
        self.assertEqual([self.get_event(0), self.get_event(1)], sample_events(2))

    def test_the_lazy_name_is_the_class(self):
        self.assertIs(EventTrackingTestCase, testcases.EventTrackingTestCase)


@override_settings(EVENT_TRACKING_BACKENDS={
    'tree': {
        'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
        'OPTIONS': {'backends': {'kept': {'ENGINE': 'eventtracking.testing.InMemoryBackend'}}},
    },
})
class NestedBackendTest(EventTrackingTestCase):

    def test_backend_is_found_in_the_tree(self):
        tracker.emit('nested')
        self.assertIs(self.backend, self.tracker.get_backend('tree').backends['kept'])
        self.assertEqual(self.get_event()['name'], 'nested')

    @override_settings(EVENT_TRACKING_BACKENDS={})
    def test_without_an_in_memory_backend_the_error_says_what_to_configure(self):
        self.recreate_tracker()
        tracker.emit('still.seen')
        self.assertEqual(self.get_event()['name'], 'still.seen')
        with self.assertRaises(LookupError) as raised:
            self.backend  # pylint: disable=pointless-statement
        self.assertIn('The tracker has no InMemoryBackend: EVENT_TRACKING_BACKENDS must configure one',
                      str(raised.exception))


class RunningClockTest(EventTrackingTestCase):
    frozen_time = None

    def test_events_get_the_current_time(self):
        before = datetime.now(FROZEN_TIME.tzinfo)
        tracker.emit('now')
        self.assertGreaterEqual(self.get_event()['timestamp'], before)


class OtherFrozenTimeTest(EventTrackingTestCase):
    frozen_time = datetime(2024, 2, 29, 23, 59, 59, tzinfo=FROZEN_TIME.tzinfo)

    def test_events_get_the_chosen_time(self):
        tracker.emit('leap')
        self.assertEqual(self.get_event()['timestamp'], self.frozen_time)
