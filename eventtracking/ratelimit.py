"""Failure log lines that stay quiet during an outage, while the counters stay exact.

A backend whose server is down fails on every event. One log line per event
floods the log (tens of thousands of lines a minute) and buries everything
else. :class:`RateLimitedLog` writes the first failure of a kind at once, with
its traceback when there is one, then at most one line per ``interval``
seconds for that kind, saying how many similar lines it held back::

    LOG = RateLimitedLog(logging.getLogger(__name__))

    LOG.warning(('mongo', 'backed_off'), 'Dropped event %s in backend %r (%s)', name, 'mongo', 'backed_off')

A *kind* is any hashable key, usually ``(backend, reason)``. Counting the
events themselves is the caller's job (:class:`~eventtracking.stats.EventCounters`);
this only decides which lines reach :mod:`logging`.

Arguments are formatted by :mod:`logging` as usual. Pass event names through
:func:`eventtracking.events.safe_name` (never event values: they may be
personal data), so that a name whose ``repr()`` raises cannot make a record
unformattable.
"""

import logging
import threading
import time
import weakref

from eventtracking.forking import after_fork_in_child

DEFAULT_INTERVAL = 60.0
"""Seconds between two lines of one kind after the first (one a minute)."""

MAX_KINDS = 4096
"""Kinds remembered at once; past that the oldest is forgotten (kinds may hold event names, which are unbounded)."""


_INSTANCES = weakref.WeakSet()


def reset_all():
    """Forget every kind of every :class:`RateLimitedLog`: each one's next line is written at once.

    For test suites that assert on log lines: without it, a line written by one
    test holds back the same kind of line in the next test for a minute.
    """
    for instance in list(_INSTANCES):
        instance.reset()


class RateLimitedLog:
    """Log through ``logger``: the first line of each kind at once, then at most one per ``interval`` seconds.

    A line written after others of its kind were held back ends with
    ``(N similar lines suppressed in the last S s)``. ``clock`` is the time
    source (``time.monotonic``), replaceable in tests. At most ``max_kinds``
    kinds are remembered. With ``max_lines``, at most that many lines of all
    kinds together are written per ``interval`` (for kinds that hold
    unbounded values, such as event names); the first line after a window
    that held lines back says how many. Thread-safe.
    """

    def __init__(self, logger, interval=DEFAULT_INTERVAL, clock=time.monotonic, max_kinds=MAX_KINDS,
                 max_lines=None):
        self.logger = logger
        self.interval = interval
        self.max_kinds = max_kinds
        self.max_lines = max_lines
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds = {}  # kind -> [time of the last line written, lines suppressed since]
        self._window = [None, 0, 0]  # with max_lines: [start, lines written in it, lines of new kinds held back]
        _INSTANCES.add(self)
        after_fork_in_child(self, RateLimitedLog._new_lock)

    def log(self, kind, level, msg, *args, exc_info=None):
        """Log ``msg % args`` at ``level`` unless a line of ``kind`` was written less than ``interval`` ago.

        Returns True when the line was written. ``exc_info=True`` attaches the
        exception being handled, as :meth:`logging.Logger.exception` does.
        Never raises.
        """
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is not None and now - state[0] < self.interval:
                state[1] += 1
                return False
            others = self._within_max_lines(now)
            if others is None:
                return False
            if state is None:
                suppressed = 0
                if len(self._kinds) >= self.max_kinds:
                    del self._kinds[next(iter(self._kinds))]
            else:
                suppressed = state[1]
            self._kinds[kind] = [now, 0]
        if suppressed:
            msg = f'{msg} ({suppressed} similar line{"s" if suppressed != 1 else ""} suppressed in the last ' \
                  f'{self.interval:g} s)'
        if others:
            msg = f'{msg} ({others} line{"s" if others != 1 else ""} of other kinds suppressed: over ' \
                  f'{self.max_lines} a {self.interval:g} s)'
        try:
            self.logger.log(level, msg, *args, exc_info=exc_info)
        except Exception:  # pylint: disable=broad-except  # a handler that fails must not reach emit()
            return False
        return True

    def _within_max_lines(self, now):
        """With ``max_lines``, whether one more line fits in this interval's window (called under the lock).

        Returns None when it does not (the line is counted as held back), else
        how many lines the window before held back (0 without ``max_lines``).
        """
        if self.max_lines is None:
            return 0
        window = self._window
        held_back = 0
        if window[0] is None or now - window[0] >= self.interval:
            held_back = window[2]
            window[:] = [now, 0, 0]
        if window[1] >= self.max_lines:
            window[2] += 1
            return None
        window[1] += 1
        return held_back

    def debug(self, kind, msg, *args, **kwargs):
        """:meth:`log` at DEBUG."""
        return self.log(kind, logging.DEBUG, msg, *args, **kwargs)

    def info(self, kind, msg, *args, **kwargs):
        """:meth:`log` at INFO."""
        return self.log(kind, logging.INFO, msg, *args, **kwargs)

    def warning(self, kind, msg, *args, **kwargs):
        """:meth:`log` at WARNING."""
        return self.log(kind, logging.WARNING, msg, *args, **kwargs)

    def error(self, kind, msg, *args, **kwargs):
        """:meth:`log` at ERROR."""
        return self.log(kind, logging.ERROR, msg, *args, **kwargs)

    def exception(self, kind, msg, *args, **kwargs):
        """:meth:`log` at ERROR with the exception being handled (its traceback on the lines written)."""
        kwargs.setdefault('exc_info', True)
        return self.log(kind, logging.ERROR, msg, *args, **kwargs)

    def _new_lock(self):
        """In a child process after ``fork``: another thread may have held the old lock."""
        self._lock = threading.Lock()

    def reset(self):
        """Forget every kind: the next line of each is written at once."""
        with self._lock:
            self._kinds.clear()
            self._window[:] = [None, 0, 0]
