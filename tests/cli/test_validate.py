"""eventtracking validate: every line holds an event; with --catalog, the registry's problems per event."""

import sys
import types
from unittest import mock

import pytest

from eventtracking.cli import main
from tests.cli.helpers import TUTOR_PREFIX, gzip_file, run_cli, sample_events, write_log
from tests.cli.test_main import CONSOLE_SCRIPT


def test_a_good_log_passes(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(), legacy=True, prefix=TUTOR_PREFIX)
    result = run_cli('validate', path, gzip_file(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, '12 events checked in 2 files: 0 problems\n', '')


def test_every_bad_line_is_reported_and_the_status_is_1(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(2))
    with open(path, 'a', encoding='utf-8') as log:
        log.write('oops\n{"name": "a", "data": {}}\n{"name": "b", "timestamp": "2024-13-01"}\n')
    result = run_cli('validate', path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'{path}:3: no JSON object on the line',
        f'{path}:4: the event has no timestamp',
        f"{path}:5: the timestamp '2024-13-01' is not ISO 8601",
    ]
    assert result.stdout == '2 events checked in 1 file: 3 problems\n'


def test_catalog_without_the_registry_exits_2(tmp_path, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    with mock.patch.dict(sys.modules, {'eventtracking.registry': None}):
        assert main(['validate', str(path), '--catalog', 'json']) == 2
    assert capsys.readouterr().err == (
        'eventtracking validate: --catalog needs eventtracking.registry, which this version of eventtracking '
        'does not have\n')


def test_catalog_module_that_cannot_be_imported_exits_2(tmp_path, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    registry = types.ModuleType('eventtracking.registry')
    registry.event_problems = lambda event: []
    with mock.patch.dict(sys.modules, {'eventtracking.registry': registry}):
        assert main(['validate', str(path), '--catalog', 'tests.cli.no_such_catalog']) == 2
    assert "--catalog tests.cli.no_such_catalog: cannot import it: ModuleNotFoundError" in capsys.readouterr().err


def test_catalog_problems_are_reported_per_line(tmp_path, capsys):
    """The registry is another issue's work: a stand-in module checks only the wiring (looked up per call)."""
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3))
    registry = types.ModuleType('eventtracking.registry')
    registry.event_problems = lambda event: ['never called: replaced below']
    seen = []

    def event_problems(event):
        seen.append(event)
        return [] if event['name'] == 'edx.video.played' else [f'{event["name"]}: not a registered event type']

    with mock.patch.dict(sys.modules, {'eventtracking.registry': registry}), \
            mock.patch.object(registry, 'event_problems', event_problems, create=True):
        status = main(['validate', str(path), '--catalog', 'json'])
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f'{path}:2: edx.course.enrollment.activated: not a registered event type',
        f'{path}:3: problem_check: not a registered event type',
    ]
    assert [event['timestamp'] for event in seen] == [event['timestamp'] for event in sample_events(3)]


CATALOG = '''
from eventtracking.registry import EventType, Field, register

register(EventType('edx.video.played', 'A learner played a video.', fields={
    'i': Field(int, 'Position in the test log.'),
    'text': Field(str, 'Some text.'),
    'nested': Field(dict, 'Anything nested.'),
}))
register(EventType('problem_check', 'A learner checked a problem.', fields={
    'i': Field(str, 'Declared a string, so the logged integers fail.'),
}))
'''


def test_catalog_with_the_real_registry(tmp_path):
    pytest.importorskip('eventtracking.registry')
    (tmp_path / 'my_catalog.py').write_text(CATALOG)
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3), legacy=True, prefix=TUTOR_PREFIX)
    result = run_cli('validate', '--catalog', 'my_catalog', path, cwd=tmp_path,
                     command=[str(CONSOLE_SCRIPT)])
    assert result.returncode == 1
    assert result.stdout == '3 events checked in 1 file: 2 problems\n'
    problems = result.stderr.splitlines()
    assert len(problems) == 2
    assert problems[0].startswith(f'{path}:2: ') and 'edx.course.enrollment.activated' in problems[0]
    assert problems[1].startswith(f'{path}:3: problem_check: data.i: ')


def test_catalog_whose_registry_needs_a_missing_extra_exits_2(tmp_path, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    with mock.patch.dict(sys.modules, {'eventtracking.registry': None, 'jsonschema_rs': None}):
        sys.modules.pop('eventtracking.registry')
        status = main(['validate', str(path), '--catalog', 'json'])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and error.startswith('eventtracking validate: --catalog')
