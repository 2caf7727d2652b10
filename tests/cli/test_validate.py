"""eventtracking validate: every line holds an event; with --catalog, the registry's problems per event."""

import gzip
import json
import sys
from unittest import mock

from eventtracking.catalog import load, render
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


def test_catalog_module_that_cannot_be_imported_exits_2(tmp_path, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    assert main(['validate', str(path), '--catalog', 'tests.cli.no_such_catalog']) == 2
    error = capsys.readouterr().err
    assert error == ('eventtracking validate: --catalog tests.cli.no_such_catalog: cannot import it: '
                     "ModuleNotFoundError: No module named 'tests.cli.no_such_catalog'\n")


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


def test_catalog_subcommand_prints_the_types_a_module_registers(tmp_path):
    (tmp_path / 'my_catalog.py').write_text(CATALOG)
    markdown = run_cli('catalog', '--module', 'my_catalog', cwd=tmp_path, command=[str(CONSOLE_SCRIPT)])
    assert markdown.returncode == 0, markdown.stderr
    assert 'edx.video.played' in markdown.stdout and 'A learner checked a problem.' in markdown.stdout
    rst = run_cli('catalog', '--module', 'my_catalog', '--format', 'rst', cwd=tmp_path)
    assert rst.returncode == 0 and 'edx.video.played' in rst.stdout and '---' in rst.stdout
    as_json = run_cli('catalog', '--module', 'my_catalog', '--format', 'json', cwd=tmp_path)
    catalog = json.loads(as_json.stdout)
    assert catalog['catalog_version'] == 1
    assert [event_type['name'] for event_type in catalog['event_types']] == ['edx.video.played', 'problem_check']
    assert render('json', load(as_json.stdout)) == as_json.stdout


def test_catalog_subcommand_with_a_module_that_cannot_be_imported_exits_2(tmp_path):
    result = run_cli('catalog', '--module', 'no_such_catalog_module', cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith('eventtracking catalog: --module no_such_catalog_module: cannot import it')
    assert result.stderr.count('\n') == 1 and result.stdout == ''


def test_a_truncated_gzip_is_reported_with_its_line_and_the_next_file_is_checked(tmp_path):
    whole = tmp_path / 'whole.log'
    write_log(whole, sample_events(3))
    data = gzip.compress(whole.read_bytes())
    truncated = tmp_path / 'truncated.log.gz'
    truncated.write_bytes(data[:-12])  # the last block and the trailer cut off
    result = run_cli('validate', truncated, whole)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    where, reason = result.stderr.rsplit(': ', 1)
    assert where.startswith(f'{truncated}:') and reason == 'gzip stream truncated\n'
    read_before = int(where.rsplit(':', 1)[1]) - 1
    assert read_before < 3
    assert result.stdout == f'{read_before + 3} events checked in 2 files: 1 problem\n'


def test_a_name_with_control_characters_is_shown_escaped(tmp_path):
    (tmp_path / 'my_catalog.py').write_text(CATALOG)
    path = tmp_path / 'tracking.log'
    path.write_text(json.dumps({'name': 'evil\n\x1b[2J', 'timestamp': '2024-03-01T08:00:00Z'}) + '\n')
    result = run_cli('validate', '--catalog', 'my_catalog', path, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"{path}:1: 'evil\\n\\x1b[2J': not a registered event type\n"
