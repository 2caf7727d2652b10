"""The README's demo prints the package description's three events."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


DEMO = os.path.join(ROOT, 'examples', 'demo.py')


def _run_demo(*args, temp_dir):
    env = dict(os.environ, TMPDIR=str(temp_dir))
    return subprocess.run([sys.executable, DEMO, *args], capture_output=True, text=True, check=True, timeout=60,
                          env=env)


def test_demo_prints_the_three_seed_events_and_the_filtered_branch(tmp_path):
    result = _run_demo(temp_dir=tmp_path)
    lines = result.stdout.splitlines()
    log_lines = [json.loads(line) for line in lines if line.startswith('  {')]
    assert [(e['name'], e['context'], e['data']) for e in log_lines] == [
        ('navigation.request', {'user_id': 10938}, {'url': 'http://www.edx.org/some/path/1'}),
        ('navigation.request', {'user_id': 11111, 'session_id': '2987lkjdyoioey'},
         {'url': 'http://www.edx.org/some/path/2'}),
        ('address.create', {'user_id': 10938},
         {'name': 'foo', 'address': {'postal_code': '90210', 'country': 'United States'}}),
    ]
    assert all(e['timestamp'].endswith('+00:00') for e in log_lines)
    branch = lines[lines.index('What the navigation branch (RegexFilter allowlist "navigation\\.") received:') + 1:]
    received = [line for line in branch if line.startswith('  navigation.request')]
    assert len(received) == 2
    assert not any('address.create' in line for line in branch[:3])
    assert "{'filtered': 1}" in result.stdout


def test_demo_removes_its_temporary_tracking_log(tmp_path):
    result = _run_demo(temp_dir=tmp_path)
    assert f'The tracking log, {tmp_path}' in result.stdout
    assert not list(tmp_path.iterdir())


def test_demo_keeps_the_tracking_log_at_the_path_it_is_given(tmp_path):
    log_path = tmp_path / 'kept' / 'tracking.log'
    log_path.parent.mkdir()
    temp_dir = tmp_path / 'temp'
    temp_dir.mkdir()
    result = _run_demo(str(log_path), temp_dir=temp_dir)
    logged = [json.loads(line)['name'] for line in log_path.read_text(encoding='utf-8').splitlines()]
    assert logged == ['navigation.request', 'navigation.request', 'address.create']
    assert f'The tracking log, {log_path}:' in result.stdout
    assert not list(temp_dir.iterdir())
