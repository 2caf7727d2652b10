"""Exponential back-off with full jitter, for a client whose server just failed.

After the n-th failure in a row the next attempt waits a random time between
0 and ``min(cap, first * 2 ** (n - 1))`` seconds: the first retry comes within
``first`` seconds, later ones spread out up to ``cap``, and many processes
that failed together do not come back together.
"""

import random
import threading
import time

from eventtracking.forking import after_fork_in_child


class Backoff:
    """When the next attempt may be made, after consecutive failures. Thread-safe."""

    def __init__(self, first=1.0, cap=60.0, clock=time.monotonic, rand=random.random):
        self.first = first
        self.cap = cap
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self.failures = 0
        self._until = 0.0
        after_fork_in_child(self, Backoff.reset_after_fork)

    @classmethod
    def fixed(cls, seconds, clock=time.monotonic):
        """A back-off of ``seconds`` after every failure, however many in a row: no growth and no jitter."""
        return cls(first=seconds, cap=seconds, clock=clock, rand=_no_jitter)

    def failed(self):
        """Note one more failure; return the delay in seconds before the next attempt."""
        with self._lock:
            self.failures += 1
            delay = self._rand() * min(self.cap, self.first * 2 ** min(self.failures - 1, 30))
            self._until = self._clock() + delay
            return delay

    def succeeded(self):
        """Note a success: the next attempt may be made at once."""
        with self._lock:
            self.failures = 0
            self._until = 0.0

    def reset_after_fork(self):
        """In a child process after ``fork``: a new lock (another thread may have held the old one) and no failures."""
        self._lock = threading.Lock()
        self.failures = 0
        self._until = 0.0

    def remaining(self):
        """Seconds until the next attempt may be made (0.0 when it may be made now)."""
        return max(0.0, self._until - self._clock())

    def waiting(self):
        """True while the back-off after the last failure has not run out."""
        return self._until > self._clock()


def _no_jitter():
    """The whole delay, every time (the ``rand`` of :meth:`Backoff.fixed`)."""
    return 1.0
