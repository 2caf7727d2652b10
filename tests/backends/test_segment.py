"""SegmentBackend with the real Segment client posting to a local HTTP server that stands in for Segment's API."""

import importlib
import json
import logging
import sys
import types
from unittest import mock
from datetime import datetime, timezone

import pytest

from eventtracking.backends import segment
from eventtracking.backends.routing import RoutingBackend
from eventtracking.backends.segment import SegmentBackend

pytestmark = pytest.mark.server

WHEN = datetime(2023, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc)


@pytest.fixture
def segment_api(httpserver, monkeypatch):
    """The Segment client, posting its batches to ``httpserver``; yields a function returning the batches."""
    httpserver.expect_request('/v1/batch', method='POST').respond_with_json({'success': True})
    client = segment.analytics.Client('test-write-key', host=httpserver.url_for('/').rstrip('/'),
                                      max_retries=0, upload_interval=0.01)
    monkeypatch.setattr(segment.analytics, 'default_client', client)

    def batches():
        client.flush()
        return [json.loads(request.get_data()) for request, _ in httpserver.log]

    yield batches
    client.shutdown()


def page_view(**context):
    return {
        'name': 'edx.bi.course.upgrade.clicked',
        'timestamp': WHEN,
        'data': {'course_id': 'course-v1:edX+DemoX+Demo', 'price': 49.5},
        'context': dict({'user_id': 42}, **context),
    }


def test_the_batch_carries_user_event_properties_and_segment_context(segment_api):
    event = page_view(
        ip='203.0.113.9', agent='Mozilla/5.0 (X11)', client_id='GA1.2.123.456', host='courses.example.com',
        path='/courses/upgrade', referer='https://example.com/dashboard', username='ada',
    )

    SegmentBackend().send(event)

    [batch] = segment_api()
    [message] = batch['batch']
    assert message['type'] == 'track'
    assert message['userId'] == '42'
    assert message['event'] == 'edx.bi.course.upgrade.clicked'
    assert message['properties'] == {
        'name': 'edx.bi.course.upgrade.clicked',
        'timestamp': '2023-10-03T08:24:55.123456+00:00',
        'data': {'course_id': 'course-v1:edX+DemoX+Demo', 'price': 49.5},
        'context': {
            'user_id': 42, 'ip': '203.0.113.9', 'agent': 'Mozilla/5.0 (X11)', 'client_id': 'GA1.2.123.456',
            'host': 'courses.example.com', 'path': '/courses/upgrade', 'referer': 'https://example.com/dashboard',
            'username': 'ada',
        },
    }
    context = message['context']
    assert context['ip'] == '203.0.113.9'
    assert context['userAgent'] == 'Mozilla/5.0 (X11)'
    assert context['Google Analytics'] == {'clientId': 'GA1.2.123.456'}
    assert context['page'] == {
        'path': '/courses/upgrade',
        'referrer': 'https://example.com/dashboard',
        'url': 'https://courses.example.com/courses/upgrade',
    }


def test_an_explicit_page_is_the_url(segment_api):
    SegmentBackend().send(page_view(page='https://courses.example.com/p?x=1', host='other', path='/p'))

    [message] = segment_api()[0]['batch']
    assert message['context']['page'] == {'path': '/p', 'url': 'https://courses.example.com/p?x=1'}


def test_missing_fields_are_left_out_of_the_segment_context(segment_api):
    SegmentBackend().send(page_view(path='/only/a/path'))
    SegmentBackend().send(page_view())

    first, second = [message for batch in segment_api() for message in batch['batch']]
    for key in ('ip', 'userAgent', 'Google Analytics'):
        assert key not in first['context'] and key not in second['context']
    assert first['context']['page'] == {'path': '/only/a/path'}
    assert 'page' not in second['context']


@pytest.mark.parametrize('event', [
    {'name': 'edx.anonymous', 'context': {'path': '/'}},
    {'name': 'edx.anonymous', 'context': {'user_id': None}},
    {'name': 'edx.no_context'},
    {'context': {'user_id': 42}},
    {'name': None, 'context': {'user_id': 42}},
])
def test_events_without_a_user_id_or_a_name_are_not_sent(segment_api, event):
    backend = SegmentBackend()

    backend.send(event)

    assert segment_api() == []
    assert backend.stats == {'filtered': 1}


def test_in_a_routing_tree_the_client_gets_its_own_copy(segment_api):
    event = page_view()
    root = RoutingBackend(backends={'segment': SegmentBackend()})

    root.send(event)
    event['data']['price'] = 0

    [message] = segment_api()[0]['batch']
    assert message['properties']['data']['price'] == 49.5


def test_a_client_whose_queue_is_full_is_logged_and_counted(httpserver, monkeypatch, caplog):
    client = segment.analytics.Client('test-write-key', host=httpserver.url_for('/').rstrip('/'),
                                      max_queue_size=1, thread=0)
    client.consumers = []  # no consumer thread: nothing empties the queue
    monkeypatch.setattr(segment.analytics, 'default_client', client)
    backend = SegmentBackend()

    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.segment'):
        backend.send(page_view())
        backend.send(page_view())

    assert client.queue.qsize() == 1
    assert backend.stats == {'backend_error': 1}
    [record] = [r for r in caplog.records if r.name == 'eventtracking.backends.segment']
    assert 'edx.bi.course.upgrade.clicked' in record.getMessage()


def test_the_module_level_name_is_the_segment_client_module():
    from segment import analytics  # pylint: disable=import-outside-toplevel

    assert segment.analytics is analytics


@pytest.fixture
def fresh_segment_module(monkeypatch):
    """Import eventtracking.backends.segment again under the sys.modules a test sets up; restore it afterwards."""
    import eventtracking.backends  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(eventtracking.backends, 'segment', segment)
    monkeypatch.delitem(sys.modules, 'eventtracking.backends.segment')

    def load():
        return importlib.import_module('eventtracking.backends.segment')

    return load


def test_without_the_segment_library_import_works_and_construction_warns_once(
        fresh_segment_module, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, 'segment', None)
    monkeypatch.setitem(sys.modules, 'analytics', None)

    with caplog.at_level(logging.WARNING):
        module = fresh_segment_module()
        backend = module.SegmentBackend()
        backend.send(page_view())
        backend.send(page_view())

    assert module.analytics is None
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert "pip install 'eventtracking[segment]'" in warning.getMessage()
    assert backend.stats == {'unavailable': 2}


def test_the_legacy_analytics_python_module_is_the_fallback(fresh_segment_module, monkeypatch):
    legacy = types.ModuleType('analytics')
    monkeypatch.setitem(sys.modules, 'segment', None)
    monkeypatch.setitem(sys.modules, 'analytics', legacy)

    assert fresh_segment_module().analytics is legacy


def test_values_of_any_type_are_handed_to_the_client_which_decides(monkeypatch):
    """Tests that patch ``analytics`` and pass placeholder objects (as the original's do) see the call."""
    client = mock.Mock()
    monkeypatch.setattr(segment, 'analytics', client)
    user_id, name, agent = object(), object(), object()
    event = {'name': name, 'context': {'user_id': user_id, 'agent': agent}, 'data': {'x': object()}}
    backend = SegmentBackend()
    backend.send(event)
    client.track.assert_called_once_with(user_id, name, event, context={'userAgent': agent})
    assert backend.stats == {}
