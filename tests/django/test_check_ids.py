"""The one table of check ids (eventtracking.django.check_ids) agrees with the code and with the docs."""

import ast
import re
from pathlib import Path

from django.core.checks import registry

import eventtracking
from eventtracking.django import check_ids, checks
from eventtracking.django.check_ids import CHECK_IDS, TAG

PACKAGE = Path(eventtracking.__file__).parent
DOCS = Path(__file__).parents[2] / 'docs'
TABLE = Path(check_ids.__file__)
CHECK_ID = re.compile(r'eventtracking\.[CEWI]\d{3}')


def ids_in_the_code():
    """Each check id written as a string of its own in the package's source (not the table), with its files."""
    found = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        if path == TABLE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CHECK_ID.fullmatch(node.value):
                found.setdefault(node.value, []).append(str(path.relative_to(PACKAGE.parent)))
    return found


def ids_in_the_docs():
    """The ids of the table in the System checks section of docs/configuration.rst."""
    text = (DOCS / 'configuration.rst').read_text(encoding='utf-8')
    section = text[text.index('.. _system-checks:'):]
    section = section[:section.index('All the problems of a configuration')]
    return re.findall(r'^   \* - ``(eventtracking\.[CEWI]\d{3})``$', section, re.M)


def test_the_table_is_sorted_and_each_meaning_is_one_line():
    assert list(CHECK_IDS) == sorted(CHECK_IDS)
    for check_id, meaning in CHECK_IDS.items():
        assert CHECK_ID.fullmatch(check_id), check_id
        assert meaning and '\n' not in meaning and meaning == meaning.strip(), check_id


def test_every_check_id_in_the_code_is_in_the_table():
    missing = {check_id: files for check_id, files in ids_in_the_code().items() if check_id not in CHECK_IDS}
    assert not missing, f'add these to eventtracking/django/check_ids.py: {missing}'


def test_every_check_id_in_the_table_is_used_in_the_code():
    unused = sorted(set(CHECK_IDS) - set(ids_in_the_code()))
    assert not unused, f'listed in eventtracking/django/check_ids.py but used by no check: {unused}'


def test_each_check_id_is_written_in_one_module_only():
    """Two checks written in parallel that took the same id are caught here: define an id once, import it elsewhere."""
    shared = {check_id: files for check_id, files in ids_in_the_code().items() if len(set(files)) > 1}
    assert not shared, f'one id, several modules (two checks took the same id?): {shared}'


def test_the_docs_explain_exactly_the_ids_of_the_table():
    documented = ids_in_the_docs()
    assert len(documented) == len(set(documented)), 'an id is explained twice'
    assert set(documented) == set(CHECK_IDS)


def test_the_checks_are_registered_where_they_are_defined_under_the_tag():
    ours = {check for check in registry.registry.get_checks() if check.__module__.startswith('eventtracking.')}
    assert {checks.check_event_tracking_settings, checks.check_event_types} <= ours
    for check in ours:
        assert TAG in check.tags, check
        assert check.__module__.startswith('eventtracking.django.'), check


def test_the_id_scan_finds_ids_in_constants_and_in_calls():
    assert 'eventtracking/processors/regex_filter.py' in ids_in_the_code()['eventtracking.E007']
    assert 'eventtracking/django/checks.py' in ids_in_the_code()['eventtracking.W081']
