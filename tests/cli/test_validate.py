"""eventtracking validate: every line holds an event; with --catalog, the registry's problems per event."""

import sys
import types
from unittest import mock

from eventtracking.cli import main
from tests.cli.helpers import TUTOR_PREFIX, gzip_file, run_cli, sample_events, write_log


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
