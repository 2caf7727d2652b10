"""BoundedCaller: a call that may hang is waited for at most a timeout, on a helper thread, in the caller's context."""

import contextvars
import threading
import time

import pytest

from eventtracking import bounded
from eventtracking.bounded import BoundedCaller, CallTimedOut

REQUEST = contextvars.ContextVar('request', default=None)


def test_the_call_runs_in_the_callers_contextvars_context():
    caller = BoundedCaller(timeout=5)
    REQUEST.set('req-1')
    assert caller(REQUEST.get) == 'req-1'
    assert caller(lambda: threading.current_thread().name) == caller.name  # on a helper, not here


def test_a_hung_call_times_out_and_the_helpers_a_hung_server_holds_are_bounded():
    caller = BoundedCaller(timeout=0.05)
    release = threading.Event()
    for _ in range(bounded.MAX_BUSY_HELPERS):
        with pytest.raises(CallTimedOut, match='no answer'):
            caller(release.wait)
    before = threading.active_count()
    with pytest.raises(CallTimedOut, match='still waiting'):
        caller(release.wait)  # fails at once: no new thread for a server that never answers
    assert threading.active_count() == before
    release.set()  # the server answers at last: the helpers come free
    deadline = time.monotonic() + 10
    while True:
        try:
            assert caller(lambda: 'answered') == 'answered'
            break
        except CallTimedOut:
            assert time.monotonic() < deadline, 'the helpers never came free'
            time.sleep(0.01)


def test_without_a_thread_to_start_the_call_is_made_directly(monkeypatch):
    caller = BoundedCaller(timeout=5)

    class NoThreads:  # what threading.Thread does at interpreter shutdown on Python 3.12
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(bounded.threading, 'Thread', NoThreads)
    assert caller(lambda: threading.current_thread()) is threading.current_thread()
