"""The documentation's examples run: every doctest example, and the quick start followed step by step.

* The Sphinx doctest builder runs every ``testcode``/``doctest`` block of
  ``docs/`` (in a separate process, with the docs' own Django settings).
* The quick start is followed as a newcomer would: ``track.py`` run in an
  empty directory; a Django project made with ``startproject``, the settings,
  view and URLs of the page added, ``migrate``, ``check``, ``runserver``, a
  request, ``manage.py shell``. Each tracking log must hold the lines the page
  shows (timestamps, and the host and user agent of the request, aside).
* The Celery example of the backends page is run the same way: the quick
  start project plus its Celery files, a real ``celery worker`` on a Redis
  broker on loopback, an event emitted from ``manage.py shell``.
* No Python example in ``docs/`` escapes these tests, and every
  ``pip install 'eventtracking[...]'`` names extras that exist.
* The examples in the docstrings the API reference shows run too: each one
  that is Python is executed, settings among them must pass the system
  checks, and the ones that are not Python (outputs, sketches) are listed.
"""

import html
import importlib
import importlib.metadata
import inspect
import json
import os
import posixpath
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import warnings
from datetime import datetime
from pathlib import Path

import pytest
from django.test import override_settings

from eventtracking import tracker
from eventtracking.django.checks import check_event_tracking_settings
from eventtracking.django.settings_tree import holds

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
QUICKSTART = DOCS / 'quickstart'
QUICKSTART_PAGE = DOCS / 'quickstart.rst'
BACKENDS_PAGE = DOCS / 'backends.rst'
TRACKING_LOG_PAGE = DOCS / 'tracking_log.rst'
MYSITE = QUICKSTART / 'mysite'

EXAMPLE_FILES = {
    QUICKSTART / 'track.py',
    MYSITE / 'settings_tail.py',
    MYSITE / 'views.py',
    MYSITE / 'urls.py',
    MYSITE / 'settings_celery.py',
    MYSITE / 'settings_celery_context.py',
    MYSITE / 'celery.py',
    MYSITE / '__init__.py',
    DOCS / 'testing' / 'test_with_testcase.py',
    DOCS / 'testing' / 'test_with_pytest.py',
    DOCS / 'replay' / 'replay_settings.py',
}
"""Files the docs show with ``literalinclude``; the quick start tests below run each of them."""

PLAIN_COMMANDS = [
    'python -m venv venv && . venv/bin/activate',
    'pip install ./eventtracking',
    'python track.py',
    'cat tracking.log',
]
DJANGO_COMMANDS = [
    "pip install './eventtracking[django]'",
    'django-admin startproject mysite',
    'cd mysite',
    'python manage.py migrate',
    'python manage.py check',
    'python manage.py runserver',
    'curl http://127.0.0.1:8000/enroll/course-v1:edX+DemoX+Demo/',
    'cat tracking.log',
    "python manage.py shell -c \"from eventtracking import tracker; "
    "tracker.emit('edx.shell.greeting.sent', {'greeting': 'hello'})\"",
    'tail -n 1 tracking.log',
]
"""The commands the quick start shows, in order; the tests below do what each says."""

CELERY_COMMANDS = [
    "pip install './eventtracking[django,celery]' 'celery[redis]'",
    'celery -A mysite worker --loglevel=INFO',
    "python manage.py shell -c \"from eventtracking import tracker; "
    "tracker.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo'})\"",
    'cat enrollments.log',
]
"""The commands of the Celery section of the backends page."""

VARYING_FIELDS = ('timestamp', 'host', 'agent')
"""Fields that differ from run to run or machine to machine (checked for shape, not value)."""


def _environment(**extra):
    """The environment of the commands: this interpreter's, without the test suite's Django settings."""
    env = dict(os.environ)
    env.pop('DJANGO_SETTINGS_MODULE', None)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    env.update(extra)
    return env


def _run(args, cwd, timeout=120, **extra_env):
    result = subprocess.run(args, cwd=cwd, env=_environment(**extra_env), capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f'{args} failed:\n{result.stdout}\n{result.stderr}'
    return result


def _section(page, title):
    """The text of the section headed ``title`` (up to the next heading of the same level)."""
    text = page.read_text(encoding='utf-8')
    start = text.index(f'\n{title}\n{"-" * len(title)}\n')
    following = re.search(r'\n[^\n]+\n-{3,}\n', text[start + 1:])
    return text[start:start + 1 + following.start()] if following else text[start:]


def _shown_commands(section):
    return [line.strip()[2:] for line in section.splitlines() if line.strip().startswith('$ ')]


def _shown_log_lines(section):
    return [json.loads(line.strip()) for line in section.splitlines() if line.strip().startswith('{"name"')]


def _logged(path):
    return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines()]


def _steady(event):
    """``event`` with the run-dependent fields replaced, after checking their shape."""
    event = json.loads(json.dumps(event))
    timestamp = event['timestamp']
    assert timestamp.endswith('+00:00') and datetime.fromisoformat(timestamp), timestamp
    event['timestamp'] = '<timestamp>'
    context = event.get('context', {})
    for field in VARYING_FIELDS[1:]:
        if field in context:
            assert isinstance(context[field], str) and context[field], (field, context)
            context[field] = f'<{field}>'
    return event


def _assert_same_lines(actual, shown):
    """The logged events equal the ones the page shows, key order included (it is the line format)."""
    assert [json.dumps(_steady(event)) for event in actual] == [json.dumps(_steady(event)) for event in shown]


def _shell_code(command):
    """The Python code of a ``python manage.py shell -c "..."`` command."""
    return command[command.index('-c "') + 4:-1]


def _start_project(directory, *settings_files, package_files=('views.py', 'urls.py')):
    """``startproject mysite`` in ``directory``, with the settings snippets appended and the files copied in."""
    _run([sys.executable, '-m', 'django', 'startproject', 'mysite'], cwd=directory)
    project = directory / 'mysite'
    with open(project / 'mysite' / 'settings.py', 'a', encoding='utf-8') as settings_file:
        for name in settings_files:
            settings_file.write('\n' + (MYSITE / name).read_text(encoding='utf-8'))
    for name in package_files:
        shutil.copy(MYSITE / name, project / 'mysite' / name)
    return project


def _wait_for_lines(path, count, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text(encoding='utf-8').splitlines()) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f'{process.args} exited with {process.returncode}:\n{process.stdout.read()}')
        time.sleep(0.1)
    pytest.fail(f'{path.name} did not get {count} line(s) within {timeout}s')


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    output = process.stdout.read()
    process.stdout.close()
    return output


def _free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
        return response.read().decode('utf-8')


def _wait_for_server(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f'runserver exited with {process.returncode}:\n{process.stdout.read()}')
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback only)
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f'runserver did not answer {url} within {timeout}s')


def test_the_quick_start_shows_the_commands_these_tests_follow():
    assert _shown_commands(_section(QUICKSTART_PAGE, 'Plain Python')) == PLAIN_COMMANDS
    assert _shown_commands(_section(QUICKSTART_PAGE, 'Django')) == DJANGO_COMMANDS


def test_plain_python_quick_start_writes_the_events_it_shows_to_tracking_log(tmp_path):
    shutil.copy(QUICKSTART / 'track.py', tmp_path / 'track.py')

    _run([sys.executable, 'track.py'], cwd=tmp_path)

    shown = _shown_log_lines(_section(QUICKSTART_PAGE, 'Plain Python'))
    assert len(shown) == 2
    _assert_same_lines(_logged(tmp_path / 'tracking.log'), shown)


@pytest.mark.server
def test_django_quick_start_writes_the_events_it_shows_to_tracking_log(tmp_path):
    section = _section(QUICKSTART_PAGE, 'Django')
    shown = _shown_log_lines(section)
    assert len(shown) == 2
    project = _start_project(tmp_path, 'settings_tail.py')

    _run([sys.executable, 'manage.py', 'migrate'], cwd=project)
    check = _run([sys.executable, 'manage.py', 'check'], cwd=project)
    assert 'System check identified no issues (0 silenced).' in check.stdout

    port = _free_port()
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, 'manage.py', 'runserver', '--noreload', f'127.0.0.1:{port}'],
        cwd=project, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f'http://127.0.0.1:{port}'
        _wait_for_server(f'{base}/admin/login/', server)
        curl_url = DJANGO_COMMANDS[6].split()[1]
        body = _get(curl_url.replace('http://127.0.0.1:8000', base))
    finally:
        _stop(server)
    assert body == 'Enrolled in course-v1:edX+DemoX+Demo\n'
    assert f'\n    $ {DJANGO_COMMANDS[6]}\n    {body.strip()}\n' in section
    _assert_same_lines(_logged(project / 'tracking.log'), shown[:1])

    _run([sys.executable, 'manage.py', 'shell', '-c', _shell_code(DJANGO_COMMANDS[8])], cwd=project)
    _assert_same_lines(_logged(project / 'tracking.log')[-1:], shown[1:])


def test_the_celery_example_shows_the_commands_its_test_follows():
    assert _shown_commands(_section(BACKENDS_PAGE, 'Celery: asynchronous routing')) == CELERY_COMMANDS


@pytest.mark.server
def test_celery_example_delivers_the_branch_from_a_real_worker(tmp_path, redis_server):
    shown = _shown_log_lines(_section(BACKENDS_PAGE, 'Celery: asynchronous routing'))
    assert len(shown) == 1
    project = _start_project(tmp_path, 'settings_tail.py', 'settings_celery.py',
                             package_files=('views.py', 'urls.py', 'celery.py', '__init__.py'))
    broker = {'CELERY_BROKER_URL': redis_server.url(7)}
    check = _run([sys.executable, 'manage.py', 'check'], cwd=project, **broker)
    assert 'System check identified no issues (0 silenced).' in check.stdout, check.stdout + check.stderr

    worker = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'celery', *CELERY_COMMANDS[1].split()[1:]],
        cwd=project, env=_environment(**broker), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _run([sys.executable, 'manage.py', 'shell', '-c', _shell_code(CELERY_COMMANDS[2])], cwd=project, **broker)
        _wait_for_lines(project / 'enrollments.log', 1, worker)
    finally:
        output = _stop(worker)
    assert 'eventtracking.tasks.send_event' in output
    _assert_same_lines(_logged(project / 'enrollments.log'), shown)
    assert [event['name'] for event in _logged(project / 'tracking.log')] == ['edx.course.enrollment.activated']


def test_the_replay_settings_file_runs_as_written_and_passes_the_checks(tmp_path):
    shutil.copy(DOCS / 'replay' / 'replay_settings.py', tmp_path)
    names = ['edx.course.enrollment.activated', 'edx.video.played', 'edx.course.enrollment.deactivated']
    (tmp_path / 'tracking.log').write_text(''.join(
        json.dumps({'name': name, 'timestamp': f'2026-01-15T09:3{index}:00+00:00', 'data': {'n': index},
                    'context': {'user_id': 7}}) + '\n' for index, name in enumerate(names)), encoding='utf-8')
    check = _run([sys.executable, '-m', 'django', 'check', '--settings', 'replay_settings'], cwd=tmp_path,
                 PYTHONPATH=str(tmp_path))
    assert 'System check identified no issues (0 silenced).' in check.stdout, check.stdout + check.stderr
    shown = [line.strip()[2:] for line in TRACKING_LOG_PAGE.read_text(encoding='utf-8').splitlines()
             if line.strip().startswith('$ eventtracking replay --settings replay_settings')]
    assert len(shown) == 1
    replay = _run([sys.executable, '-m', 'eventtracking', *shown[0].split()[1:-1], 'tracking.log'], cwd=tmp_path)
    assert replay.stderr == ("replayed 3 events, skipped 0 lines; not lost (filtered on purpose, skipped by a "
                             "backend or spooled): {'filtered': 1}\n")
    assert [event['name'] for event in _logged(tmp_path / 'xapi.log')] == [names[0], names[2]]


QUIETING_LINE = "LOGGING['loggers']['celery.pool'] = {'level': 'INFO'}"
TASK_MODULE = """
from celery import shared_task

from eventtracking import tracker


@shared_task(name='mysite.tasks.ran')
def ran():
    tracker.emit('edx.tests.task.ran', {})
"""


@pytest.mark.server
@pytest.mark.parametrize('quieted', [True, False], ids=['as-documented', 'without-the-logging-line'])
def test_celerys_debug_line_shows_context_values_unless_the_documented_logger_level_is_set(
        tmp_path, redis_server, quieted):
    settings_text = (MYSITE / 'settings_celery_context.py').read_text(encoding='utf-8')
    assert QUIETING_LINE in settings_text
    project = _start_project(tmp_path, 'settings_tail.py', 'settings_celery.py',
                             package_files=('views.py', 'urls.py', 'celery.py', '__init__.py'))
    with open(project / 'mysite' / 'settings.py', 'a', encoding='utf-8') as settings_file:
        settings_file.write('\n' + (settings_text if quieted else settings_text.replace(QUIETING_LINE, '')))
    (project / 'mysite' / 'tasks.py').write_text(TASK_MODULE, encoding='utf-8')
    broker = {'CELERY_BROKER_URL': redis_server.url(8)}
    check = _run([sys.executable, 'manage.py', 'check'], cwd=project, **broker)
    assert 'System check identified no issues (0 silenced).' in check.stdout, check.stdout + check.stderr

    worker = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'celery', '-A', 'mysite', 'worker', '--loglevel=DEBUG', '--pool=solo',
         '-I', 'mysite.tasks'],
        cwd=project, env=_environment(**broker), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _run([sys.executable, 'manage.py', 'shell', '-c',
              "from eventtracking import tracker; from mysite.tasks import ran\n"
              "with tracker.get_tracker().context('course', {'course_id': 'course-v1:Secret+Value+Run'}):\n"
              "    ran.delay()"], cwd=project, **broker)
        _wait_for_lines(project / 'tracking.log', 1, worker)
    finally:
        output = _stop(worker)
    ran_event, = _logged(project / 'tracking.log')
    assert ran_event['name'] == 'edx.tests.task.ran'
    assert ran_event['context']['course_id'] == 'course-v1:Secret+Value+Run'  # the header was entered
    assert 'mysite.tasks.ran' in output
    assert ('Secret+Value+Run' in output) is not quieted, output


TESTING_EXAMPLES = {'test_with_testcase.py': 4, 'test_with_pytest.py': 4}
"""The example test files of the testing page, and how many tests each holds."""


def test_the_testing_page_examples_pass_as_tests():
    paths = [str(DOCS / 'testing' / name) for name in TESTING_EXAMPLES]
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *paths],
        cwd=ROOT, env=_environment(DJANGO_SETTINGS_MODULE='tests.settings'), capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'{sum(TESTING_EXAMPLES.values())} passed' in result.stdout, result.stdout


def test_every_doctest_example_in_the_docs_passes(tmp_path):
    out = tmp_path / 'doctest'
    temp = tmp_path / 'temp'  # the examples' temporary files: each example removes its own
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-b', 'doctest', '-W', '--keep-going', '-q',
         '-d', str(tmp_path / 'doctrees'), str(DOCS), str(out)],
        cwd=ROOT, env=_environment(TMPDIR=str(temp)), capture_output=True, text=True, timeout=240, check=False,
    )
    assert not list(temp.iterdir()), f'left in the temporary directory: {list(temp.iterdir())}'
    report = (out / 'output.txt').read_text(encoding='utf-8') if (out / 'output.txt').exists() else ''
    assert result.returncode == 0, f'{report}\n{result.stdout}\n{result.stderr}'
    assert re.search(r'^\s+0 failures in tests$', report, re.M), report
    assert re.search(r'^\s+0 failures in setup code$', report, re.M), report
    assert re.search(r'^\s+0 failures in cleanup code$', report, re.M), report
    ran = int(re.search(r'^\s+(\d+) tests?$', report, re.M).group(1))
    blocks = 0
    for page in DOCS.glob('*.rst'):
        count = len(re.findall(r'^\s*\.\. (?:testcode|doctest)::', page.read_text(encoding='utf-8'), re.M))
        if count:
            assert f'Document: {page.stem}\n' in report, f'the examples of {page.name} did not run'
        blocks += count
    assert blocks and ran >= blocks, (ran, blocks)


CODE_DIRECTIVE = re.compile(r'^(\s*)\.\. (testcode|testoutput|testsetup|testcleanup|doctest|code-block|code)::')


def _prose_lines(text):
    """The lines of an reStructuredText page outside the content of code directives."""
    inside = None
    for line in text.splitlines():
        if inside is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > inside:
                continue
            inside = None
        match = CODE_DIRECTIVE.match(line)
        if match:
            inside = len(match.group(1))
            continue
        yield line


def test_no_python_example_in_the_docs_escapes_these_tests():
    untested = []
    for page in sorted(DOCS.glob('*.rst')):
        text = page.read_text(encoding='utf-8')
        for match in re.finditer(r'^\s*\.\. (?:code-block|code|sourcecode|highlight)::\s*(\S+)', text, re.M):
            if match.group(1).lower() in ('python', 'python3', 'py', 'py3', 'pycon', 'default'):
                untested.append(f'{page.name}: {match.group(0).strip()} (use testcode or doctest)')
        for line in _prose_lines(text):
            if line.rstrip().endswith('::') and not line.lstrip().startswith('..'):
                untested.append(f'{page.name}: a bare literal block after {line.strip()!r} (use testcode, or say its language)')
        for include in re.findall(r'^\s*\.\. literalinclude::\s*(\S+)', text, re.M):
            if (page.parent / include).resolve() not in EXAMPLE_FILES:
                untested.append(f'{page.name}: {include} is shown but no test runs it')
    assert not untested, '\n'.join(untested)


def test_every_install_command_names_extras_that_exist():
    extras = set(importlib.metadata.metadata('eventtracking').get_all('Provides-Extra') or ())
    named = {}
    for page in sorted(DOCS.glob('*.rst')) + [ROOT / 'README.rst']:
        for group in re.findall(r'eventtracking\[([^\]]+)\]', page.read_text(encoding='utf-8')):
            for extra in group.split(','):
                named.setdefault(extra.strip(), page.name)
    assert named
    missing = {extra: page for extra, page in named.items() if extra not in extras}
    assert not missing, f'extras named in the docs but not in setup.py: {missing}'


API_SKETCHES = {
    ('eventtracking.tracker', "{'name': ..., 'timestamp': <aware UTC datetime>"),
    ('eventtracking.processors.legacy', "{'name': 'edx.course.enrollment.activated', 'timestamp': <datetime>"),
    ('eventtracking.processors.legacy', "{'name': 'edx.course.enrollment.activated',"),
    ('eventtracking.processors.legacy', "'processors': [{'ENGINE': 'eventtracking.processors.legacy."),
    ('eventtracking.django.middleware', 'MIDDLEWARE = ['),
    ('eventtracking.django.checks', '?: (eventtracking.E001)'),
    ('eventtracking.testing.assertions', 'Event does not match the expected event'),
}
"""Literal blocks of the API docstrings that are not Python: (module, how the block starts)."""

API_FRAGMENTS = {
    ('eventtracking.testing.assertions', 'from eventtracking.testing import EventMatchTolerates, assert_event_matches'),
    ('eventtracking.testing.capture', 'from eventtracking.testing import EventCapture'),
}
"""Python blocks of the API docstrings that use a name the reader supplies (``actual_event``, ``enroll``):
compiled, not run."""


def _api_modules():
    return re.findall(r'^\.\. automodule:: (\S+)', (DOCS / 'api.rst').read_text(encoding='utf-8'), re.M)


def _literal_blocks(docstring):
    """The ``::`` literal blocks of a docstring, dedented."""
    lines = inspect.cleandoc(docstring).splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.rstrip().endswith('::') or line.lstrip().startswith('..'):
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        while index < len(lines) and (not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent):
            body.append(lines[index])
            index += 1
        if any(text.strip() for text in body):
            yield textwrap.dedent('\n'.join(body)).strip()


def _api_examples():
    """(module name, block) for every literal block in the docstrings of the modules the API reference shows."""
    for name in _api_modules():
        module = importlib.import_module(name)
        documented = [module]
        for member in vars(module).values():
            if (inspect.isclass(member) or inspect.isfunction(member)) and getattr(member, '__module__', None) == name:
                documented.append(member)
                if inspect.isclass(member):
                    documented.extend(value for value in vars(member).values() if inspect.isfunction(value))
        for item in documented:
            for block in _literal_blocks(item.__doc__ or ''):
                yield name, block


def _listed(listing, module, block):
    """The entry of ``listing`` this block is (the longest matching start), or ``(module, block)`` when none."""
    matching = [(known, start) for known, start in listing if known == module and block.startswith(start)]
    return max(matching, key=lambda entry: len(entry[1])) if matching else (module, block)


def _settings_of(block, namespace):
    """The Django settings an example defines: its ``EVENT_TRACKING_*`` names, or one ENGINE node as a backend."""
    settings = {key: value for key, value in namespace.items() if key.startswith('EVENT_TRACKING_')}
    if not settings and block.startswith('{'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', (DeprecationWarning, SyntaxWarning))
            node = eval(block, {})  # pylint: disable=eval-used
        if isinstance(node, dict) and 'ENGINE' in node:
            settings = {'EVENT_TRACKING_BACKENDS': {'example': node}}
    settings.setdefault('EVENT_TRACKING_ENABLED', True)
    return settings


def test_examples_in_the_api_docstrings_run_and_their_settings_pass_the_checks():
    sketches, fragments, checked = set(), set(), []
    saved = dict(tracker.TRACKERS)
    tracker.register_tracker(tracker.Tracker())
    try:
        for module, block in _api_examples():
            try:
                with warnings.catch_warnings():  # r'\.' written without the r in a docstring example: still Python
                    warnings.simplefilter('ignore', (DeprecationWarning, SyntaxWarning))
                    code = compile(block, f'<docstring example of {module}>', 'exec')
            except SyntaxError:
                sketches.add(_listed(API_SKETCHES, module, block))
                continue
            if _listed(API_FRAGMENTS, module, block) in API_FRAGMENTS:
                fragments.add(_listed(API_FRAGMENTS, module, block))
                continue
            namespace = {}
            exec(code, namespace)  # pylint: disable=exec-used
            settings = _settings_of(block, namespace)
            if len(settings) == 1 or holds(settings, lambda item: item is Ellipsis):
                continue
            settings.setdefault(  # an example of other settings configures no backend: give it one that checks
                'EVENT_TRACKING_BACKENDS', {'recorded': {'ENGINE': 'eventtracking.testing.InMemoryBackend'}})
            with override_settings(**settings):
                problems = [f'{message.id} {message.msg}' for message in check_event_tracking_settings()]
            assert not problems, f'the settings example of {module} does not pass the checks: {problems}'
            checked.append(module)
    finally:
        tracker.TRACKERS.clear()
        tracker.TRACKERS.update(saved)
    assert sketches == API_SKETCHES, 'docstring blocks that are not Python, other than the listed sketches'
    assert fragments == API_FRAGMENTS
    assert {'eventtracking.django.django_tracker', 'eventtracking.django.settings_tree',
            'eventtracking.testing.backends'} <= set(checked), checked


def _ids_and_links(html_dir):
    """The ``id`` attributes of each built page, and every (page, href) whose href has an anchor."""
    ids, links = {}, []
    for page in html_dir.rglob('*.html'):
        text = page.read_text(encoding='utf-8')
        name = page.relative_to(html_dir).as_posix()
        ids[name] = set(re.findall(r'\bid="([^"]+)"', text))
        links.extend((name, html.unescape(href)) for href in re.findall(r'\bhref="([^"]*#[^"]*)"', text))
    return ids, links


def _broken_anchors(html_dir):
    """Links into the built docs whose page or anchor does not exist, as ``page: href``."""
    ids, links = _ids_and_links(html_dir)
    broken = []
    for page, href in links:
        if re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:', href):
            continue  # an external address (http:, mailto:): not ours to check offline
        path, anchor = href.split('#', 1)
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path)) if path else page
        if target not in ids or (anchor and anchor not in ids[target]):
            broken.append(f'{page}: {href}')
    return broken


def test_the_html_docs_build_nitpicky_without_a_warning_and_every_internal_anchor_exists(tmp_path):
    html_dir = tmp_path / 'html'
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-n', '-W', '--keep-going', '-q', '-b', 'html',
         '-d', str(tmp_path / 'doctrees'), str(DOCS), str(html_dir)],
        cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr
    ids, links = _ids_and_links(html_dir)
    assert 'api.html' in ids and len(links) > 100, 'the build made too few pages or links for this check to mean much'
    assert not _broken_anchors(html_dir), '\n'.join(_broken_anchors(html_dir))
    # Field names ("Example:") must not wrap inside the word: the page loads the style sheet that says so.
    assert '_static/wrap.css' in (html_dir / 'configuration.html').read_text(encoding='utf-8')
    assert re.search(r'dl\.field-list > dt \{[^}]*white-space: nowrap',
                     (html_dir / '_static' / 'wrap.css').read_text(encoding='utf-8'))


def test_the_anchor_check_finds_a_broken_anchor(tmp_path):
    (tmp_path / '_modules').mkdir()
    (tmp_path / 'api.html').write_text('<dt id="eventtracking.stats.EventCounters">', encoding='utf-8')
    (tmp_path / '_modules' / 'stats.html').write_text(
        '<a href="../api.html#eventtracking.stats.EventCounters"></a>'
        '<a href="../api.html#eventtracking.tracker.EventCounters"></a>'
        '<a href="missing.html#top"></a><a href="https://example.org/#x"></a>', encoding='utf-8')
    assert _broken_anchors(tmp_path) == [
        '_modules/stats.html: ../api.html#eventtracking.tracker.EventCounters',
        '_modules/stats.html: missing.html#top',
    ]


def test_make_docs_and_the_tox_docs_env_build_nitpicky():
    makefile = (ROOT / 'Makefile').read_text(encoding='utf-8')
    docs_recipe = re.search(r'^docs:.*\n\t(.*)$', makefile, re.M).group(1)
    tox_docs = re.search(r'^\[testenv:docs\]\n(?:.*\n)*?commands = (.*)$', (ROOT / 'tox.ini').read_text(encoding='utf-8'),
                         re.M).group(1)
    for command in (docs_recipe, tox_docs):
        assert re.search(r'sphinx -n -W --keep-going -b html docs\b', command), command
    assert 'make docs' in (ROOT / '.ci' / 'run').read_text(encoding='utf-8')


def test_the_event_types_page_explains_every_option_of_the_catalog_directive_and_shows_the_one_it_runs():
    from eventtracking.sphinxext import EventTrackingCatalog  # pylint: disable=import-outside-toplevel
    text = (DOCS / 'event_types.rst').read_text(encoding='utf-8')
    explained = set(re.findall(r'^\* ``:(\w+):``: ', text, re.M))
    assert explained == set(EventTrackingCatalog.option_spec), explained
    assert 'the character that underlines the title' in text
    live = re.search(r'^\.\. eventtracking-catalog::\n((?:   .*\n)+)', text, re.M)
    shown = '    .. eventtracking-catalog::\n' + ''.join('    ' + line + '\n' for line in live.group(1).splitlines())
    assert shown in text, 'the example shown is the directive the page runs'
