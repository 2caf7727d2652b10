"""LoggerBackend's encoders: the standard one (byte-identical lines) and the opt-in orjson one."""

import json
import logging
import sys
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventtracking.backends.logger import DateTimeJSONEncoder, LoggerBackend, standard_encode
from eventtracking.exceptions import CircularEventError, EventTooDeepError, ImproperlyConfigured
from eventtracking.tracker import Tracker

TRACKING = 'tests.tracking.encoders'

EASTERN = timezone(timedelta(hours=-5), 'EST')
AMSTERDAM_1900 = timezone(timedelta(minutes=19, seconds=32), 'AMT')  # zoneinfo's offset for Amsterdam then


class FakeDatetime(datetime):
    """A datetime subclass, as freezegun hands out."""


datetimes = st.datetimes(timezones=st.sampled_from([
    None, timezone.utc, EASTERN, timezone(timedelta(seconds=15)), timezone(timedelta(hours=5, minutes=30)), AMSTERDAM_1900,
]))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(), datetimes, st.dates(),
    datetimes.map(lambda value: FakeDatetime.combine(value.date(), value.timetz())),
)
json_like = st.recursive(
    leaves,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)),
    max_leaves=30,
)


@contextmanager
def captured_lines():
    """Collect the messages written to the TRACKING logger."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    target = logging.getLogger(TRACKING)
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    target.propagate = False
    try:
        yield records
    finally:
        target.removeHandler(handler)


@pytest.fixture(name='lines')
def fixture_lines():
    """The messages written to the TRACKING logger during the test."""
    with captured_lines() as records:
        yield records


def sample_event():
    return {
        'name': 'edx.ünïcode.event',
        'timestamp': datetime(2013, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc),
        'data': {
            'eastern': datetime(2013, 10, 3, 3, 24, 55, tzinfo=EASTERN),
            'naive': datetime(2013, 10, 3, 8, 24, 55),
            'day': date(2013, 10, 3),
            'nested': [{'a': [1, 2.5, None, True]}, 'x' * 3, (1, 2)],
        },
        'context': {'user_id': 10938},
    }


@settings(max_examples=200, deadline=None)
@given(data=json_like)
def test_standard_encode_is_byte_identical_to_json_dumps_with_the_encoder_class(data):
    event = {'name': 'e', 'timestamp': datetime.now(timezone.utc), 'data': data, 'context': {}}
    assert standard_encode(event) == json.dumps(event, cls=DateTimeJSONEncoder)


@settings(max_examples=200, deadline=None)
@given(data=json_like)
def test_orjson_lines_parse_to_the_same_json_as_the_standard_lines(data):
    event = {'name': 'e', 'timestamp': datetime.now(timezone.utc), 'data': data, 'context': {}}
    with captured_lines() as lines:
        LoggerBackend(name=TRACKING, max_event_size=None).send(event)
        LoggerBackend(name=TRACKING, max_event_size=None, encoder='orjson').send(event)
    standard, compact = lines
    assert json.loads(compact) == json.loads(standard)


@settings(max_examples=300, deadline=None)
@given(value=datetimes)
def test_orjson_writes_every_datetime_as_the_standard_encoder_does(value):
    with captured_lines() as lines:
        LoggerBackend(name=TRACKING, max_event_size=None).send({'when': value})
        LoggerBackend(name=TRACKING, max_event_size=None, encoder='orjson').send({'when': value})
    standard, compact = lines
    assert compact == standard.replace(': ', ':')


def test_orjson_line_is_compact_with_the_same_datetime_strings(lines):
    LoggerBackend(name=TRACKING, max_event_size=None, encoder='orjson').send(sample_event())
    (line,) = lines
    assert line.startswith('{"name":"edx.ünïcode.event","timestamp":"2013-10-03T08:24:55.123456+00:00","data":')
    parsed = json.loads(line)
    assert parsed['data']['eastern'] == '2013-10-03T08:24:55+00:00'
    assert parsed['data']['naive'] == '2013-10-03T08:24:55+00:00'
    assert parsed['data']['day'] == '2013-10-03'
    assert parsed == json.loads(json.dumps(sample_event(), cls=DateTimeJSONEncoder))


def test_default_encoder_is_json_and_its_lines_are_the_standard_ones(lines):
    backend = LoggerBackend(name=TRACKING, max_event_size=None)
    assert backend.encoder == 'json'
    backend.send(sample_event())
    assert lines == [json.dumps(sample_event(), cls=DateTimeJSONEncoder)]


def test_max_event_size_counts_the_compact_line(lines):
    event = {'name': 'e', 'data': {'a': 1, 'b': [1, 2]}}
    compact = len(json.dumps(event, separators=(',', ':')))
    assert compact < len(json.dumps(event))
    LoggerBackend(name=TRACKING, max_event_size=compact, encoder='orjson').send(event)
    LoggerBackend(name=TRACKING, max_event_size=compact).send(event)
    assert len(lines) == 1


@pytest.mark.parametrize('value', [2 ** 70, {1: 'int key'}, '\ud800'])
def test_what_orjson_refuses_is_written_by_the_standard_encoder(lines, value):
    event = {'name': 'e', 'data': {'value': value}}
    LoggerBackend(name=TRACKING, max_event_size=None, encoder='orjson').send(event)
    assert lines == [json.dumps(event, cls=DateTimeJSONEncoder)]


def test_nesting_deeper_than_orjson_allows_is_written_by_the_standard_encoder(lines):
    deep = leaf = {}
    for _ in range(400):
        leaf['x'] = {}
        leaf = leaf['x']
    LoggerBackend(name=TRACKING, max_event_size=None, encoder='orjson').send({'name': 'deep', 'data': deep})
    assert lines == [json.dumps({'name': 'deep', 'data': deep})]


@pytest.mark.parametrize('encoder', ['json', 'orjson'])
@pytest.mark.parametrize('value', [{1, 2}, Decimal('1.5'), object(), time(8, 24)])
def test_unserializable_data_raises_type_error_with_either_encoder(lines, encoder, value):
    with pytest.raises(TypeError):
        LoggerBackend(name=TRACKING, encoder=encoder).send({'name': 'bad', 'data': {'value': value}})
    assert lines == []


@pytest.mark.parametrize('encoder', ['json', 'orjson'])
def test_circular_and_too_deep_events_raise_the_same_errors_with_either_encoder(encoder):
    backend = LoggerBackend(name=TRACKING, encoder=encoder, max_event_size=None)
    cycle = {}
    cycle['self'] = cycle
    with pytest.raises(CircularEventError, match='ircular'):
        backend.send({'name': 'cycle', 'data': cycle})
    deep = leaf = {}
    for _ in range(50_000):
        leaf['x'] = {}
        leaf = leaf['x']
    with pytest.raises(EventTooDeepError):
        backend.send({'name': 'deep', 'data': deep})


def test_standard_encoder_recovers_after_a_failed_event(lines):
    backend = LoggerBackend(name=TRACKING, max_event_size=None)
    shared = {'k': 'v'}
    cycle = {'shared': shared}
    cycle['self'] = cycle
    with pytest.raises(ValueError):
        backend.send({'name': 'cycle', 'data': cycle})
    backend.send({'name': 'ok', 'data': {'a': shared, 'b': shared}})
    assert lines == [json.dumps({'name': 'ok', 'data': {'a': shared, 'b': shared}})]


def test_orjson_encoder_in_a_tree_counts_what_it_drops(lines):
    tracker = Tracker(backends={'logger': LoggerBackend(name=TRACKING, encoder='orjson', max_event_size=150)})
    tracker.emit('edx.bad', {'value': Decimal('1')})
    tracker.emit('edx.long', {'value': 'x' * 100})
    tracker.emit('edx.good', {'value': 1})
    assert len(lines) == 1 and json.loads(lines[0])['name'] == 'edx.good'
    assert tracker.stats == {'unserializable': 1, 'oversize': 1}


def test_unknown_encoder_fails_at_construction():
    with pytest.raises(ImproperlyConfigured, match='encoder'):
        LoggerBackend(encoder='ujson')


def test_orjson_encoder_without_orjson_names_the_extra():
    with mock.patch.dict(sys.modules, {'orjson': None}):
        with pytest.raises(ImproperlyConfigured, match=r"pip install '<eventtracking checkout or wheel>\[orjson\]'"):
            LoggerBackend(encoder='orjson')
