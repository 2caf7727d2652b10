"""AsyncRoutingBackend against a real Celery worker consuming from a real Redis broker on loopback."""

import logging
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from unittest import mock

import pytest
from celery import Celery, current_app
from celery.signals import before_task_publish

from eventtracking import tasks
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.processors.regex_filter import RegexFilter
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend, free_port, record_measurement, start_redis

pytestmark = pytest.mark.server


class PublishedTasks:
    """Records the tasks Celery is about to publish (``before_task_publish``), with their retry policy."""

    def __init__(self):
        self.messages = []

    def __call__(self, sender=None, body=None, retry_policy=None, **kwargs):
        args = body[0] if isinstance(body, tuple) else body.get('args')
        self.messages.append({'task': sender, 'args': args, 'retry_policy': retry_policy})

    def event_names(self):
        return [message['args'][1]['name'] for message in self.messages if message['task'] == tasks.send_event.name]


def connected(recorder):
    """Yield ``recorder`` connected to Celery's ``before_task_publish`` signal, disconnected afterwards."""
    before_task_publish.connect(recorder, weak=False)
    yield recorder
    before_task_publish.disconnect(recorder)


@pytest.fixture
def published():
    yield from connected(PublishedTasks())


def mark(key):
    """A processor that adds ``data[key]`` = the name of the thread it runs in."""
    def processor(event):
        event['data'][key] = threading.current_thread().name
        return event
    return processor


def async_tracker(nested, processors=(), root_processors=()):
    return Tracker(
        backends={'async': AsyncRoutingBackend(backend_name='async', processors=list(processors), backends=nested)},
        processors=list(root_processors),
    )


def test_events_reach_nested_backends_in_the_worker_after_the_processors(
        celery_worker_thread, register_default_tracker):
    sink = CollectingBackend()
    tracker = register_default_tracker(
        async_tracker({'sink': sink}, processors=[mark('async_processor')], root_processors=[mark('root_processor')])
    )
    data = {'course_id': 'course-v1:edX+DemoX+Demo'}

    tracker.emit('edx.test.async', data)

    [event] = sink.wait_for(1)
    caller = threading.current_thread().name
    assert event['name'] == 'edx.test.async'
    assert event['data'] == {
        'course_id': 'course-v1:edX+DemoX+Demo', 'root_processor': caller, 'async_processor': caller,
    }
    assert sink.thread_names[0] != caller
    assert data == {'course_id': 'course-v1:edX+DemoX+Demo'}


def test_its_processors_change_neither_the_caller_nor_the_sibling_backends(
        celery_worker_thread, register_default_tracker):
    sink, sibling = CollectingBackend(), CollectingBackend()
    tracker = register_default_tracker(Tracker(backends={
        'async': AsyncRoutingBackend(backend_name='async', processors=[mark('async_processor')],
                                     backends={'sink': sink}),
        'sibling': sibling,
    }))
    data = {'nested': {'value': 1}}

    tracker.emit('edx.test.isolated', data)

    [delivered] = sink.wait_for(1)
    assert 'async_processor' in delivered['data']
    assert [event['data'] for event in sibling.events] == [{'nested': {'value': 1}}]
    assert data == {'nested': {'value': 1}}


def test_filtered_events_never_become_tasks(celery_worker_thread, register_default_tracker, published):
    sink = CollectingBackend()
    allow = RegexFilter(filter_type='allowlist', regular_expressions=[r'edx\.course\.enrollment\.'])
    tracker = register_default_tracker(async_tracker({'sink': sink}, processors=[allow]))

    tracker.emit('edx.video.played', {})
    tracker.emit('edx.course.enrollment.activated', {})

    events = sink.wait_for(1)
    assert [event['name'] for event in events] == ['edx.course.enrollment.activated']
    assert published.event_names() == ['edx.course.enrollment.activated']
    assert tracker.stats.get('filtered') == 1


def test_datetimes_survive_the_json_serializer_as_the_same_instants(celery_worker_thread, register_default_tracker):
    sink = CollectingBackend()
    emitted = []
    tracker = register_default_tracker(async_tracker({'sink': sink}, root_processors=[
        lambda event: emitted.append(event['timestamp']),
    ]))
    india = timezone(timedelta(hours=5, minutes=30))
    data = {
        'enrolled_at': datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=india),
        'naive': datetime(2024, 3, 1, 8, 0),
        'due': date(2024, 12, 31),
        'nested': [{'at': datetime(2001, 1, 1, tzinfo=timezone.utc)}],
    }

    tracker.emit('edx.test.datetimes', data)

    [event] = sink.wait_for(1)
    assert type(event['timestamp']) is datetime
    assert event['timestamp'] == emitted[0]
    assert event['timestamp'].utcoffset() == timedelta(0)
    received = event['data']
    assert received == data
    assert type(received['enrolled_at']) is datetime and received['enrolled_at'].utcoffset() == india.utcoffset(None)
    assert received['naive'].tzinfo is None
    assert type(received['due']) is date
    assert received['nested'][0]['at'] == datetime(2001, 1, 1, tzinfo=timezone.utc)


def test_a_failing_nested_backend_is_retried_until_it_succeeds(
        celery_worker_thread, register_default_tracker, monkeypatch):
    monkeypatch.setattr(tasks, 'COUNTDOWN', 0)
    flaky = CollectingBackend(fail_times=2)
    steady = CollectingBackend()
    tracker = register_default_tracker(async_tracker({'flaky': flaky, 'steady': steady}))

    tracker.emit('edx.test.retry', {'attempt': 'any'})

    [event] = flaky.wait_for(1)
    assert event['data'] == {'attempt': 'any'}
    assert flaky.calls == 3
    assert steady.calls == 1, 'a retry must go only to the backends that failed'
    assert tracker.stats.get('backend_error', 0) == 0


def test_a_nested_backend_that_keeps_failing_is_counted_once_the_retries_run_out(
        celery_worker_thread, register_default_tracker, monkeypatch, caplog):
    monkeypatch.setattr(tasks, 'COUNTDOWN', 0)
    monkeypatch.setattr(tasks, 'MAX_RETRIES', 1)
    broken = CollectingBackend(fail_times=100)
    tracker = register_default_tracker(async_tracker({'broken': broken}))

    with caplog.at_level(logging.WARNING, logger='eventtracking'):
        tracker.emit('edx.test.broken', {})
        deadline = time.monotonic() + 15
        while tracker.stats.get('backend_error', 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert tracker.stats.get('backend_error') == 1
    assert broken.calls == 2
    assert any('Gave up on event [edx.test.broken]' in record.getMessage() for record in caplog.records)


def test_an_event_celery_cannot_serialize_is_logged_and_counted(celery_worker_thread, register_default_tracker, caplog):
    sink = CollectingBackend()
    tracker = register_default_tracker(async_tracker({'sink': sink}))

    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.async_routing'):
        tracker.emit('edx.test.unserializable', {'tags': {'a', 'b'}})

    assert tracker.stats.get('unserializable') == 1
    assert any('edx.test.unserializable' in record.getMessage() for record in caplog.records)


@contextmanager
def current(app):
    """Make ``app`` the current Celery app (the one ``send_event`` publishes through) inside the block."""
    previous = current_app._get_current_object()  # pylint: disable=protected-access
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()


@pytest.fixture
def dead_broker_app():
    """A Celery app, made current, whose Redis broker port has nothing listening on it."""
    app = Celery('eventtracking-dead-broker', broker=f'redis://127.0.0.1:{free_port()}/0', set_as_current=False)
    app.finalize()
    with current(app):
        yield app
    app.close()


def test_with_the_broker_down_emit_returns_backs_off_and_every_event_is_counted_with_few_log_lines(
        dead_broker_app, register_default_tracker, published, caplog):
    local = CollectingBackend()
    tracker = register_default_tracker(Tracker(backends={
        'async': AsyncRoutingBackend(backend_name='async', backends={'sink': CollectingBackend()}),
        'local': local,
    }))
    durations = []

    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.async_routing'):
        for number in range(20):
            started = time.perf_counter()
            tracker.emit('edx.test.broker_down', {'number': number})
            durations.append(time.perf_counter() - started)

    record_measurement('emit, AsyncRoutingBackend with the Celery broker down (connection refused)', durations)
    # The refused publish starts the back-off: the events after it are not tried, and each is counted.
    assert tracker.stats == {'publish_error': 1, 'backed_off': 19}
    assert [event['data']['number'] for event in local.events] == list(range(20))
    failures = [record for record in caplog.records if 'publish_error' in record.getMessage()]
    held_back = [record for record in caplog.records if 'backed_off' in record.getMessage()]
    assert len(failures) == 1 and len(held_back) == 1  # rate-limited: the counts above stay exact
    assert 'edx.test.broker_down' in failures[0].getMessage()
    assert '"number"' not in failures[0].getMessage() and "'number'" not in failures[0].getMessage()
    assert published.messages and all(
        message['retry_policy']['max_retries'] == 1 and message['retry_policy']['interval_start'] == 0
        for message in published.messages
    )


def test_a_broker_restart_does_not_lose_the_next_event(register_default_tracker):
    server = start_redis()
    app = Celery('eventtracking-restart', broker=server.url(0), set_as_current=False)
    app.conf.task_default_queue = 'restart-test'
    app.finalize()
    try:
        with current(app):
            tracker = register_default_tracker(async_tracker({'sink': CollectingBackend()}))
            tracker.emit('edx.test.before_restart', {})
            assert server.client().llen('restart-test') == 1
            port = server.port
            server.stop()
            server = start_redis(port)

            tracker.emit('edx.test.after_restart', {})

            assert server.client().llen('restart-test') == 1
            assert tracker.stats.get('publish_error', 0) == 0
    finally:
        app.close()
        server.stop()


def test_send_event_delay_is_the_call_it_makes():
    backend = AsyncRoutingBackend(backend_name='caliper', processors=[mark('seen')])
    event = {'name': 'edx.test.patched', 'data': {}}
    with mock.patch('eventtracking.backends.async_routing.send_event') as send_event:
        backend.send(event)
    send_event.delay.assert_called_once_with(
        'caliper', {'name': 'edx.test.patched', 'data': {'seen': threading.current_thread().name}}
    )
    assert event == {'name': 'edx.test.patched', 'data': {}}
