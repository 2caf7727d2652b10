"""eventtracking tail: filters by name, user and time; --json; -n; --follow across rotations."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from eventtracking.backends.file import FileBackend
from tests.cli.helpers import TUTOR_PREFIX, gzip_file, run_cli, sample_events, write_log


@pytest.fixture(name='log')
def fixture_log(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(), prefix=TUTOR_PREFIX)
    return path


def names(result):
    return [json.loads(line)['name'] for line in result.stdout.splitlines()]


def test_json_prints_each_events_json_without_its_prefix(log):
    result = run_cli('tail', '--json', log)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [line[len(TUTOR_PREFIX.format(n=n)):]
                                          for n, line in enumerate(log.read_text(encoding='utf-8').splitlines())]


def test_default_output_is_one_readable_line_per_event(log):
    result = run_cli('tail', log)
    first = result.stdout.splitlines()[0]
    assert first == ('2024-03-01T08:15:00+00:00  edx.video.played  user=alice  '
                     '{"i":0,"text":"café 中","nested":{"list":[1,null,true,2.5]}}')


def test_names_and_users_with_control_characters_are_shown_escaped(tmp_path):
    path = tmp_path / 'tracking.log'
    path.write_text(json.dumps({'name': 'evil\n\x1b]0;owned\x07', 'timestamp': '2024-03-01T08:00:00Z',
                                'context': {'username': 'bob\r'}, 'data': {'k': 'v\x9b'}}) + '\n')
    result = run_cli('tail', path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2024-03-01T08:00:00+00:00  'evil\\n\\x1b]0;owned\\x07'  user='bob\\r'  {\"k\":\"v\\u009b\"}"]


@pytest.mark.parametrize('args, expected', [
    (['--name', '^edx\\.'], ['edx.video.played', 'edx.course.enrollment.activated'] * 2),
    (['--name', 'enrollment'], ['edx.course.enrollment.activated'] * 2),
    (['--user', 'bob'], ['edx.course.enrollment.activated', 'edx.video.played', 'problem_check']),
    (['--user', '8'], ['edx.course.enrollment.activated', 'edx.video.played', 'problem_check']),
    (['--since', '2024-03-01T08:35:00Z', '--until', '2024-03-01T10:15:00+01:00'],
     ['edx.course.enrollment.activated', 'problem_check']),
    (['--since', '2024-03-01T09:00'], ['edx.video.played', 'edx.course.enrollment.activated', 'problem_check']),
    (['-n', '2'], ['edx.course.enrollment.activated', 'problem_check']),
    (['--user', 'alice', '-n', '1'], ['edx.course.enrollment.activated']),
])
def test_filters(log, args, expected):
    result = run_cli('tail', '--json', *args, gzip_file(log))
    assert result.returncode == 0, result.stderr
    assert names(result) == expected


def test_legacy_lines_are_filtered_on_their_native_form(tmp_path):
    path = tmp_path / 'legacy.log'
    write_log(path, sample_events(), legacy=True)
    result = run_cli('tail', '--json', '--user', 'bob', '--since', '2024-03-01T09:00', path)
    assert [json.loads(line)['event_type'] for line in result.stdout.splitlines()] == [
        'edx.video.played', '/courses/x/play']


def test_malformed_lines_are_reported_and_the_status_is_1(log):
    with open(log, 'a', encoding='utf-8') as handle:
        handle.write('truncated {"name": \n')
    result = run_cli('tail', '--json', log)
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 6
    assert result.stderr == f'{log}:7: the JSON object on the line does not parse\n'


def test_follow_a_gzipped_file_is_refused(log):
    result = run_cli('tail', '--follow', gzip_file(log))
    assert result.returncode == 2 and 'cannot be followed' in result.stderr


def test_follow_prints_new_lines_across_rotation_and_removal(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(2))
    process = subprocess.Popen([sys.executable, '-m', 'eventtracking', 'tail', '--follow', '--json', '-n', '1', path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()

    def next_name():
        return json.loads(lines.get(timeout=30))['name']

    try:
        assert next_name() == 'edx.course.enrollment.activated'  # the last line already there
        backend = FileBackend(path)
        backend.send({'name': 'appended', 'timestamp': '2024-03-01T12:00:00Z'})
        assert next_name() == 'appended'
        os.rename(path, tmp_path / 'tracking.log.1')
        backend.send({'name': 'after-rotation', 'timestamp': '2024-03-01T12:00:01Z'})
        assert next_name() == 'after-rotation'
        os.unlink(path)
        backend.send({'name': 'after-removal', 'timestamp': '2024-03-01T12:00:02Z'})
        assert next_name() == 'after-removal'
        backend.close()
        process.send_signal(signal.SIGINT)  # Ctrl-C: how a follow ends
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert 'Traceback' not in process.stderr.read()


def test_follow_reads_a_file_truncated_in_place_again_from_its_start(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, [{'name': f'before-{index}', 'timestamp': '2024-03-01T12:00:00Z', 'data': {'pad': 'x' * 200}}
                     for index in range(100)])
    process = subprocess.Popen([sys.executable, '-m', 'eventtracking', 'tail', '--follow', '--json', '-n', '1', path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        assert json.loads(lines.get(timeout=30))['name'] == 'before-99'
        with open(path, 'r+b') as copied:  # logrotate's copytruncate: the same inode, emptied
            copied.truncate(0)
        backend = FileBackend(path)
        sent = [f'after-{index}' for index in range(50)]  # shorter in all than what was read before
        for name in sent:
            backend.send({'name': name, 'timestamp': '2024-03-01T12:00:01Z'})
        backend.close()
        assert [json.loads(lines.get(timeout=10))['name'] for _ in sent] == sent
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    stderr = process.stderr.read()
    assert 'does not parse' not in stderr and 'Traceback' not in stderr
