"""RegexFilter remembers whether a name matched: bounded, and still right."""

from eventtracking.processors import regex_filter
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.processors.regex_filter import ALLOWLIST, BLOCKLIST, RegexFilter


def passes(processor, name):
    try:
        return processor({'name': name}) is not None
    except EventEmissionExit:
        return False


def test_verdicts_stay_right_when_a_name_comes_again():
    processor = RegexFilter(ALLOWLIST, [r'edx\.video\.', 'problem_check$'])
    for _ in range(3):
        assert passes(processor, 'edx.video.played')
        assert passes(processor, 'problem_check')
        assert not passes(processor, 'problem_check_fail')
        assert not passes(processor, 'edx.course.enrollment.activated')


def test_remembered_names_are_bounded_and_names_past_the_bound_are_still_matched(monkeypatch):
    monkeypatch.setattr(regex_filter, 'REMEMBERED_NAMES', 10)
    processor = RegexFilter(ALLOWLIST, [r'keep\.'])
    for number in range(50):
        assert passes(processor, f'keep.{number}')
        assert not passes(processor, f'drop.{number}')
    assert len(processor._matches) == 10  # pylint: disable=protected-access
    assert passes(processor, 'keep.49') and not passes(processor, 'drop.49')


def test_changing_the_filter_type_later_still_applies_to_remembered_names():
    processor = RegexFilter(ALLOWLIST, ['a'])
    assert passes(processor, 'a.b') and not passes(processor, 'b')
    processor.filter_type = BLOCKLIST
    assert not passes(processor, 'a.b') and passes(processor, 'b')


def test_str_subclass_names_are_matched_but_not_remembered():
    class Name(str):
        pass

    processor = RegexFilter(ALLOWLIST, ['a'])
    assert passes(processor, Name('a.b'))
    assert not passes(processor, Name('b'))
    assert processor._matches == {}  # pylint: disable=protected-access


def test_long_names_are_matched_but_not_remembered():
    processor = RegexFilter(ALLOWLIST, [r'/courses/'])
    long_path = '/courses/' + 'x' * 5000
    assert passes(processor, long_path) and not passes(processor, '/u/' + 'y' * 5000)
    assert processor._matches == {}  # pylint: disable=protected-access
    assert passes(processor, '/courses/short')
    assert list(processor._matches) == ['/courses/short']  # pylint: disable=protected-access
