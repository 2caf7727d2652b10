"""RegexFilter: allow or block events by name, checked at construction."""

import pytest

from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.processors import regex_filter
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.processors.regex_filter import ALLOWLIST, BLOCKLIST, RegexFilter


def passes(processor, name):
    try:
        return processor({'name': name}) == {'name': name}
    except EventEmissionExit:
        return False


def test_constants_and_defaults():
    assert ALLOWLIST == 'allowlist' and BLOCKLIST == 'blocklist'
    default = RegexFilter()
    assert default.filter_type == ALLOWLIST
    assert not passes(default, 'anything')


def test_allowlist_lets_only_matching_names_through():
    processor = RegexFilter(ALLOWLIST, ['edx.course.enrollment.activated', r'edx\.video\..*'])
    assert passes(processor, 'edx.course.enrollment.activated')
    assert passes(processor, 'edx.video.played')
    assert not passes(processor, 'edx.course.enrollment.deactivated')
    assert not passes(processor, 'problem_check')


def test_blocklist_stops_matching_names():
    processor = RegexFilter(BLOCKLIST, [r'edx\.bi\.'])
    assert not passes(processor, 'edx.bi.user.signed_in')
    assert passes(processor, 'edx.course.enrollment.activated')
    assert passes(RegexFilter(BLOCKLIST), 'everything')


def test_matching_is_anchored_at_the_start_only():
    processor = RegexFilter(ALLOWLIST, ['course'])
    assert passes(processor, 'course.enrollment')
    assert not passes(processor, 'edx.course')
    assert passes(RegexFilter(ALLOWLIST, ['edx']), 'edx.anything.after')


@pytest.mark.parametrize('expressions', [
    ['(unclosed'],
    ['ok', '*bad'],
    [r'(?i)lower', r'edx(?i)'],
])
def test_invalid_expression_raises_at_construction(expressions):
    message = r"RegexFilter options\['regular_expressions'\]\[\d\]: .* is not a valid regular expression"
    with pytest.raises(ImproperlyConfigured, match=message):
        RegexFilter(ALLOWLIST, expressions)


@pytest.mark.parametrize('expressions', ['edx.*', b'edx', 5, [5]])
def test_expressions_must_be_a_list_of_strings(expressions):
    with pytest.raises(ImproperlyConfigured):
        RegexFilter(ALLOWLIST, expressions)


@pytest.mark.parametrize('filter_type', ['whitelist', 'ALLOWLIST', None, ''])
def test_unknown_filter_type_raises_at_construction(filter_type):
    with pytest.raises(ImproperlyConfigured, match='filter type'):
        RegexFilter(filter_type, ['x'])


def test_expressions_keep_their_own_meaning_when_combined():
    processor = RegexFilter(ALLOWLIST, ['(?i)upper', r'(a)\1b', 'x|y', 'exact$'])
    assert passes(processor, 'UPPER.case')
    assert passes(processor, 'aab')
    assert passes(processor, 'y.z')
    assert passes(processor, 'exact')
    assert not passes(processor, 'exactly')
    assert not passes(processor, 'ab')


def test_public_attributes_are_the_originals():
    processor = RegexFilter(BLOCKLIST, ['a', r'b\.c'])
    assert processor.regular_expressions == frozenset({'a', r'b\.c'})
    assert [pattern.pattern for pattern in processor.compiled_expressions] == ['a', r'b\.c']
    assert processor.filter_type == BLOCKLIST


def test_many_expressions_are_one_pattern():
    processor = RegexFilter(ALLOWLIST, ['a', 'b', 'c'])
    assert len(processor._patterns) == 1  # pylint: disable=protected-access
    assert passes(processor, 'c')


def test_module_logger_name():
    assert regex_filter.logger.name == 'eventtracking.processors.regex_filter'


def test_check_options_names_each_bad_value_at_its_setting_path():
    path = "EVENT_TRACKING_PROCESSORS[0]['OPTIONS']"

    problems = RegexFilter.check_options({'filter_type': 'both', 'regular_expressions': ['ok', 5, 'edx.(']}, path)

    assert [(problem.check_id, problem.path) for problem in problems] == [
        ('eventtracking.E008', f"{path}['filter_type']"),
        ('eventtracking.E007', f"{path}['regular_expressions'][1]"),
        ('eventtracking.E007', f"{path}['regular_expressions'][2]"),
    ]
    assert problems[1].message == '5 is not a string'
    assert RegexFilter.check_options({'filter_type': BLOCKLIST, 'regular_expressions': ['edx']}, path) == []
    assert RegexFilter.check_options({}, path) == []
