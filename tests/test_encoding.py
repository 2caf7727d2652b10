"""eventtracking.encoding: the one JSON encoding shared by the logger, the file backend, processors and the bus."""

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from unittest import mock

import pytest

from eventtracking import encoding
from eventtracking.backends import logger as logger_module
from eventtracking.exceptions import (
    CircularEventError, EventTooDeepError, ImproperlyConfigured, UnserializableEventError,
)

PLUS_TWO = timezone(timedelta(hours=2))


def test_the_logger_module_still_offers_the_names_it_had():
    for name in ('DateTimeJSONEncoder', 'utc_isoformat', 'standard_encode', 'ENCODERS', 'UTC'):
        assert getattr(logger_module, name) is getattr(encoding, name)


@pytest.mark.parametrize('module', ['eventtracking.processors.legacy', 'eventtracking.backends.file'])
def test_processors_and_backends_do_not_import_the_logger_backend(module):
    code = f'import sys, {module}; print("eventtracking.backends.logger" in sys.modules)'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'False'


@pytest.mark.parametrize('value', [
    {'when': datetime(2013, 10, 3, 8, 24, 55, 123456, tzinfo=PLUS_TWO), 'day': date(2013, 10, 3)},
    {'naive': datetime(2013, 10, 3, 8, 24, 55), 'text': 'caf\u00e9 \u2603 \U0001f600', 'n': [1, 2.5, None, True]},
])
def test_standard_encode_is_json_dumps_with_the_datetime_encoder(value):
    assert encoding.standard_encode(value) == json.dumps(value, cls=encoding.DateTimeJSONEncoder)


def test_datetimes_are_written_in_utc():
    value = {'t': datetime(2013, 10, 3, 10, 24, 55, tzinfo=PLUS_TWO), 'n': datetime(2013, 10, 3, 8, 24, 55)}
    assert json.loads(encoding.standard_encode(value)) == {
        't': '2013-10-03T08:24:55+00:00', 'n': '2013-10-03T08:24:55+00:00'}


def test_orjson_encoder_parses_to_the_same_json():
    pytest.importorskip('orjson')
    value = {'t': datetime(2013, 10, 3, 10, 24, 55, 5, tzinfo=PLUS_TWO), 'text': 'caf\u00e9', 'd': date(2020, 1, 2)}
    assert json.loads(encoding.event_encoder('orjson', 'FileBackend')(value)) == json.loads(
        encoding.standard_encode(value))


def test_event_encoder_names_its_owner_in_errors():
    with pytest.raises(ImproperlyConfigured, match=r"^FileBackend encoder must be one of json, orjson, not 'x'"):
        encoding.event_encoder('x', 'FileBackend')
    with mock.patch.dict(sys.modules, {'orjson': None}):
        with pytest.raises(ImproperlyConfigured, match=r"FileBackend\(encoder='orjson'\).*eventtracking\[orjson\]"):
            encoding.event_encoder('orjson', 'FileBackend')


def test_encode_event_maps_each_failure_to_an_error_naming_the_event():
    with pytest.raises(UnserializableEventError, match="event 'a.b' is not JSON serializable") as raised:
        encoding.encode_event(encoding.standard_encode, {'name': 'a.b', 'data': {1, 2}})
    assert raised.value.event_name == 'a.b' and isinstance(raised.value, TypeError)

    circular = {'name': 'c'}
    circular['self'] = circular
    with pytest.raises(CircularEventError, match="event 'c' refers to itself"):
        encoding.encode_event(encoding.standard_encode, circular)

    # Deeper than Python's recursion limit and than the C recursion limit the json encoder checks from 3.12 on.
    deep = []
    for _ in range(max(sys.getrecursionlimit() * 2, 200_000)):
        deep = [deep]
    with pytest.raises(EventTooDeepError, match="event 'd': data is nested too deeply"):
        encoding.encode_event(encoding.standard_encode, {'name': 'd'}, deep, 'data')


@pytest.mark.parametrize('encoder', ['json', 'orjson'])
def test_a_datetime_that_cannot_be_converted_to_utc_is_unserializable(encoder):
    if encoder == 'orjson':
        pytest.importorskip('orjson')
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    encode = encoding.event_encoder(encoder, 'FileBackend')
    with pytest.raises(UnserializableEventError, match="event 'early' is not JSON serializable") as raised:
        encoding.encode_event(encode, {'name': 'early', 'timestamp': early})
    assert raised.value.event_name == 'early'


def test_encode_event_encodes_a_field_that_is_missing_as_null():
    assert encoding.encode_event(encoding.standard_encode, {'name': 'a'}, None, 'context') == 'null'
