"""The README's Python examples run as shown and do what the README says."""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks():
    """The README's ``.. code-block:: python`` blocks, dedented, in order."""
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        text = readme.read()
    blocks = re.findall(r'\.\. code-block:: python\n\n((?:    .*\n|\n)+)', text)
    return [re.sub(r'^    ', '', block, flags=re.M) for block in blocks]


def test_quick_start_writes_the_tracking_log_and_counts_an_oversize_event(tmp_path):
    quick_start, *others = python_blocks()
    counting = next(block for block in others if 'stats' in block)
    script = tmp_path / 'quick_start.py'
    script.write_text(quick_start + '\n' + counting)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            check=True, timeout=60)
    (line,) = (tmp_path / 'tracking.log').read_text().splitlines()
    event = json.loads(line)
    assert event['name'] == 'edx.course.enrollment.activated'
    assert event['context'] == {'user_id': 10938}
    assert event['data'] == {'course_id': 'course-v1:edX+DemoX+Demo'}
    assert result.stdout.strip() == "{'oversize': 1}"
    assert "'edx.too.big'" in result.stderr and 'oversize' in result.stderr


def test_readme_names_the_two_fresh_clone_commands_and_ci_runs_the_test_one():
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        text = readme.read()
    assert 'make demo' in text and 'make test' in text
    with open(os.path.join(ROOT, '.ci', 'run'), encoding='utf-8') as ci:
        assert 'make test' in ci.read()


def test_stats_shown_after_the_quick_start_is_what_the_command_prints(tmp_path):
    quick_start = python_blocks()[0]
    (tmp_path / 'quick_start.py').write_text(quick_start)
    subprocess.run([sys.executable, 'quick_start.py'], cwd=tmp_path, check=True, timeout=60)
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        shown = re.search(r'    \$ eventtracking stats tracking.log\n((?:    .*\n|\n)+?)\n\S', readme.read()).group(1)
    shown = re.sub(r'^    ', '', shown, flags=re.M)
    result = subprocess.run([sys.executable, '-m', 'eventtracking', 'stats', 'tracking.log'], cwd=tmp_path,
                            capture_output=True, text=True, check=True, timeout=60)
    hour = r'\d{4}-\d\d-\d\dT\d\d'
    assert re.sub(hour, 'HOUR', result.stdout) == re.sub(hour, 'HOUR', shown)
