"""The Open edX developer guide's unit-testing example, on EventTrackingTestCase."""

from django.test import override_settings

from eventtracking import tracker
from eventtracking.testing import EventTrackingTestCase, assert_event_matches, assert_events_equal


def my_function_that_emits_events():
    tracker.emit('foobar', {'a': 'b'})


def my_function_that_does_not_emit():
    pass


class MyTestClass(EventTrackingTestCase):

    def setUp(self):
        # The setUp() of the superclass must be called
        super().setUp()

    def test_event_emitted(self):
        my_function_that_emits_events()

        # If the above function only emits a single event, this can be used.
        actual_event = self.get_event()

        # This will assert that the "name" of the event is "foobar".
        # Note that it makes no assertions about any of the other fields
        # in the event.
        assert_event_matches({'name': 'foobar'}, actual_event)

    def test_no_event_emitted(self):
        my_function_that_does_not_emit()

        # This will fail if any events were emitted by the above function
        # call.
        self.assert_no_events_emitted()

    def test_the_whole_event(self):
        my_function_that_emits_events()

        # Time is frozen, so even the timestamp can be compared exactly.
        assert_events_equal(
            {'name': 'foobar', 'timestamp': self.frozen_time, 'data': {'a': 'b'}, 'context': {}},
            self.get_event(),
        )


LEGACY_PROCESSORS = [{'ENGINE': 'eventtracking.processors.legacy.LegacyFieldMappingProcessor'}]


@override_settings(EVENT_TRACKING_PROCESSORS=LEGACY_PROCESSORS)
class LegacyLayoutTest(EventTrackingTestCase):
    """With the legacy processor at the root, events have Open edX's legacy layout, as in the guide."""

    def test_event_emitted(self):
        my_function_that_emits_events()

        assert_event_matches({'event_type': 'foobar', 'event': {'a': 'b'}}, self.get_event())
