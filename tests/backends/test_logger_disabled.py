"""LoggerBackend counts as ``disabled`` the events its logger would not write, as :mod:`logging` itself decides.

An event is written when ``logger.isEnabledFor(level)`` (the logger is not
``disabled``, ``logging.disable`` does not cover the level, the effective level
is at or below it) and a handler exists up the hierarchy (following
``propagate``), or else :data:`logging.lastResort` takes the line (WARNING and
above only).
"""

import logging

import pytest

from eventtracking.backends.logger import LoggerBackend
from eventtracking.tracker import Tracker

NAME = 'tests.tracking.disabled'


class ListHandler(logging.Handler):
    def __init__(self, level=logging.NOTSET):
        super().__init__(level)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def tracking_logger():
    """The tracking logger, with no handler, no level and no propagation: as each test sets it.

    It inherits WARNING from its parent, as from a root logger left as it is.
    """
    logger = logging.getLogger(NAME)
    parent = logging.getLogger(NAME.rsplit('.', 1)[0])
    saved = logger.handlers[:], logger.level, logger.propagate, logger.disabled
    logger.handlers[:] = []
    logger.setLevel(logging.NOTSET)
    logger.propagate = False
    parent.setLevel(logging.WARNING)
    yield logger
    parent.setLevel(logging.NOTSET)
    logger.handlers[:], level, logger.propagate, logger.disabled = saved
    logger.setLevel(level)


@pytest.fixture
def library_log():
    handler = ListHandler()
    logger = logging.getLogger('eventtracking.backends.logger')
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def emit_three(level='info'):
    tracker = Tracker(backends={'log': LoggerBackend(name=NAME, level=level)})
    for number in range(3):
        tracker.emit('edx.test.disabled', {'number': number})
    return tracker


def test_a_handler_but_no_level_set_filters_info_lines_they_are_counted_and_said_once(tracking_logger, library_log):
    handler = ListHandler()
    tracking_logger.addHandler(handler)  # level not set: WARNING, inherited
    tracking_logger.propagate = True

    tracker = emit_three()

    assert handler.lines == []
    assert tracker.stats == {'disabled': 3}
    [line] = [line for line in library_log if 'disabled' in line]
    assert NAME in line and "'edx.test.disabled'" in line
    assert 'number' not in line


def test_a_disabled_logger(tracking_logger, library_log):
    tracking_logger.addHandler(ListHandler())
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.disabled = True

    assert emit_three().stats == {'disabled': 3}


def test_logging_disable_covering_the_level(tracking_logger):
    tracking_logger.addHandler(ListHandler())
    tracking_logger.setLevel(logging.INFO)
    logging.disable(logging.INFO)
    try:
        assert emit_three().stats == {'disabled': 3}
    finally:
        logging.disable(logging.NOTSET)


def test_no_handler_anywhere_up_the_hierarchy(tracking_logger):
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()  # pytest's log capture may have put its handlers here for the test's call

    assert emit_three().stats == {'disabled': 3}


def test_no_handler_but_the_last_resort_takes_warning_lines(tracking_logger, capsys):
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()  # as above

    tracker = emit_three(level='warning')

    assert tracker.stats == {}
    assert capsys.readouterr().err.count('edx.test.disabled') == 3


def test_a_handler_higher_up_writes_them(tracking_logger):
    parent = logging.getLogger(NAME.rsplit('.', 1)[0])
    handler = ListHandler()
    parent.addHandler(handler)
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.propagate = True
    try:
        tracker = emit_three()
    finally:
        parent.removeHandler(handler)

    assert tracker.stats == {}
    assert len(handler.lines) == 3


def test_a_change_of_configuration_is_seen_at_the_next_event(tracking_logger):
    backend = LoggerBackend(name=NAME)
    handler = ListHandler()
    tracking_logger.addHandler(handler)
    backend.send({'name': 'before'})
    tracking_logger.setLevel(logging.INFO)
    backend.send({'name': 'after'})

    assert backend.stats == {'disabled': 1}
    assert handler.lines == ['{"name": "after"}']


def test_an_event_counted_disabled_still_goes_through_the_backends_log_call(tracking_logger):
    """As in the original, ``send`` always calls ``backend.log``: tests written for it patch that attribute."""
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()
    backend = LoggerBackend(name=NAME)
    calls = []
    backend.log = calls.append
    Tracker(backends={'log': backend}).emit('edx.test.disabled', {'number': 1})
    assert backend.stats == {'disabled': 1}
    assert len(calls) == 1 and '"edx.test.disabled"' in calls[0]
