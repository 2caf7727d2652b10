"""EventTypeValidator: the three modes for unregistered and invalid events, the counts, the rate-limited log lines."""

import logging

import pytest

from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.processors import schema
from eventtracking.processors.schema import EventTypeValidator
from eventtracking.registry import EventType, Field, register
from eventtracking.testing import InMemoryBackend
from eventtracking.tracker import Tracker

REGISTERED = 'tests.validator.enrolled'
SECRET = 'very-personal-value'


@pytest.fixture(autouse=True)
def event_type(isolated_event_types):  # pylint: disable=unused-argument
    """One registered type; a fresh rate-limited log for each test, so that each test sees its first lines."""
    schema.LOG.reset()
    return register(EventType(REGISTERED, 'Enrolled.', fields={'course_id': Field(str), 'mode': Field(str)}))


def tracker_with(validator):
    backend = InMemoryBackend()
    return Tracker(backends={'mem': backend}, processors=[validator]), backend


VALID = {'course_id': 'course-v1:a+b+c', 'mode': 'audit'}
INVALID = {'course_id': 42, 'mode': SECRET}


def emit_three(tracker):
    tracker.emit(REGISTERED, VALID)
    tracker.emit(REGISTERED, INVALID)
    tracker.emit('tests.validator.unknown', {'anything': SECRET})


def test_defaults_are_warn_and_bad_modes_are_refused():
    validator = EventTypeValidator()
    assert (validator.unregistered, validator.invalid) == ('warn', 'warn')
    assert validator.mutates_events is False
    with pytest.raises(ImproperlyConfigured, match="unregistered='skip'"):
        EventTypeValidator(unregistered='skip')
    with pytest.raises(ImproperlyConfigured, match="invalid='DROP'"):
        EventTypeValidator(invalid='DROP')


def test_warn_lets_every_event_through_counts_and_logs_name_and_problem_never_values(caplog):
    tracker, backend = tracker_with(EventTypeValidator(unregistered='warn', invalid='warn'))
    with caplog.at_level(logging.WARNING, logger='eventtracking.processors.schema'):
        emit_three(tracker)
    assert [event['name'] for event in backend.events] == [REGISTERED, REGISTERED, 'tests.validator.unknown']
    assert tracker.stats == {'invalid': 1, 'unregistered': 1}
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"Event '{REGISTERED}' is invalid, sent on to the backends all the same (EventTypeValidator "
        "invalid='warn'): data.course_id: expected string, got int",
        "Event 'tests.validator.unknown' is unregistered, sent on to the backends all the same (EventTypeValidator "
        "unregistered='warn'): not a registered event type",
    ]
    assert all(record.levelno == logging.WARNING for record in caplog.records)
    assert SECRET not in caplog.text and '42' not in caplog.text


def test_drop_stops_the_events_and_counts_them(caplog):
    tracker, backend = tracker_with(EventTypeValidator(unregistered='drop', invalid='drop'))
    with caplog.at_level(logging.WARNING, logger='eventtracking.processors.schema'):
        emit_three(tracker)
    assert [event['data'] for event in backend.events] == [VALID]
    assert tracker.stats == {'invalid': 1, 'unregistered': 1, 'filtered': 2}
    assert [record.getMessage().split(' (')[0] for record in caplog.records] == [
        f"Event '{REGISTERED}' is invalid, dropped", "Event 'tests.validator.unknown' is unregistered, dropped",
    ]


def test_ignore_neither_counts_nor_logs(caplog):
    tracker, backend = tracker_with(EventTypeValidator(unregistered='ignore', invalid='ignore'))
    with caplog.at_level(logging.DEBUG, logger='eventtracking.processors.schema'):
        emit_three(tracker)
    assert len(backend.events) == 3
    assert not tracker.stats
    assert not caplog.records


def test_modes_are_independent():
    tracker, backend = tracker_with(EventTypeValidator(unregistered='ignore', invalid='drop'))
    emit_three(tracker)
    assert [event['name'] for event in backend.events] == [REGISTERED, 'tests.validator.unknown']
    assert tracker.stats == {'invalid': 1, 'filtered': 1}
    tracker, backend = tracker_with(EventTypeValidator(unregistered='drop', invalid='ignore'))
    emit_three(tracker)
    assert [event['data'] for event in backend.events] == [VALID, INVALID]
    assert tracker.stats == {'unregistered': 1, 'filtered': 1}


def test_each_event_is_counted_but_a_name_and_problem_is_logged_once_a_minute(caplog):
    tracker, _ = tracker_with(EventTypeValidator())
    with caplog.at_level(logging.WARNING, logger='eventtracking.processors.schema'):
        for _ in range(50):
            emit_three(tracker)
        tracker.emit(REGISTERED, {'course_id': 'c'})
    assert tracker.stats == {'invalid': 51, 'unregistered': 50}
    assert len(caplog.records) == 3, [record.getMessage() for record in caplog.records]
    assert caplog.records[-1].getMessage().endswith('data.mode: required but missing')


def test_many_different_names_are_all_counted_but_at_most_twenty_lines_a_minute_are_logged(caplog):
    tracker, _ = tracker_with(EventTypeValidator())
    with caplog.at_level(logging.WARNING, logger='eventtracking.processors.schema'):
        for number in range(1000):
            tracker.emit(f'/u/learner{number}', {})  # implicit events are named by URL: unbounded names
    assert tracker.stats == {'unregistered': 1000}
    assert len(caplog.records) == 20


def test_counts_show_in_the_branch_that_runs_the_validator():
    validating = RoutingBackend(backends={'mem': InMemoryBackend()}, processors=[EventTypeValidator(invalid='drop')])
    plain = InMemoryBackend()
    tracker = Tracker(backends={'checked': validating, 'plain': plain})
    tracker.emit(REGISTERED, INVALID)
    assert validating.stats == {'invalid': 1, 'filtered': 1}
    assert tracker.stats == {'invalid': 1, 'filtered': 1}
    assert len(plain.events) == 1 and not validating.backends['mem'].events


def test_the_event_is_not_changed():
    validator = EventTypeValidator()
    event = {'name': REGISTERED, 'data': dict(INVALID), 'context': {}}
    assert validator(event) is event and event['data'] == INVALID


def test_an_event_with_an_unhashable_name_is_unregistered_and_logged_safely(caplog):
    validator = EventTypeValidator()
    with caplog.at_level(logging.WARNING, logger='eventtracking.processors.schema'):
        validator({'name': ['not', 'a', 'name'], 'data': {}})
    assert validator.stats == {'unregistered': 1}
    assert "['not', 'a', 'name']" in caplog.text
