"""RateLimitedLog: the first line of a kind at once, then one per interval with the count held back."""

import logging

from eventtracking.events import NAME_LIMIT, safe_name
from eventtracking.ratelimit import RateLimitedLog, reset_all


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(caplog, **kwargs):
    clock = Clock()
    caplog.set_level(logging.DEBUG, logger='tests.ratelimit')
    return RateLimitedLog(logging.getLogger('tests.ratelimit'), interval=60, clock=clock, **kwargs), clock


def messages(caplog):
    return [record.getMessage() for record in caplog.records if record.name == 'tests.ratelimit']


def test_first_line_of_a_kind_is_written_then_held_back_within_the_interval(caplog):
    log, clock = make(caplog)
    assert log.warning('a', 'failed %s', 1)
    for second in range(1, 60):
        clock.now += 0.99
        assert not log.warning('a', 'failed %s', second)
    assert messages(caplog) == ['failed 1']


def test_next_line_after_the_interval_says_how_many_were_suppressed(caplog):
    log, clock = make(caplog)
    log.warning('a', 'failed')
    log.warning('a', 'failed')
    log.warning('a', 'failed')
    clock.now += 60
    assert log.warning('a', 'failed again')
    clock.now += 60
    log.warning('a', 'failed once more')
    assert messages(caplog) == [
        'failed',
        'failed again (2 similar lines suppressed in the last 60 s)',
        'failed once more',
    ]


def test_kinds_are_limited_separately(caplog):
    log, _ = make(caplog)
    log.error(('mongo', 'backed_off'), 'one')
    log.error(('mongo', 'backend_error'), 'two')
    log.error(('mongo', 'backed_off'), 'three')
    assert messages(caplog) == ['one', 'two']


def test_exception_attaches_the_traceback(caplog):
    log, _ = make(caplog)
    try:
        raise RuntimeError('boom')
    except RuntimeError:
        log.exception('k', 'it failed')
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info[0] is RuntimeError


def test_a_disabled_level_is_not_remembered(caplog):
    log, _ = make(caplog)
    caplog.set_level(logging.ERROR, logger='tests.ratelimit')
    assert not log.warning('k', 'quiet')
    caplog.set_level(logging.DEBUG, logger='tests.ratelimit')
    assert log.warning('k', 'heard')
    assert messages(caplog) == ['heard']


def test_oldest_kind_is_forgotten_past_max_kinds(caplog):
    log, _ = make(caplog, max_kinds=2)
    log.info('a', 'a1')
    log.info('b', 'b1')
    log.info('c', 'c1')
    log.info('a', 'a2')
    log.info('c', 'c2')
    assert messages(caplog) == ['a1', 'b1', 'c1', 'a2']


def test_reset_forgets_every_kind(caplog):
    log, _ = make(caplog)
    log.info('a', 'first')
    log.reset()
    log.info('a', 'second')
    assert messages(caplog) == ['first', 'second']


class Hostile:
    def __repr__(self):
        raise ValueError('no repr for you')


def test_safe_name_never_raises_and_cuts_long_names():
    assert safe_name('edx.course.enrollment.activated') == "'edx.course.enrollment.activated'"
    assert safe_name(None) == 'None'
    assert safe_name(Hostile()) == '<unprintable Hostile>'
    long = safe_name('x' * 1000)
    assert len(long) == NAME_LIMIT and long.endswith('...')


def test_reset_all_forgets_the_kinds_of_every_instance(caplog):
    first, _ = make(caplog)
    second, _ = make(caplog)
    first.info('a', 'first a')
    second.info('a', 'second a')
    reset_all()
    first.info('a', 'first again')
    second.info('a', 'second again')
    assert messages(caplog) == ['first a', 'second a', 'first again', 'second again']


def test_max_lines_caps_the_lines_of_all_kinds_per_interval_and_says_how_many_it_held_back(caplog):
    log, clock = make(caplog, max_lines=3)
    for number in range(10):
        log.warning(('unregistered', f'/u/user{number}'), 'line %d', number)
    assert messages(caplog) == ['line 0', 'line 1', 'line 2']
    clock.now += 60
    log.warning(('unregistered', '/u/late'), 'late')
    log.warning(('unregistered', '/u/user0'), 'line 0 again')
    assert messages(caplog)[3:] == [
        'late (7 lines of other kinds suppressed: over 3 a 60 s)',
        'line 0 again',
    ]
