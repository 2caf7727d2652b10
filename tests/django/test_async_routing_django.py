"""AsyncRoutingBackend in Django settings: dotted paths filled in, delivery from deep in the tree, its checks."""

import time
from contextlib import contextmanager

import pytest
from celery import Celery, _state

from eventtracking.django import DjangoTracker
from eventtracking.django.checks import check_event_tracking_settings

ASYNC = 'eventtracking.backends.async_routing.AsyncRoutingBackend'
ROUTING = 'eventtracking.backends.routing.RoutingBackend'
RECORDING = 'tests.django.helpers.RecordingBackend'


def tree(**async_options):
    """analytics -> xapi -> async (an AsyncRoutingBackend) -> sink."""
    async_options.setdefault('backends', {'sink': {'ENGINE': RECORDING}})
    return {'analytics': {'ENGINE': ROUTING, 'OPTIONS': {'backends': {
        'xapi': {'ENGINE': ROUTING, 'OPTIONS': {'backends': {
            'async': {'ENGINE': ASYNC, 'OPTIONS': async_options},
        }}},
    }}}}


@contextmanager
def current(app):
    """Make ``app`` Celery's current app in this thread inside the block."""
    previous = _state._tls.current_app  # pylint: disable=protected-access
    app.set_current()
    try:
        yield app
    finally:
        _state._set_current_app(previous)  # pylint: disable=protected-access


@pytest.mark.server
def test_an_async_backend_two_levels_down_delivers_through_the_worker(
        settings, celery_worker_thread, register_default_tracker):
    settings.EVENT_TRACKING_BACKENDS = tree(batch_size=5, batch_interval=0.05)
    tracker = register_default_tracker(DjangoTracker())
    async_backend = tracker.backends['analytics'].backends['xapi'].backends['async']
    assert async_backend.backend_name == 'analytics.xapi.async'
    sink = async_backend.backends['sink']

    for number in range(7):
        tracker.emit('edx.test.deep', {'seq': number})

    deadline = time.monotonic() + 15
    while len(sink.events) < 7 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [event['data']['seq'] for event in sink.events] == list(range(7))


def test_a_backend_name_given_is_kept(settings):
    settings.EVENT_TRACKING_BACKENDS = tree(backend_name='analytics.xapi.async')
    tracker = DjangoTracker()
    assert tracker.backends['analytics'].backends['xapi'].backends['async'].backend_name == 'analytics.xapi.async'


def messages_with(settings, check_id, **async_options):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = tree(**async_options)
    settings.EVENT_TRACKING_PROCESSORS = []
    return [message for message in check_event_tracking_settings() if message.id == check_id]


def test_w010_a_redis_broker_without_a_socket_timeout(settings):
    app = Celery('eventtracking-w010', broker='redis://127.0.0.1:1/0', set_as_current=False)
    with current(app):
        [warning] = messages_with(settings, 'eventtracking.W010')
        app.conf.broker_transport_options = {'socket_timeout': 5}
        assert messages_with(settings, 'eventtracking.W010') == []
    assert "EVENT_TRACKING_BACKENDS['analytics']" in warning.msg
    assert 'socket_timeout' in warning.hint


def test_w010_an_amqp_broker_without_a_read_timeout_and_no_warning_for_other_transports(settings):
    app = Celery('eventtracking-w010-amqp', broker='amqp://guest@127.0.0.1:1//', set_as_current=False)
    with current(app):
        [warning] = messages_with(settings, 'eventtracking.W010')
        app.conf.broker_transport_options = {'read_timeout': 5, 'write_timeout': 5}
        assert messages_with(settings, 'eventtracking.W010') == []
    assert 'AMQP' in warning.msg and 'read_timeout' in warning.hint
    sqs = Celery('eventtracking-w010-sqs', broker='sqs://', set_as_current=False)
    with current(sqs):
        assert messages_with(settings, 'eventtracking.W010') == []


def test_w011_a_backend_name_that_leads_elsewhere(settings):
    [warning] = messages_with(settings, 'eventtracking.W011', backend_name='analytics')
    assert warning.msg.startswith(
        "EVENT_TRACKING_BACKENDS['analytics']['OPTIONS']['backends']['xapi']['OPTIONS']['backends']['async']"
        "['OPTIONS']['backend_name']: 'analytics' does not lead to this backend"
    )
    assert "'analytics.xapi.async'" in warning.hint
    assert messages_with(settings, 'eventtracking.W011', backend_name='analytics.xapi.async') == []
    assert messages_with(settings, 'eventtracking.W011') == []


def test_e020_a_spool_dir_that_is_a_file(settings, tmp_path):
    path = tmp_path / 'a-file'
    path.write_text('')
    [error] = messages_with(settings, 'eventtracking.E020', spool_dir=str(path))
    assert 'is not a directory' in error.msg
    assert messages_with(settings, 'eventtracking.E020', spool_dir=str(tmp_path / 'new' / 'spool')) == []


@pytest.mark.parametrize('option, value', [
    ('batch_size', 0), ('batch_size', 2.5), ('max_queue_size', 0), ('batch_interval', 0), ('publish_timeout', -1),
])
def test_option_values_the_backend_cannot_work_with_are_e004(settings, option, value):
    [error] = messages_with(settings, 'eventtracking.E004', **{option: value})
    assert option in error.msg
