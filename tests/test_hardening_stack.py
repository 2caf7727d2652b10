"""emit() called with little stack left: it never raises, and every event is written or counted."""

import logging
import sys

import pytest

from eventtracking.backends.logger import LoggerBackend
from eventtracking.tracker import Tracker


class ListHandler(logging.Handler):
    """Keeps the messages of the records it handles."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def tracking_lines():
    handler = ListHandler()
    logger = logging.getLogger('tests.hardening.stack')
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler.lines
    logger.removeHandler(handler)


def stack_depth():
    frame, depth = sys._getframe(1), 0  # pylint: disable=protected-access
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def raised_inside(exc, function):
    """True if ``function`` is one of the frames ``exc`` went through."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is function.__code__:
            return True
        tb = tb.tb_next
    return False


def at_depth(frames, call):
    """Call ``call`` with ``frames`` more frames on the stack."""
    if frames <= 0:
        return call()
    return at_depth(frames - 1, call)


def test_emit_never_raises_and_counts_every_event_whatever_the_stack_left(tracking_lines):
    tracker = Tracker(backends={'log': LoggerBackend(name='tests.hardening.stack')})
    limit = sys.getrecursionlimit()
    emitted = escaped = 0

    def emit():
        return tracker.emit('edx.test.stack', {'course_id': 'course-v1:edX+DemoX+Demo'})

    for headroom in range(2, 120):
        try:
            at_depth(limit - stack_depth() - headroom, emit)
        except RecursionError as exc:
            if not raised_inside(exc, Tracker.emit):
                continue  # the stack ran out before emit could start
            escaped += 1
        emitted += 1
    stats = tracker.stats

    assert escaped == 0
    assert emitted > 100
    assert 'too_deep' not in stats
    assert set(stats) <= {'emit_error', 'backend_error'}
    assert len(tracking_lines) > 0
    # Every event is written or counted. One may be both: when logging's own calls run out of stack after the
    # handler wrote the line, the backend raises and the event is counted as backend_error too (counted, not lost).
    assert emitted <= len(tracking_lines) + sum(stats.values()) <= emitted + stats.get('backend_error', 0), stats
