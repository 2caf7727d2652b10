"""The eventtracking command itself: console script and python -m, help, exit statuses, no tracebacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli, sample_events, write_log

CONSOLE_SCRIPT = Path(sys.executable).parent / 'eventtracking'


def test_python_dash_m_and_the_console_script_give_the_same_output(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events())
    if not CONSOLE_SCRIPT.exists():
        pytest.fail(f'the console script {CONSOLE_SCRIPT} is not installed: pip install -e .')
    by_module = run_cli('stats', path)
    by_script = run_cli('stats', path, command=[str(CONSOLE_SCRIPT)])
    assert by_module.returncode == by_script.returncode == 0
    assert by_module.stdout == by_script.stdout and 'events:          6' in by_module.stdout


def test_help_lists_every_subcommand():
    result = run_cli('--help')
    assert result.returncode == 0
    for name in ('tail', 'stats', 'validate', 'replay'):
        assert name in result.stdout


@pytest.mark.parametrize('args', [[], ['nosuch'], ['tail'], ['stats', '--max-event-size', 'x', 'f'],
                                  ['tail', '--name', '(', 'f'], ['tail', '--since', 'yesterday', 'f'],
                                  ['tail', '-n', '0', 'f'], ['stats', '--max-event-size', '-5', 'f']])
def test_bad_arguments_exit_2_with_a_usage_line(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr and 'error:' in result.stderr


@pytest.mark.parametrize('command', ['tail', 'stats', 'validate', 'replay'])
def test_a_missing_file_exits_2_with_one_line(tmp_path, command):
    missing = tmp_path / 'missing.log'
    result = run_cli(command, missing, env={'DJANGO_SETTINGS_MODULE': 'tests.settings'}, cwd=os.getcwd())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        f'eventtracking {command}: {missing}: cannot open: No such file or directory'
    assert 'Traceback' not in result.stderr


DEEPLY_NESTED = b'{"a":' * 100_000 + b'\n'
LONE_SURROGATES = b'{"name": "x\\ud800", "timestamp": "2024-01-01T00:00:00Z", "data": {"s": "\\ud800"}}\n'


@pytest.mark.parametrize('content', [b'\x1f\x8b\x08\x00garbage', b'\xff\xfe\x00 binary {\x00', b'{' * 5000,
                                     DEEPLY_NESTED, LONE_SURROGATES + DEEPLY_NESTED])
def test_garbage_input_never_gives_a_traceback(tmp_path, content):
    path = tmp_path / 'garbage.log'
    path.write_bytes(content)
    for command in ('tail', 'stats', 'validate'):
        result = run_cli(command, path)
        assert result.returncode in (0, 1, 2)
        assert 'Traceback' not in result.stderr
        assert result.stderr.startswith(('eventtracking', str(path)))


def test_deeply_nested_json_is_one_malformed_line_for_every_command(tmp_path):
    path = tmp_path / 'nested.log'
    path.write_bytes(LONE_SURROGATES + DEEPLY_NESTED)
    for command in ('tail', 'stats', 'validate'):  # replay: in test_replay
        result = run_cli(command, path)
        assert result.stderr.splitlines()[0] == f'{path}:2: the JSON object on the line is nested too deeply', \
            (command, result.stderr[-500:])
        assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('command', ['tail', 'stats'])
def test_lone_surrogates_are_written_escaped(tmp_path, command):
    path = tmp_path / 'surrogates.log'
    path.write_bytes(LONE_SURROGATES)
    result = run_cli(command, path, env={'PYTHONIOENCODING': 'utf-8:strict'})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert '\\ud800' in result.stdout


def test_bytes_that_are_not_utf8_on_standard_input_are_replaced(tmp_path):
    stdin = b'{"name": "caf\xe9", "timestamp": "2024-01-01T00:00:00Z"}\n\xff\xfe\n'
    result = subprocess.run([sys.executable, '-m', 'eventtracking', 'stats', '--json', '-'], input=stdin,
                            capture_output=True, check=False, env=dict(os.environ, PYTHONIOENCODING='utf-8:strict'))
    assert result.returncode == 0, result.stderr
    assert b'Traceback' not in result.stderr
    assert json.loads(result.stdout)['by_name'] == {'caf\ufffd': 1}
    assert result.stderr.decode() == '-:2: no JSON object on the line\n'


def test_output_piped_into_a_reader_that_stops_early_is_quiet(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3000))
    result = subprocess.run(f'{sys.executable} -m eventtracking tail {path} | head -n 1', shell=True,
                            capture_output=True, text=True, check=False)
    assert len(result.stdout.splitlines()) == 1
    assert 'Traceback' not in result.stderr and result.stderr == ''
