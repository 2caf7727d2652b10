"""captured_events.assert_all_valid() and EventTrackingTestCase.assert_all_events_valid(): every unregistered or
invalid event listed with its problems."""

import pytest

from eventtracking import registry, tracker
from eventtracking.registry import EventType, Field, register
from eventtracking.testing import EventTrackingTestCase

ENROLLED = 'tests.helpers.enrolled'


def register_enrolled():
    return register(EventType(ENROLLED, 'Enrolled.', fields={'course_id': Field(str), 'mode': Field(str)}))


def emit_mixed():
    tracker.emit(ENROLLED, {'course_id': 'course-v1:a+b+c', 'mode': 'audit'})
    tracker.emit('tests.helpers.unknown', {'x': 1})
    tracker.emit(ENROLLED, {'course_id': 3})
    tracker.emit(ENROLLED, {'course_id': 'c', 'mode': 'verified'})


EXPECTED_MESSAGE = (
    '2 of the 4 event(s) emitted are unregistered or invalid:\n'
    "  event 1 'tests.helpers.unknown':\n"
    '    tests.helpers.unknown: not a registered event type\n'
    f"  event 2 '{ENROLLED}':\n"
    '    data.course_id: expected string, got int\n'
    '    data.mode: required but missing'
)


@pytest.mark.usefixtures('isolated_event_types')
def test_assert_all_valid_lists_every_unregistered_or_invalid_event(captured_events):
    register_enrolled()
    emit_mixed()
    with pytest.raises(AssertionError) as raised:
        captured_events.assert_all_valid()
    assert str(raised.value) == EXPECTED_MESSAGE


@pytest.mark.usefixtures('isolated_event_types')
def test_assert_all_valid_passes_when_every_event_is_registered_and_valid(captured_events):
    register_enrolled()
    tracker.emit(ENROLLED, {'course_id': 'c', 'mode': 'audit'})
    captured_events.assert_all_valid()
    captured_events.assert_events_emitted()


class AssertAllEventsValidTest(EventTrackingTestCase):
    """The Django test case's helper, on the events its in-memory backend received."""

    def setUp(self):
        super().setUp()
        saved = dict(registry._REGISTRY)  # pylint: disable=protected-access
        self.addCleanup(lambda: (registry._REGISTRY.clear(), registry._REGISTRY.update(saved)))  # pylint: disable=protected-access
        register_enrolled()

    def test_fails_listing_every_bad_event(self):
        emit_mixed()
        with self.assertRaises(self.failureException) as raised:
            self.assert_all_events_valid()
        self.assertEqual(str(raised.exception), EXPECTED_MESSAGE)

    def test_passes_with_valid_events_only(self):
        tracker.emit(ENROLLED, {'course_id': 'c', 'mode': 'audit'})
        self.assert_all_events_valid()
        self.assert_events_emitted()
