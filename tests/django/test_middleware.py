"""TrackMiddleware: the 'edx.request' context under WSGI (Django's test client) and ASGI, the request event."""

import asyncio
import json
import logging
import re
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth import get_user_model
from django.core.asgi import get_asgi_application
from django.http import HttpResponse
from django.test import AsyncRequestFactory, Client, RequestFactory
from django.test.client import MULTIPART_CONTENT

from eventtracking import tracker
from eventtracking.backends.logger import DateTimeJSONEncoder
from eventtracking.django import DjangoTracker
from eventtracking.django.middleware import (
    CONTEXT_NAME, TrackMiddleware, censored_parameters, google_analytics_client_id, hash_session_key,
)
from tests.django.conftest import TRACK_MIDDLEWARE
from tests.django.helpers import asgi_request

REQUEST_FIELDS = {'session', 'user_id', 'username', 'ip', 'host', 'agent', 'path', 'referer', 'accept_language',
                  'client_id'}
BROWSER_HEADERS = {
    'HTTP_USER_AGENT': 'Mozilla/5.0 (tests)',
    'HTTP_REFERER': 'https://example.org/courses/',
    'HTTP_ACCEPT_LANGUAGE': 'fr-CH, fr;q=0.9',
}


def request_contexts(recorder, name):
    """The 'edx.request' part of the context of each recorded event called ``name``."""
    return [event['context'] for event in recorder.events if event['name'] == name]


@pytest.fixture
def database_sessions(site):
    site.SESSION_ENGINE = 'django.contrib.sessions.backends.db'
    return site


@pytest.fixture
def alice(database_sessions):
    return get_user_model().objects.create_user('alice', password='correct horse')


# --- the context under WSGI (Django's test client) ---------------------------------------------

@pytest.mark.django_db
def test_context_of_a_logged_in_request(recorder, alice):
    client = Client()
    client.force_login(alice)
    client.cookies['_ga'] = 'GA1.2.1033501218.1368477899'

    response = client.get('/context/', **BROWSER_HEADERS)

    assert response.status_code == 200
    session_key = client.session.session_key
    [context] = request_contexts(recorder, 'test.context')
    assert set(context) == REQUEST_FIELDS
    assert context == {
        'session': hash_session_key(session_key),
        'user_id': alice.pk,
        'username': 'alice',
        'ip': '127.0.0.1',
        'host': 'testserver',
        'agent': 'Mozilla/5.0 (tests)',
        'path': '/context/',
        'referer': 'https://example.org/courses/',
        'accept_language': 'fr-CH, fr;q=0.9',
        'client_id': '1033501218.1368477899',
    }
    assert re.fullmatch('[0-9a-f]{32}', context['session'])
    assert session_key not in json.dumps(context)
    assert response.json() == context


def test_context_of_an_anonymous_request_without_session(recorder):
    Client().get('/context/')
    [context] = request_contexts(recorder, 'test.context')
    assert context['session'] == ''
    assert context['username'] == ''
    assert context['user_id'] is None
    assert context['client_id'] is None
    assert context['agent'] == '' and context['referer'] == '' and context['accept_language'] == ''


def test_context_without_session_and_authentication_middleware(site, recorder):
    site.MIDDLEWARE = [TRACK_MIDDLEWARE]
    Client().get('/context/')
    [context] = request_contexts(recorder, 'test.context')
    assert (context['session'], context['user_id'], context['username']) == ('', '', '')


def test_context_is_exited_after_the_response(recorder):
    client = Client()
    client.get('/context/')
    tracker.emit('after.request', {})
    assert CONTEXT_NAME not in tracker.get_tracker().located_context
    assert request_contexts(recorder, 'after.request') == [{}]


@pytest.mark.parametrize('raise_request_exception', [True, False])
def test_context_is_exited_when_the_view_raises(recorder, raise_request_exception):
    client = Client(raise_request_exception=raise_request_exception)
    if raise_request_exception:
        with pytest.raises(RuntimeError, match='the view failed'):
            client.get('/failing/')
    else:
        assert client.get('/failing/').status_code == 500
    [context] = request_contexts(recorder, 'test.failing')
    assert context['path'] == '/failing/'
    assert CONTEXT_NAME not in tracker.get_tracker().located_context


def test_sync_middleware_exits_the_context_when_the_next_handler_raises(recorder):
    def failing(request):
        tracker.emit('sync.failing', {})
        raise RuntimeError('boom')

    with pytest.raises(RuntimeError, match='boom'):
        TrackMiddleware(failing)(RequestFactory().get('/sync-boom/'))
    assert CONTEXT_NAME not in tracker.get_tracker().located_context
    assert request_contexts(recorder, 'sync.failing')[0]['path'] == '/sync-boom/'


def test_a_context_entered_outside_the_request_is_kept(recorder):
    with tracker.get_tracker().context('outer', {'batch': 7}):
        Client().get('/context/')
        tracker.emit('after.request', {})
    [inside] = request_contexts(recorder, 'test.context')
    [after] = request_contexts(recorder, 'after.request')
    assert inside['batch'] == 7 and inside['path'] == '/context/'
    assert after == {'batch': 7}


def test_a_request_inside_a_request_restores_the_outer_context(recorder):
    outer_request = RequestFactory().get('/outer/')
    inner_request = RequestFactory().get('/inner/')

    def inner_view(request):
        tracker.emit('inner', {})
        return HttpResponse()

    def outer_view(request):
        TrackMiddleware(inner_view)(inner_request)
        tracker.emit('outer', {})
        return HttpResponse()

    TrackMiddleware(outer_view)(outer_request)
    assert request_contexts(recorder, 'inner')[0]['path'] == '/inner/'
    assert request_contexts(recorder, 'outer')[0]['path'] == '/outer/'
    assert CONTEXT_NAME not in tracker.get_tracker().located_context


def test_without_a_default_tracker_requests_pass_through(site):
    tracker.TRACKERS.clear()
    response = Client().get('/form/', {'name': 'x'})
    assert response.status_code == 200


# --- the session hash -------------------------------------------------------------------------

def test_session_hash_is_keyed_and_stable(settings):
    first = hash_session_key('0123456789abcdefghijklmnopqrstuv')
    assert re.fullmatch('[0-9a-f]{32}', first)
    assert hash_session_key('0123456789abcdefghijklmnopqrstuv') == first
    assert hash_session_key('0123456789abcdefghijklmnopqrstuw') != first
    settings.SECRET_KEY = 'another secret'
    assert hash_session_key('0123456789abcdefghijklmnopqrstuv') != first
    assert hash_session_key('0123456789abcdefghijklmnopqrstuv', secret_key='eventtracking-tests-not-a-secret') == first
    assert hash_session_key(None) == '' and hash_session_key('') == ''


def test_google_analytics_client_id():
    assert google_analytics_client_id('GA1.2.1033501218.1368477899') == '1033501218.1368477899'
    assert google_analytics_client_id('GA1.1.42.43') == '42.43'
    assert google_analytics_client_id('garbage') is None
    assert google_analytics_client_id(None) is None


# --- extra context callables ------------------------------------------------------------------

def test_context_callables_add_and_replace_fields(site, recorder):
    site.EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES = [
        'tests.django.helpers.course_context', 'tests.django.helpers.async_context', 'tests.django.helpers.proxy_ip',
    ]
    Client().get('/context/', {'course_id': 'course-v1:edX+DemoX+Demo'},
                 HTTP_X_TAG='t1', HTTP_X_FORWARDED_FOR='203.0.113.9, 10.0.0.1')
    [context] = request_contexts(recorder, 'test.context')
    assert context['course_id'] == 'course-v1:edX+DemoX+Demo'
    assert context['org_id'] == 'TestX'
    assert context['async_field'] == 't1'
    assert context['ip'] == '203.0.113.9'
    assert context['path'] == '/context/'


def test_context_callables_may_be_functions(site, recorder):
    site.EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES = [lambda request: {'method': request.method}]
    Client().post('/context/')
    assert request_contexts(recorder, 'test.context')[0]['method'] == 'POST'


def test_a_failing_context_callable_is_logged_and_skipped(site, recorder, caplog):
    site.EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES = [
        'tests.django.helpers.broken_context', 'tests.django.helpers.course_context', lambda request: ['not', 'a dict'],
    ]
    with caplog.at_level(logging.ERROR, logger='eventtracking.django.middleware'):
        response = Client().get('/context/')
    assert response.status_code == 200
    assert request_contexts(recorder, 'test.context')[0]['org_id'] == 'TestX'
    assert 'context callable failed' in caplog.text
    assert 'returned a list, not a dict' in caplog.text
    assert "'not'" not in caplog.text  # what it returned may be request data: its type only


# --- the request event ------------------------------------------------------------------------

def test_no_request_event_by_default(recorder):
    Client().get('/context/', {'q': '1'})
    assert [event['name'] for event in recorder.events] == ['test.context']


def test_request_event_censors_password_like_parameters(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    response = Client().post(
        '/form/?password=hunter2&page=3',
        {'name': 'Alice', 'new_password1': 'x1', 'new_password2': 'x2', 'oldpassword': 'y', 'api_key': 'k',
         'csrfmiddlewaretoken': 'c', 'passport': 'Z', 'tags': ['a', 'b']},
    )
    assert response.content == b'Alice'
    [event] = [event for event in recorder.events if event['name'] == '/form/']
    assert event['data'] == {
        'GET': {'password': ['********'], 'page': ['3']},
        'POST': {'name': ['Alice'], 'new_password1': ['********'], 'new_password2': ['********'],
                 'oldpassword': ['********'], 'api_key': ['********'], 'csrfmiddlewaretoken': ['********'],
                 'passport': ['Z'], 'tags': ['a', 'b']},
    }
    assert event['context']['path'] == '/form/'
    assert 'hunter2' not in json.dumps(recorder.events, cls=DateTimeJSONEncoder)


def test_request_event_honours_ignored_url_patterns(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    site.TRACKING_IGNORE_URL_PATTERNS = [r'^/health', r'^/static/']
    Client().get('/health/')
    Client().get('/context/')
    assert [event['name'] for event in recorder.events] == ['test.context', '/context/', 'test.context']
    assert all(event['context']['path'] for event in recorder.events)


@pytest.mark.parametrize('content_type', ['application/x-www-form-urlencoded', MULTIPART_CONTENT])
def test_a_form_that_cannot_be_parsed_is_answered_as_without_the_middleware(site, recorder, caplog, content_type):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    site.DATA_UPLOAD_MAX_NUMBER_FIELDS = 2
    fields = {'a': '1', 'b': '2', 'c': '3'}
    data = urlencode(fields) if content_type != MULTIPART_CONTENT else fields
    with caplog.at_level(logging.WARNING, logger='eventtracking.django.middleware'):
        response = Client().post('/form/', data, content_type=content_type)
    assert response.status_code == 400
    [event] = [event for event in recorder.events if event['name'] == '/form/']
    assert event['data']['POST'] == {}
    assert 'could not be read (TooManyFieldsSent' in caplog.text

    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = False
    assert Client().post('/form/', data, content_type=content_type).status_code == 400


def test_censored_parameters_keeps_every_value():
    factory = RequestFactory()
    request = factory.get('/x', {'a': ['1', '2'], 'Password': ['p', 'q']})
    assert censored_parameters(request.GET) == {'a': ['1', '2'], 'Password': ['********', '********']}


# --- sync and async capable --------------------------------------------------------------------

def test_middleware_is_sync_and_async_capable():
    assert TrackMiddleware.sync_capable and TrackMiddleware.async_capable

    async def async_view(request):
        return HttpResponse()

    assert iscoroutinefunction(TrackMiddleware(async_view))
    assert not iscoroutinefunction(TrackMiddleware(lambda request: HttpResponse()))


def test_async_middleware_exits_the_context_when_the_view_raises(recorder):
    async def failing(request):
        tracker.emit('async.failing', {})
        raise RuntimeError('boom')

    async def run():
        middleware = TrackMiddleware(failing)
        with pytest.raises(RuntimeError, match='boom'):
            await middleware(AsyncRequestFactory().get('/async-boom/'))
        return dict(tracker.get_tracker().located_context)

    assert async_to_sync(run)() == {}
    assert request_contexts(recorder, 'async.failing')[0]['path'] == '/async-boom/'


def test_asgi_request_context(recorder, site):
    site.EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES = [
        'tests.django.helpers.course_context', 'tests.django.helpers.async_context',
    ]
    application = get_asgi_application()
    status, body = asyncio.run(asgi_request(
        application, '/async-context/', query='course_id=course-v1%3AX%2BY%2BZ',
        headers=[('User-Agent', 'asgi-agent'), ('Referer', 'https://example.org/'), ('Accept-Language', 'de'),
                 ('Cookie', '_ga=GA1.2.11.22'), ('X-Tag', 'a1')],
    ))
    assert status == 200
    [context] = request_contexts(recorder, 'test.context')
    assert json.loads(body) == context
    assert context == {
        'session': '', 'user_id': None, 'username': '', 'ip': '127.0.0.1', 'host': 'testserver',
        'agent': 'asgi-agent', 'path': '/async-context/', 'referer': 'https://example.org/',
        'accept_language': 'de', 'client_id': '11.22', 'course_id': 'course-v1:X+Y+Z', 'org_id': 'TestX',
        'async_field': 'a1',
    }


@pytest.mark.django_db(transaction=True)
def test_asgi_request_context_of_a_logged_in_user(recorder, alice):
    client = Client()
    client.force_login(alice)
    session_key = client.session.session_key
    application = get_asgi_application()
    for path in ('/async-context/', '/context/'):
        status, _ = asyncio.run(asgi_request(application, path, headers=[('Cookie', f'sessionid={session_key}')]))
        assert status == 200
    contexts = request_contexts(recorder, 'test.context')
    assert [(context['path'], context['user_id'], context['username'], context['session']) for context in contexts] == [
        ('/async-context/', alice.pk, 'alice', hash_session_key(session_key)),
        ('/context/', alice.pk, 'alice', hash_session_key(session_key)),
    ]


def test_asgi_view_that_raises(recorder):
    application = get_asgi_application()
    status, _ = asyncio.run(asgi_request(application, '/async-failing/'))
    assert status == 500
    assert request_contexts(recorder, 'test.failing')[0]['path'] == '/async-failing/'


def test_asgi_request_event(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    application = get_asgi_application()
    status, body = asyncio.run(asgi_request(
        application, '/form/', method='POST', body=b'name=Bob&password=secret',
        headers=[('Content-Type', 'application/x-www-form-urlencoded')],
    ))
    assert (status, body) == (200, b'Bob')
    [event] = [event for event in recorder.events if event['name'] == '/form/']
    assert event['data'] == {'GET': {}, 'POST': {'name': ['Bob'], 'password': ['********']}}


# --- the legacy tracking log, end to end ------------------------------------------------------

@pytest.mark.django_db
def test_tracking_log_line_in_the_legacy_format(database_sessions, alice, caplog):
    database_sessions.EVENT_TRACKING_BACKENDS = {
        'tracking_logs': {
            'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
            'OPTIONS': {
                'processors': [{'ENGINE': 'eventtracking.processors.legacy.LegacyFieldMappingProcessor'}],
                'backends': {'logger': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                        'OPTIONS': {'name': 'tests.tracking', 'max_event_size': None}}},
            },
        },
    }
    database_sessions.EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES = ['tests.django.helpers.course_context']
    tracker.register_tracker(DjangoTracker())
    client = Client()
    client.force_login(alice)

    with caplog.at_level(logging.INFO, logger='tests.tracking'):
        client.get('/context/', {'course_id': 'course-v1:edX+DemoX+Demo'}, **BROWSER_HEADERS)

    [line] = [record.getMessage() for record in caplog.records if record.name == 'tests.tracking']
    logged = json.loads(line)
    assert {key: logged[key] for key in ('name', 'event_type', 'event_source', 'username', 'ip', 'host', 'agent',
                                         'referer', 'accept_language', 'event', 'page')} == {
        'name': 'test.context', 'event_type': 'test.context', 'event_source': 'server', 'username': 'alice',
        'ip': '127.0.0.1', 'host': 'testserver', 'agent': 'Mozilla/5.0 (tests)',
        'referer': 'https://example.org/courses/', 'accept_language': 'fr-CH, fr;q=0.9', 'event': {}, 'page': None,
    }
    assert logged['session'] == hash_session_key(client.session.session_key)
    assert logged['context'] == {'user_id': alice.pk, 'path': '/context/', 'course_id': 'course-v1:edX+DemoX+Demo',
                                 'org_id': 'TestX'}
