"""Calls that give up waiting after a timeout, for clients that may block without one.

A broker that accepts connections and never answers blocks a publishing call
for as long as it hangs, unless the client library was given socket timeouts.
:class:`BoundedCaller` runs the call on a helper thread and waits at most
``timeout`` seconds for it: the caller gets :class:`CallTimedOut` and goes on,
while the helper stays blocked until the server answers or the socket gives up.
Idle helpers are kept for the next call, so a call costs a hand-off between
two threads, not a new thread. A child process after ``os.fork()`` starts
without helpers (the parent's threads do not exist there).
"""

import contextvars
import threading
from queue import SimpleQueue

from eventtracking.forking import after_fork_in_child

MAX_IDLE_HELPERS = 4
"""Helper threads kept waiting for work; more are started while others are busy (or stuck), then end."""

MAX_BUSY_HELPERS = 4
"""Helper threads of one caller that may be busy at once (stuck on a hung server, say); past that a call
fails at once with :class:`CallTimedOut`, so that a server that never answers cannot pile up threads."""


class CallTimedOut(TimeoutError):
    """The call did not return within the timeout; it may still complete later, on its helper thread."""


class _Call:
    """One call handed to a helper thread, run in the caller's :mod:`contextvars` context."""

    __slots__ = ('function', 'args', 'kwargs', 'context', 'done', 'result', 'error')

    def __init__(self, function, args, kwargs):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.done = threading.Event()
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.context.run(self.function, *self.args, **self.kwargs)
        except BaseException as exc:  # pylint: disable=broad-except  # handed to the waiting caller
            self.error = exc
        self.done.set()


class BoundedCaller:
    """Run ``function(*args)`` on a helper thread and wait for it at most ``timeout`` seconds.

    ``timeout=None`` calls the function directly, in the caller's thread.
    """

    def __init__(self, timeout, name='eventtracking-bounded-call'):
        self.timeout = timeout
        self.name = name
        self._lock = threading.Lock()
        self._idle = []
        self._busy = 0
        after_fork_in_child(self, BoundedCaller.forget_helpers)

    def __call__(self, function, *args, **kwargs):
        """Return what ``function(*args, **kwargs)`` returns, raise what it raises, or raise :class:`CallTimedOut`.

        Called directly, without a helper, when ``timeout`` is None or no
        thread can be started (at interpreter shutdown, Python 3.12 refuses
        new threads: the flush at exit still publishes, unbounded).
        """
        if self.timeout is None:
            return function(*args, **kwargs)
        call = _Call(function, args, kwargs)
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None and self._busy >= MAX_BUSY_HELPERS:
                raise CallTimedOut(f'{self._busy} earlier calls are still waiting for an answer')
            self._busy += 1
        if inbox is None:
            inbox = SimpleQueue()
            try:
                threading.Thread(target=self._serve, args=(inbox,), name=self.name, daemon=True).start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                with self._lock:
                    self._busy -= 1
                return function(*args, **kwargs)
        inbox.put(call)
        if not call.done.wait(self.timeout):
            raise CallTimedOut(f'no answer within {self.timeout:g} s')
        if call.error is not None:
            raise call.error
        return call.result

    def _serve(self, inbox):
        while True:
            inbox.get().run()
            with self._lock:
                self._busy -= 1
                if len(self._idle) >= MAX_IDLE_HELPERS:
                    return
                self._idle.append(inbox)

    def forget_helpers(self):
        """Drop the idle helpers (in a child process after ``fork``, where their threads do not exist)."""
        self._lock = threading.Lock()
        self._idle = []
        self._busy = 0
