"""AsyncRoutingBackend and Celery's apps: eager test settings, the per-thread current app, the short back-off."""

import threading
import time

import pytest
from celery import Celery, _state

from eventtracking.backends import async_routing
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.tracker import Tracker
from tests.backends.test_async_routing import current
from tests.servers import CollectingBackend, free_port

pytestmark = pytest.mark.server


class SlowBackend(CollectingBackend):
    """Takes ``seconds`` per event, on whatever thread sends to it."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def send(self, event):
        time.sleep(self.seconds)
        super().send(event)


@pytest.fixture
def eager_app():
    """A current Celery app with the test settings of edx-platform: tasks run at once, in the caller."""
    app = Celery('eventtracking-eager', broker='memory://', set_as_current=False)
    app.conf.task_always_eager = True
    app.finalize()
    with current(app):
        yield app
    app.close()


def test_with_eager_tasks_the_nested_backends_run_in_the_caller_whatever_they_take(
        eager_app, register_default_tracker):  # pylint: disable=redefined-outer-name,unused-argument
    slow = SlowBackend(0.3)
    backend = AsyncRoutingBackend(backend_name='eager', backends={'slow': slow}, publish_timeout=0.1)
    tracker = register_default_tracker(Tracker(backends={'eager': backend}))
    for number in range(3):
        tracker.emit('edx.test.eager', {'number': number})
    assert [event['data']['number'] for event in slow.events] == [0, 1, 2]
    assert slow.thread_names == [threading.current_thread().name] * 3
    assert tracker.stats == {}


def test_the_background_thread_publishes_through_the_callers_app_not_celerys_fallback(
        redis_server, register_default_tracker, monkeypatch):  # pylint: disable=unused-argument
    app = Celery('eventtracking-not-default', broker=redis_server.url(3), set_as_current=False)
    app.conf.task_default_queue = 'not-default-app'
    app.finalize()
    fallback = Celery('eventtracking-fallback', broker=f'redis://127.0.0.1:{free_port()}/0', set_as_current=False)
    monkeypatch.setattr(_state, 'default_app', fallback)  # what another thread gets outside Django
    client = redis_server.client(3)
    client.delete('not-default-app')
    with current(app):
        backend = AsyncRoutingBackend(backend_name='batched', backends={'sink': CollectingBackend()},
                                      batch_size=5, batch_interval=0.05)
        tracker = register_default_tracker(Tracker(backends={'batched': backend}))
        for number in range(10):
            tracker.emit('edx.test.app', {'number': number})
        assert backend.flush(timeout=10)
    assert tracker.stats == {}
    assert client.llen('not-default-app') == 2  # two batches of five, in the caller's app's broker
    backend.shutdown()
    app.close()
    fallback.close()


def test_the_default_modes_back_off_stays_short_since_what_it_holds_back_is_lost():
    backend = AsyncRoutingBackend(backend_name='direct')
    for _ in range(20):
        backend._backoff.failed()  # pylint: disable=protected-access
        assert backend._backoff.remaining() <= async_routing.DIRECT_BACKOFF_CAP  # pylint: disable=protected-access
    assert async_routing.DIRECT_BACKOFF_CAP <= 2.0
