"""eventtracking stats: events by name and by hour, malformed and oversize lines."""

import json

import pytest

from tests.cli.helpers import BRACED_PREFIX, TUTOR_PREFIX, gzip_file, run_cli, sample_events, write_log


@pytest.mark.parametrize('legacy', [False, True])
@pytest.mark.parametrize('prefix', ['', TUTOR_PREFIX, BRACED_PREFIX])
def test_counts_by_name_and_hour(tmp_path, legacy, prefix):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(), legacy=legacy, prefix=prefix)
    result = run_cli('stats', '--json', path, gzip_file(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        'events': 12, 'malformed_lines': 0, 'oversize_lines': 0, 'max_event_size': 1024,
        'by_name': {'edx.course.enrollment.activated': 4, 'edx.video.played': 4, 'problem_check': 4},
        'by_hour': {'2024-03-01T08': 6, '2024-03-01T09': 6},
    }


def test_malformed_and_oversize_lines_are_counted_and_located(tmp_path):
    path = tmp_path / 'tracking.log'
    texts = write_log(path, sample_events(2))
    with open(path, 'a', encoding='utf-8') as log:
        log.write('{"name": "truncated", "data": {"x": \n')
        log.write(json.dumps({'name': 'big', 'timestamp': '2024-03-01T11:00:00+00:00', 'data': 'x' * 2000}) + '\n')
        log.write('{"data": {}}\n')
    result = run_cli('stats', path)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f'{path}:3: the JSON object on the line does not parse',
        f'{path}:5: the event has no name',
    ]
    assert 'events:          3' in result.stdout
    assert 'malformed lines: 2' in result.stdout
    assert 'oversize lines:  1 (JSON longer than 1024 characters)' in result.stdout
    assert '         1  big' in result.stdout and '         1  2024-03-01T11' in result.stdout
    small = run_cli('stats', '--json', '--max-event-size', str(min(map(len, texts)) - 1), path)
    assert json.loads(small.stdout)['oversize_lines'] == 3


def test_hours_are_counted_in_utc(tmp_path):
    path = tmp_path / 'tracking.log'
    path.write_text('{"name": "a", "timestamp": "2024-03-01T10:30:00+02:00"}\n'
                    '{"name": "a", "timestamp": "2024-03-01T00:30:00-05:00"}\n'
                    '{"name": "a", "timestamp": "2024-03-01T08:59:59"}\n')
    result = run_cli('stats', '--json', path)
    assert json.loads(result.stdout)['by_hour'] == {'2024-03-01T05': 1, '2024-03-01T08': 2}


def test_max_event_size_zero_is_accepted(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(2))
    result = run_cli('stats', '--json', '--max-event-size', '0', path)
    assert (result.returncode, json.loads(result.stdout)['oversize_lines']) == (0, 2)


def test_names_with_control_characters_are_shown_escaped(tmp_path):
    path = tmp_path / 'tracking.log'
    path.write_text(json.dumps({'name': 'evil\n\x1b[2Jname', 'timestamp': '2024-03-01T08:00:00Z'}) + '\n'
                    + json.dumps({'name': 'caf\u00e9.played', 'timestamp': '2024-03-01T08:00:00Z'}) + '\n')
    result = run_cli('stats', path)
    assert "         1  'evil\\n\\x1b[2Jname'" in result.stdout.splitlines()
    assert '         1  caf\u00e9.played' in result.stdout.splitlines()
    assert '\x1b' not in result.stdout
    assert json.loads(run_cli('stats', '--json', path).stdout)['by_name'] == {
        'caf\u00e9.played': 1, 'evil\n\x1b[2Jname': 1}
