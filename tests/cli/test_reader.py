"""eventtracking.cli.reader: finding the event on a line, turning legacy events back, plain and gzipped files."""

import gzip
import json
import os
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

from eventtracking.cli import reader
from eventtracking.cli.reader import (
    InputError, LineError, find_event, follow_lines, is_legacy, parse_time, read_lines, to_native,
)
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
    ({'name': 'a', 'timestamp': '0001-01-01T00:00:00+01:00'}, 'cannot be converted to UTC'),
    ({'event_type': 'a', 'time': '9999-12-31T23:59:59-00:01'}, 'cannot be converted to UTC'),
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


class CountingDecoder:
    """The reader's JSON decoder, counting the parses it starts and the characters it is handed."""

    def __init__(self, decoder):
        self._decoder = decoder
        self.calls = 0

    def raw_decode(self, text, idx=0):
        self.calls += 1
        return self._decoder.raw_decode(text, idx)


@pytest.mark.parametrize('line', ['{' * 100_000, '{"a":' * 100_000, '{"a": 1} x ' * 20_000, '{ ' * 50_000])
def test_find_event_tries_a_bounded_number_of_starts(monkeypatch, line):
    counting = CountingDecoder(reader._DECODER)  # pylint: disable=protected-access
    monkeypatch.setattr(reader, '_DECODER', counting)
    with pytest.raises(LineError):
        find_event(line)
    assert counting.calls <= reader.MAX_JSON_STARTS


def test_find_event_still_finds_an_event_after_a_prefix_with_braces():
    prefix = 'a{b} ' * 10 + '[{"x": 1}] - '
    assert find_event(prefix + '{"name": "a"}') == ('{"name": "a"}', {'name': 'a'})


def _long_line_log(path, length, gzipped=False):
    event = '{"name": "short", "timestamp": "2024-03-01T08:00:00Z"}\n'
    opener = gzip.open if gzipped else open
    with opener(path, 'wb') as log:
        log.write(event.encode())
        log.write(b'{"name": "long", "pad": "')
        for _ in range(length // 65536):
            log.write(b'x' * 65536)
        log.write(b'"}\n')
        log.write(event.encode())


@pytest.mark.parametrize('gzipped', [False, True])
def test_a_line_over_the_maximum_is_reported_and_never_held_whole(tmp_path, gzipped):
    path = tmp_path / 'long.log'
    _long_line_log(path, 32 * 1024 * 1024, gzipped)
    errors = []
    tracemalloc.start()
    try:
        lines = [line.raw['name'] for line in read_lines(path, lambda *error: errors.append(error),
                                                        max_line_bytes=1024 * 1024)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == ['short', 'short']
    assert errors == [(f'{path}:2', 'line longer than 1048576 bytes')]
    assert peak < 4 * 1024 * 1024, peak


def test_a_line_at_the_maximum_is_read(tmp_path):
    path = tmp_path / 'long.log'
    text = '{"name": "long", "pad": "' + 'x' * 100 + '"}'
    path.write_text(text + '\n' + text + 'x\n')
    errors = []
    assert [line.json_text for line in read_lines(path, lambda *error: errors.append(error),
                                                  max_line_bytes=len(text))] == [text]
    assert errors == [(f'{path}:2', f'line longer than {len(text)} bytes')]


def test_the_default_maximum_is_16_mib():
    assert reader.MAX_LINE_BYTES == 16 * 1024 * 1024


def test_a_truncated_gzip_is_a_malformed_line_and_the_next_files_are_read(tmp_path):
    whole = tmp_path / 'whole.log'
    write_log(whole, sample_events(3))
    data = gzip.compress(whole.read_bytes() * 200)
    truncated = tmp_path / 'truncated.log.gz'
    truncated.write_bytes(data[:len(data) // 2])
    errors = []
    lines = list(read_lines(truncated, lambda *error: errors.append(error)))
    assert len(errors) == 1
    where, reason = errors[0]
    assert (where, reason) == (f'{truncated}:{len(lines) + 1}', 'gzip stream truncated')
    assert 0 < len(lines) < 600


def _until_end(lines):
    """The names of the lines ``follow_lines`` yields up to the end of the file, for now."""
    names = []
    for line in lines:
        if line is None:
            return names
        names.append(line.raw['name'])
    raise AssertionError('follow_lines ended')


def _event(name):
    return (json.dumps({'name': name, 'timestamp': '2024-03-01T08:00:00Z'}) + '\n').encode()


def test_follow_reads_the_old_file_to_its_end_before_the_rotated_one(tmp_path):
    path = tmp_path / 'tracking.log'
    with open(path, 'wb', buffering=0) as old:
        old.write(_event('first'))
        lines = follow_lines(path, lambda *error: pytest.fail(f'unexpected {error}'), clock_sleep=lambda _: None)
        assert _until_end(lines) == ['first']
        os.rename(path, tmp_path / 'tracking.log.1')  # rotated while the reader was at the old file's end
        old.write(_event('late in the old file'))
    path.write_bytes(_event('in the new file'))
    assert _until_end(lines) == ['late in the old file', 'in the new file']
    lines.close()


def test_follow_reports_a_line_over_the_maximum_without_holding_it(tmp_path):
    path = tmp_path / 'tracking.log'
    with open(path, 'wb', buffering=0) as log:
        log.write(_event('first'))
        errors = []
        lines = follow_lines(path, lambda *error: errors.append(error), clock_sleep=lambda _: None,
                             max_line_bytes=1024)
        assert _until_end(lines) == ['first']
        tracemalloc.start()
        try:
            for _ in range(64):
                log.write(b'x' * 65536)  # a line still being written, already over the maximum
                assert _until_end(lines) == []
            log.write(b'\n' + _event('after'))
            assert _until_end(lines) == ['after']
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert errors == [(f'{path}:2', 'line longer than 1024 bytes')]
    assert peak < 1024 * 1024, peak
    lines.close()
