"""LoggerBackend and DateTimeJSONEncoder: the tracking log's lines."""

import json
import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from eventtracking.backends import logger as logger_module
from eventtracking.backends.logger import MAX_EVENT_SIZE, DateTimeJSONEncoder, LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.tracker import Tracker

TRACKING = 'tests.tracking'


@pytest.fixture(name='lines')
def fixture_lines():
    """The messages written to the TRACKING logger, at any level."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    target = logging.getLogger(TRACKING)
    old_level, old_propagate = target.level, target.propagate
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    target.propagate = False
    yield records
    target.removeHandler(handler)
    target.setLevel(old_level)
    target.propagate = old_propagate


def test_defaults_and_attributes():
    assert MAX_EVENT_SIZE == 1024
    backend = LoggerBackend()
    assert backend.max_event_size == 1024
    assert backend.event_logger is logging.getLogger(None)
    assert backend.log == backend.event_logger.info
    named = LoggerBackend(name=TRACKING, level='WARNING', max_event_size=None)
    assert named.event_logger.name == TRACKING
    assert named.log == named.event_logger.warning
    assert named.max_event_size is None


def test_line_is_the_standard_json_dumps_of_the_event(lines):
    event = {
        'name': 'edx.ünïcode.event',
        'timestamp': datetime(2013, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc),
        'data': {'float': 1.5, 'list': [1, 'two', None, True], 'nested': {'day': date(2013, 10, 3)}},
        'context': {'user_id': 10938},
    }
    LoggerBackend(name=TRACKING, max_event_size=None).send(event)
    (record,) = lines
    assert record.levelno == logging.INFO
    assert record.getMessage() == json.dumps(event, cls=DateTimeJSONEncoder)
    assert record.getMessage() == (
        '{"name": "edx.\\u00fcn\\u00efcode.event", "timestamp": "2013-10-03T08:24:55.123456+00:00", '
        '"data": {"float": 1.5, "list": [1, "two", null, true], "nested": {"day": "2013-10-03"}}, '
        '"context": {"user_id": 10938}}'
    )


@pytest.mark.parametrize('level, levelno', [
    ('debug', logging.DEBUG), ('info', logging.INFO), ('warning', logging.WARNING),
    ('error', logging.ERROR), ('critical', logging.CRITICAL), ('Info', logging.INFO),
])
def test_level(lines, level, levelno):
    LoggerBackend(name=TRACKING, level=level).send({'name': 'x'})
    assert [record.levelno for record in lines] == [levelno]


def test_encoder_converts_aware_datetimes_to_utc_and_takes_naive_ones_as_utc():
    plus_two = timezone(timedelta(hours=2))
    encode = DateTimeJSONEncoder().encode
    assert encode(datetime(2013, 10, 3, 10, 24, 55, tzinfo=plus_two)) == '"2013-10-03T08:24:55+00:00"'
    assert encode(datetime(2013, 10, 3, 8, 24, 55)) == '"2013-10-03T08:24:55+00:00"'
    assert encode(date(2013, 10, 3)) == '"2013-10-03"'
    with pytest.raises(TypeError):
        encode({1, 2})


def test_event_longer_than_max_event_size_is_dropped_logged_and_counted(lines, caplog):
    backend = LoggerBackend(name=TRACKING, max_event_size=100)
    small = {'name': 'small', 'data': {}}
    big = {'name': 'big', 'data': {'text': 'x' * 200}}
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.logger'):
        backend.send(small)
        backend.send(big)
    assert [record.getMessage() for record in lines] == [json.dumps(small)]
    assert backend.stats == {'oversize': 1}
    (warning,) = [r for r in caplog.records if r.name == 'eventtracking.backends.logger']
    assert warning.levelno == logging.WARNING
    assert "'big'" in warning.getMessage() and 'oversize' in warning.getMessage()


def test_size_limit_is_inclusive(lines):
    event = {'name': 'exact'}
    size = len(json.dumps(event))
    LoggerBackend(name=TRACKING, max_event_size=size).send(event)
    LoggerBackend(name=TRACKING, max_event_size=size - 1).send(event)
    assert len(lines) == 1


def test_no_limit_with_none(lines):
    LoggerBackend(name=TRACKING, max_event_size=None).send({'name': 'x', 'data': 'y' * 100_000})
    assert len(lines) == 1


@pytest.mark.parametrize('value', [{1, 2}, Decimal('1.5'), object()])
def test_direct_send_raises_type_error_for_unserializable_data(lines, value):
    with pytest.raises(TypeError):
        LoggerBackend(name=TRACKING).send({'name': 'bad', 'data': {'value': value}})
    assert lines == []


def test_direct_send_raises_value_error_for_a_circular_structure():
    data = {}
    data['self'] = data
    with pytest.raises(ValueError, match='ircular'):
        LoggerBackend(name=TRACKING).send({'name': 'cycle', 'data': data})


@pytest.mark.parametrize('value, reason', [
    ({1, 2}, 'unserializable'), (Decimal('1.5'), 'unserializable'), (object(), 'unserializable'),
])
def test_in_a_tree_an_unserializable_event_is_one_warning_and_counted(lines, caplog, value, reason):
    tracker = Tracker(backends={'tracking_logs': RoutingBackend(backends={'logger': LoggerBackend(name=TRACKING)})})
    with caplog.at_level(logging.DEBUG, logger='eventtracking'):
        tracker.emit('edx.bad.event', {'value': value})
        tracker.emit('edx.good.event', {'value': 1})
    assert len(lines) == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "'edx.bad.event'" in message and "'logger'" in message and reason in message
    assert warnings[0].exc_info is None
    assert tracker.stats == {reason: 1}


def test_in_a_tree_circular_and_too_deep_events_are_dropped_and_counted(lines):
    tracker = Tracker(backends={'logger': LoggerBackend(name=TRACKING, max_event_size=None)})
    tracker.routing_backend.backends['logger'].mutates_events = False
    cycle = {}
    cycle['self'] = cycle
    deep = leaf = {}
    for _ in range(50_000):
        leaf['x'] = {}
        leaf = leaf['x']
    tracker.emit('cycle', cycle)
    tracker.emit('deep', deep)
    assert lines == []
    assert tracker.stats == {'circular': 1, 'too_deep': 1}


def test_oversize_counts_reach_the_tracker(lines):
    tracker = Tracker(backends={'tracking_logs': RoutingBackend(backends={
        'logger': LoggerBackend(name=TRACKING, max_event_size=10)})})
    tracker.emit('too.long.for.ten.characters')
    assert tracker.stats == {'oversize': 1}


@pytest.mark.parametrize('options, error', [
    ({'level': 'loud'}, ImproperlyConfigured),
    ({'level': 10}, ImproperlyConfigured),
    ({'max_event_size': -1}, ImproperlyConfigured),
    ({'max_event_size': '1024'}, ImproperlyConfigured),
    ({'max_event_size': True}, ImproperlyConfigured),
    ({'nmae': 'tracking'}, TypeError),
])
def test_bad_options_fail_at_construction(options, error):
    with pytest.raises(error):
        LoggerBackend(**options)


def test_module_logger_name():
    assert logger_module.LOG.name == 'eventtracking.backends.logger'
