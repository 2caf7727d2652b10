"""eventtracking.cli.reader: finding the event on a line, turning legacy events back, plain and gzipped files."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from eventtracking.cli.reader import InputError, LineError, find_event, is_legacy, parse_time, read_lines, to_native
from eventtracking.processors.legacy import LegacyFieldMappingProcessor
from tests.cli.helpers import BRACED_PREFIX, TUTOR_PREFIX, gzip_file, sample_events, write_log


@pytest.mark.parametrize('prefix', ['', TUTOR_PREFIX.format(n=3), BRACED_PREFIX.format(), '{ broken - '])
def test_find_event_skips_any_prefix(prefix):
    text = '{"name": "a", "data": {"b": "}{"}}'
    assert find_event(prefix + text) == (text, {'name': 'a', 'data': {'b': '}{'}})


@pytest.mark.parametrize('text, reason', [
    ('', 'empty line'), ('INFO nothing here', 'no JSON object'), ('{"name": "a"', 'does not parse'),
    ('{"a": 1} trailing', 'does not parse'), ('[1, 2]', 'no JSON object'),
])
def test_find_event_explains_a_line_without_an_event(text, reason):
    with pytest.raises(LineError, match=reason):
        find_event(text)


def test_legacy_events_turn_back_into_the_native_events_they_came_from():
    processor = LegacyFieldMappingProcessor()
    for event in sample_events():
        legacy = json.loads(json.dumps(processor(event), default=str))
        legacy['time'] = event['timestamp'].isoformat()
        assert is_legacy(legacy) and not is_legacy({'name': 'x', 'timestamp': 'y', 'data': {}})
        native = to_native(legacy)
        assert native['name'] == event['name']
        assert native['timestamp'] == event['timestamp'] and native['timestamp'].tzinfo is not None
        assert native['data'] == event['data']  # a browser event's JSON-string payload is parsed
        expected_context = {k: v for k, v in event['context'].items() if k != 'client_id'}
        expected_context.setdefault('event_source', 'server')
        expected_context.setdefault('page', None)
        assert native['context'] == expected_context
        assert processor(native) == processor(dict(event, context=expected_context))


def test_a_legacy_line_without_name_takes_its_event_type():
    native = to_native({'event_type': 'edx.old', 'time': '2014-01-01T00:00:00', 'event': '"text"', 'extra': 1})
    assert native == {'name': 'edx.old', 'timestamp': datetime(2014, 1, 1, tzinfo=timezone.utc),
                      'data': '"text"', 'context': {}, 'extra': 1}


@pytest.mark.parametrize('raw, reason', [
    ({'data': {}}, 'no name'), ({'event': {}, 'time': '2020-01-01'}, 'neither a name'),
    ({'name': 'a', 'timestamp': 'tomorrow'}, 'not ISO 8601'), ({'name': 'a', 'timestamp': 5}, 'is a int'),
])
def test_to_native_refuses_events_without_name_or_time(raw, reason):
    with pytest.raises(LineError, match=reason):
        to_native(raw)


def test_parse_time_takes_offsets_and_z_and_naive_as_utc():
    assert parse_time('2024-01-31T10:00:00+02:00') == datetime(2024, 1, 31, 8, tzinfo=timezone.utc)
    assert parse_time('2024-01-31T08:00:00Z') == datetime(2024, 1, 31, 8, tzinfo=timezone.utc)
    assert parse_time('2024-01-31') == datetime(2024, 1, 31, tzinfo=timezone.utc)
    assert parse_time('2024-01-31T08:00:00').utcoffset() == timedelta(0)


@pytest.mark.parametrize('compressed', [False, True])
def test_read_lines_reads_plain_and_gzipped_files_told_by_their_bytes(tmp_path, compressed):
    path = str(tmp_path / 'tracking.log')
    texts = write_log(path, sample_events(), prefix=TUTOR_PREFIX)
    with open(path, 'a', encoding='utf-8') as log:
        log.write('\n   \nnot an event\n')
    if compressed:
        path = gzip_file(path)
    errors = []
    lines = list(read_lines(path, lambda where, reason: errors.append((where, reason))))
    assert [line.json_text for line in lines] == texts
    assert [line.number for line in lines] == list(range(1, len(texts) + 1))
    assert errors == [(f'{path}:{len(texts) + 3}', 'no JSON object on the line')]


def test_a_missing_file_or_a_corrupt_gzip_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match='cannot open'):
        list(read_lines(str(tmp_path / 'missing.log'), print))
    corrupt = tmp_path / 'corrupt.log'
    corrupt.write_bytes(b'\x1f\x8b' + b'\x00' * 40)
    with pytest.raises(InputError, match='cannot read'):
        list(read_lines(str(corrupt), print))


def test_a_gzip_whose_data_is_corrupt_midway_is_an_input_error(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(200))
    data = bytearray((tmp_path / gzip_file(path).split('/')[-1]).read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b'\xff' * 64
    corrupt = tmp_path / 'corrupt.gz'
    corrupt.write_bytes(bytes(data))
    with pytest.raises(InputError, match='cannot read'):
        list(read_lines(str(corrupt), print))
