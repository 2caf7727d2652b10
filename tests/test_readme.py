"""The README's Python examples run as shown and do what the README says."""

import json
import os
import re
import subprocess
import sys

import pytest

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


def file_blocks():
    """The README's Python blocks that start with a ``# <file>.py`` line: file name -> content."""
    return {match.group(1): block for block in python_blocks() if (match := re.match(r'# (\w+\.py)\n', block))}


def django_settings_block():
    (block,) = [block for block in python_blocks() if block.startswith('INSTALLED_APPS += ')]
    return block


def test_every_python_block_of_the_readme_is_run_by_these_tests():
    blocks = python_blocks()
    quick_start, counting, settings = blocks[0], [b for b in blocks if 'stats' in b], django_settings_block()
    assert len(counting) == 1
    files = file_blocks()
    assert set(files) == {'enrollment.py', 'test_enrollment.py'}
    (event_types,) = [block for block in blocks if 'eventtracking.registry' in block]
    untested = [block for block in blocks
                if block not in (quick_start, counting[0], settings, event_types, *files.values())]
    assert not untested, untested


def _environment():
    env = {key: value for key, value in os.environ.items() if key not in ('DJANGO_SETTINGS_MODULE', 'PYTHONPATH')}
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    return env


def _run(args, cwd):
    result = subprocess.run(args, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=180,
                            check=False)
    assert result.returncode == 0, f'{args} failed:\n{result.stdout}\n{result.stderr}'
    return result


def _readme_project(directory):
    """``django-admin startproject mysite`` with the README's settings block appended to its settings.py."""
    _run([sys.executable, '-m', 'django', 'startproject', 'mysite'], cwd=directory)
    project = directory / 'mysite'
    with open(project / 'mysite' / 'settings.py', 'a', encoding='utf-8') as settings_file:
        settings_file.write('\n' + django_settings_block())
    return project


ENROLL_VIEW = '''
from django.http import HttpResponse
from django.urls import path

from eventtracking import tracker


def enroll(request, course_id):
    tracker.emit('edx.course.enrollment.activated', {'course_id': course_id, 'mode': 'audit'})
    return HttpResponse('ok')


urlpatterns += [path('enroll/<str:course_id>/', enroll)]
'''

REQUEST = (
    "from django.test import Client; "
    "response = Client(HTTP_HOST='localhost').get('/enroll/course-v1:edX+DemoX+Demo/'); "
    "print(response.status_code)"
)


def test_the_django_settings_block_writes_every_event_to_the_tracking_log(tmp_path):
    project = _readme_project(tmp_path)
    with open(project / 'mysite' / 'urls.py', 'a', encoding='utf-8') as urls:
        urls.write(ENROLL_VIEW)

    check = _run([sys.executable, 'manage.py', 'check'], cwd=project)
    assert 'System check identified no issues (0 silenced).' in check.stdout, check.stdout + check.stderr
    request = _run([sys.executable, 'manage.py', 'shell', '-c', REQUEST], cwd=project)
    assert request.stdout.strip().splitlines()[-1] == '200', request.stdout + request.stderr
    _run([sys.executable, 'manage.py', 'shell', '-c',
          "from eventtracking import tracker; tracker.emit('edx.shell.greeting.sent', {'greeting': 'hello'})"],
         cwd=project)

    first, second = [json.loads(line) for line in (project / 'tracking.log').read_text().splitlines()]
    assert first['name'] == 'edx.course.enrollment.activated'
    assert first['data'] == {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'}
    assert first['context']['path'] == '/enroll/course-v1:edX+DemoX+Demo/'
    assert first['context']['user_id'] is None and first['context']['host']
    assert (second['name'], second['data'], second['context']) == ('edx.shell.greeting.sent', {'greeting': 'hello'}, {})


def test_the_testing_examples_pass_as_tests_in_a_project_with_the_readme_settings(tmp_path):
    project = _readme_project(tmp_path)
    for name, content in file_blocks().items():
        (project / name).write_text(content, encoding='utf-8')
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        (ini,) = re.findall(r'\.\. code-block:: ini\n\n((?:    .*\n|\n)+)', readme.read())
    (project / 'pytest.ini').write_text(re.sub(r'^    ', '', ini, flags=re.M), encoding='utf-8')

    result = subprocess.run([sys.executable, '-m', 'pytest', '-v', '-p', 'no:cacheprovider', 'test_enrollment.py'],
                            cwd=project, env=_environment(), capture_output=True, text=True, timeout=180, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    for test in ('EnrollmentTest::test_enroll_emits', 'EnrollmentTest::test_enroll_emits_the_mode',
                 'test_enroll_emits_once'):
        assert re.search(rf'test_enrollment\.py::{test} PASSED', result.stdout), result.stdout
    assert '3 passed' in result.stdout


def test_what_the_readme_says_about_comparing_the_payload_holds_for_a_real_event():
    from eventtracking.testing import (  # pylint: disable=import-outside-toplevel
        EventMatchTolerates, InMemoryBackend, assert_event_matches,
    )
    from eventtracking.tracker import Tracker  # pylint: disable=import-outside-toplevel

    backend = InMemoryBackend()
    emitter = Tracker(backends={'mem': backend})
    with emitter.context('request', {'user_id': 10938}):
        emitter.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'})
    (event,) = backend.events
    partial = {'name': 'edx.course.enrollment.activated', 'data': {'course_id': 'course-v1:edX+DemoX+Demo'}}

    with pytest.raises(AssertionError, match='data.mode: only defined in actual'):
        assert_event_matches(partial, event)
    assert_event_matches(partial, event, tolerate=EventMatchTolerates.lenient())
    assert_event_matches({'name': event['name'], 'data': dict(event['data'])}, event)


def test_the_readme_is_valid_restructuredtext():
    from docutils.core import publish_string  # pylint: disable=import-outside-toplevel
    from docutils.utils import SystemMessage  # pylint: disable=import-outside-toplevel

    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        text = readme.read()
    try:
        publish_string(text, writer='null', settings_overrides={'halt_level': 2, 'report_level': 5})
    except SystemMessage as exc:  # a warning or worse: PyPI would show the README as plain text
        pytest.fail(str(exc))


def test_the_readme_event_type_lines_define_register_and_emit_after_the_quick_start(tmp_path):
    quick_start, *others = python_blocks()
    (lines,) = [block for block in others if 'eventtracking.registry' in block]
    assert len(lines.strip().splitlines()) == 3
    script = tmp_path / 'event_types.py'
    script.write_text(quick_start + '\n' + lines + '\nprint(ENROLLED.json_schema()["required"])\n', encoding='utf-8')
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True,
                            timeout=60)
    assert result.stdout.strip() == "['course_id']"
    logged = [json.loads(line) for line in (tmp_path / 'tracking.log').read_text().splitlines()]
    assert [event['data'] for event in logged] == [{'course_id': 'course-v1:edX+DemoX+Demo'}] * 2


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


def test_the_readme_says_the_testing_example_needs_pytest_django_and_the_class_alone_runs_with_manage_py(tmp_path):
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        text = readme.read()
    assert 'pytest-django' in text[text.index('# test_enrollment.py'):text.index('Event types\n')]
    project = _readme_project(tmp_path)
    for name, content in file_blocks().items():
        (project / name).write_text(content, encoding='utf-8')
    result = subprocess.run([sys.executable, 'manage.py', 'test', 'test_enrollment'], cwd=project,
                            env=_environment(), capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Ran 2 tests' in result.stderr


def _checkout_copy(directory):
    """A copy of this checkout's files (no virtual environments, builds or caches), as a user's clone has."""
    import shutil  # pylint: disable=import-outside-toplevel
    target = directory / 'eventtracking'
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(
        '.git', '.venv*', '_build', 'build', 'dist', '*.egg-info', '__pycache__', '.pytest_cache', '.tox'))
    return target


def test_the_readme_installs_from_a_checkout_or_a_built_wheel_never_from_pypi(tmp_path):
    with open(os.path.join(ROOT, 'README.rst'), encoding='utf-8') as readme:
        text = readme.read()
    installing = text[text.index('\nInstalling\n'):text.index('\nDjango\n')]
    assert not re.search(r"^ +(\$ )?pip install '?eventtracking\b", text, re.M), 'the package is not on PyPI'
    assert "pip install './eventtracking[django]'" in installing and 'python -m build' in installing
    assert "pip install '.[django]'" in installing

    checkout = _checkout_copy(tmp_path)
    wheels = tmp_path / 'dist'
    # built as `python -m build` builds it: in an isolated environment with setuptools from the package index
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-w', str(wheels), str(checkout)], cwd=tmp_path)
    (wheel,) = wheels.glob('eventtracking-*-py3-none-any.whl')
    import eventtracking  # pylint: disable=import-outside-toplevel
    assert wheel.name == f'eventtracking-{eventtracking.__version__}-py3-none-any.whl'
    assert wheel.name in installing, 'the wheel the README names is the one the build writes'

    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)], cwd=tmp_path)
    _run([str(venv / 'bin' / 'pip'), 'install', '--no-index', str(wheel)], cwd=tmp_path)  # the core needs nothing else
    script = tmp_path / 'quick_start.py'
    script.write_text(python_blocks()[0], encoding='utf-8')
    _run([str(venv / 'bin' / 'python'), str(script)], cwd=tmp_path)
    (line,) = (tmp_path / 'tracking.log').read_text(encoding='utf-8').splitlines()
    assert json.loads(line)['name'] == 'edx.course.enrollment.activated'
