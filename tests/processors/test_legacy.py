"""LegacyFieldMappingProcessor: events rewritten into the Open edX tracking-log format, inputs untouched."""

import copy
import json
import logging
from datetime import datetime, timezone

import pytest

from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.isolation import mutates_events
from eventtracking.processors.legacy import LegacyFieldMappingProcessor
from eventtracking.tracker import Tracker

EMITTED_AT = datetime(2013, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc)
CLIENT_TIME = datetime(2013, 10, 3, 8, 24, 54, tzinfo=timezone.utc)
COURSE_ID = 'course-v1:edX+DemoX+Demo_Course'


def request_context(**extra):
    """The context of an event emitted inside a request, as TrackMiddleware and a course context build it."""
    context = {
        'session': '8e6f7a6ae1b04c1e8a86ac21d0c4ef5e',
        'user_id': 5,
        'username': 'alice',
        'ip': '203.0.113.9',
        'host': 'courses.example.org',
        'agent': 'Mozilla/5.0 (X11; Linux x86_64)',
        'path': '/api/enrollment/v1/enrollment',
        'referer': 'https://courses.example.org/dashboard',
        'accept_language': 'en-US,en;q=0.9',
        'client_id': '1033501218.1368477899',
        'course_id': COURSE_ID,
        'org_id': 'edX',
    }
    context.update(extra)
    return context


def server_event():
    return {
        'name': 'edx.course.enrollment.activated',
        'timestamp': EMITTED_AT,
        'data': {'course_id': COURSE_ID, 'user_id': 5, 'mode': 'audit'},
        'context': request_context(),
    }


def browser_event():
    return {
        'name': 'play_video',
        'timestamp': EMITTED_AT,
        'data': {'id': 'i4x-edX-DemoX-video-0b9e39477cf34507a7a48f74be381fdd', 'currentTime': 12.5, 'code': 'html5'},
        'context': request_context(
            path='/event', event_source='browser', event_type='play_video', timestamp=CLIENT_TIME,
            page='https://courses.example.org/courses/course-v1:edX+DemoX+Demo_Course/courseware/',
        ),
    }


def test_server_event_in_the_legacy_format():
    legacy = LegacyFieldMappingProcessor()(server_event())
    assert legacy == {
        'name': 'edx.course.enrollment.activated',
        'context': {'user_id': 5, 'path': '/api/enrollment/v1/enrollment', 'course_id': COURSE_ID, 'org_id': 'edX'},
        'username': 'alice',
        'session': '8e6f7a6ae1b04c1e8a86ac21d0c4ef5e',
        'ip': '203.0.113.9',
        'agent': 'Mozilla/5.0 (X11; Linux x86_64)',
        'host': 'courses.example.org',
        'referer': 'https://courses.example.org/dashboard',
        'accept_language': 'en-US,en;q=0.9',
        'event': {'course_id': COURSE_ID, 'user_id': 5, 'mode': 'audit'},
        'time': EMITTED_AT,
        'event_type': 'edx.course.enrollment.activated',
        'event_source': 'server',
        'page': None,
    }
    assert list(legacy) == ['name', 'context', 'username', 'session', 'ip', 'agent', 'host', 'referer',
                            'accept_language', 'event', 'time', 'event_type', 'event_source', 'page']


def test_browser_event_payload_is_json_and_context_fields_move_up():
    event = browser_event()
    legacy = LegacyFieldMappingProcessor()(event)
    assert isinstance(legacy['event'], str)
    assert json.loads(legacy['event']) == event['data']
    assert legacy['time'] == CLIENT_TIME
    assert legacy['event_source'] == 'browser'
    assert legacy['event_type'] == 'play_video'
    assert legacy['page'] == 'https://courses.example.org/courses/course-v1:edX+DemoX+Demo_Course/courseware/'
    assert legacy['context'] == {'user_id': 5, 'path': '/event', 'course_id': COURSE_ID, 'org_id': 'edX'}


def test_browser_event_with_a_string_payload_is_kept_as_is():
    event = browser_event()
    event['data'] = '{"already": "json"}'
    assert LegacyFieldMappingProcessor()(event)['event'] == '{"already": "json"}'


def test_browser_event_with_datetimes_in_the_payload():
    event = browser_event()
    event['data'] = {'at': EMITTED_AT}
    assert json.loads(LegacyFieldMappingProcessor()(event)['event']) == {'at': '2013-10-03T08:24:55.123456+00:00'}


def test_missing_context_fields_become_empty_strings():
    event = server_event()
    event['context'] = {'user_id': None, 'path': '/x'}
    legacy = LegacyFieldMappingProcessor()(event)
    for field in ('username', 'session', 'ip', 'agent', 'host', 'referer', 'accept_language'):
        assert legacy[field] == ''
    assert legacy['context'] == {'user_id': None, 'path': '/x'}


def test_event_without_context_or_data():
    legacy = LegacyFieldMappingProcessor()({'name': 'bare', 'timestamp': EMITTED_AT})
    assert legacy == {'name': 'bare', 'event': {}, 'time': EMITTED_AT, 'event_type': 'bare',
                      'event_source': 'server', 'page': None}


def test_event_without_a_name():
    legacy = LegacyFieldMappingProcessor()({'data': {'a': 1}, 'context': {}})
    assert legacy['event_type'] == ''
    assert 'time' not in legacy


@pytest.mark.parametrize('make_event', [server_event, browser_event])
def test_the_input_event_is_not_changed(make_event):
    event = make_event()
    before = copy.deepcopy(event)
    legacy = LegacyFieldMappingProcessor()(event)
    assert event == before
    assert legacy is not event and legacy['context'] is not event['context']


def test_declares_that_it_does_not_mutate_events():
    assert LegacyFieldMappingProcessor.mutates_events is False
    assert not mutates_events(LegacyFieldMappingProcessor())


def test_in_a_tracker_the_tracking_log_line_has_the_legacy_fields(caplog):
    tracking_log = RoutingBackend(
        backends={'log': LoggerBackend(name='tests.legacy.tracking', max_event_size=None)},
        processors=[LegacyFieldMappingProcessor()],
    )
    native = RecordingBackend()
    legacy_tracker = Tracker(backends={'tracking_logs': tracking_log, 'native': native})
    data = {'course_id': COURSE_ID, 'user_id': 5, 'mode': 'audit'}

    with caplog.at_level(logging.INFO, logger='tests.legacy.tracking'):
        with legacy_tracker.context('edx.request', request_context()):
            legacy_tracker.emit('edx.course.enrollment.activated', data)

    [line] = [record.getMessage() for record in caplog.records if record.name == 'tests.legacy.tracking']
    logged = json.loads(line)
    assert logged['username'] == 'alice'
    assert logged['event_type'] == 'edx.course.enrollment.activated'
    assert logged['event_source'] == 'server'
    assert logged['event'] == data
    assert logged['page'] is None
    assert 'data' not in logged and 'timestamp' not in logged
    assert set(logged['context']) == {'user_id', 'path', 'course_id', 'org_id'}
    datetime.fromisoformat(logged['time'])
    [sibling] = native.events
    assert set(sibling) == {'name', 'timestamp', 'data', 'context'}
    assert sibling['context']['username'] == 'alice'
    assert legacy_tracker.stats == {}


class RecordingBackend:
    """Keeps every event it is sent."""

    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)
