"""The README's demo prints the package description's three events."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_prints_the_three_seed_events_and_the_filtered_branch():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'examples', 'demo.py')],
        capture_output=True, text=True, check=True, timeout=60,
    )
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
