"""The ``event`` view with Django's test client: both request shapes, the context, every limit and reason, CSRF,
the rate across requests, anonymous and logged-in users, server types refused, nothing emitted when refused."""

import json
import logging
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from eventtracking import tracker
from eventtracking.django import browser
from eventtracking.django.middleware import hash_session_key
from eventtracking.registry import EventType, register
from tests.django.conftest import SITE_MIDDLEWARE

SECRET = 'a value only the page knows 4242'
"""A value the tests send as event data: it must never come back in a response or a log line."""


@pytest.fixture
def browser_site(site):
    """The test site with the library's ``event`` URL and CSRF middleware, an empty cache (the rate)."""
    site.ROOT_URLCONF = 'tests.django.browser_urls'
    site.MIDDLEWARE = ['django.middleware.csrf.CsrfViewMiddleware', *SITE_MIDDLEWARE]
    site.EVENT_TRACKING_BROWSER_EVENTS = [r'tests\.page\..*']
    cache.clear()
    return site


@pytest.fixture
def events(browser_site, recorder, isolated_event_types):  # pylint: disable=unused-argument
    """The events the default tracker routes; a browser type and a server-only type are registered."""
    register(EventType('tests.video.played', 'A video was played in the page.', browser=True))
    register(EventType('tests.course.enrolled', 'A user enrolled (the server emits it).'))
    return recorder.events


def stats():
    return tracker.get_tracker().stats


def post_json(client, payload, content_type='application/json', **extra):
    return client.post('/event', json.dumps(payload), content_type=content_type, **extra)


def batch(*names, **fields):
    return {'events': [dict({'name': name, 'data': {'secret': SECRET}, 'page': 'https://example.org/p',
                             'time': '2026-12-05T10:00:00.000Z'}, **fields) for name in names]}


# --- the platform's form --------------------------------------------------------------------------------------

def test_the_platforms_form_posted_is_emitted_with_the_browser_context_on_the_request_context(events):
    response = Client().post('/event', {'event_type': 'tests.page.opened', 'event': json.dumps({'secret': SECRET}),
                                        'page': 'https://example.org/course/'},
                             HTTP_USER_AGENT='Mozilla/5.0 (tests)')

    assert response.status_code == 200
    assert response.json() == {'accepted': 1, 'refused': {}}
    [event] = events
    assert event['name'] == 'tests.page.opened'
    assert event['data'] == {'secret': SECRET}
    context = event['context']
    assert context['event_source'] == 'browser'
    assert context['page'] == 'https://example.org/course/'
    assert context['username'] == 'anonymous'
    assert context['client_time'] is None
    assert context['path'] == '/event' and context['agent'] == 'Mozilla/5.0 (tests)'  # the request context
    assert context['user_id'] is None


def test_the_platforms_form_by_get_is_emitted(events):
    response = Client().get('/event', {'event_type': 'tests.page.opened', 'event': '{"n": 1}', 'page': '/p'})

    assert response.status_code == 200
    assert [(event['name'], event['data'], event['context']['page']) for event in events] == [
        ('tests.page.opened', {'n': 1}, '/p')]


@pytest.mark.parametrize('text', ['a plain string', '[1, 2]', '42', '{not json'])
def test_an_event_field_that_is_not_a_json_object_is_kept_as_text(events, text):
    response = Client().post('/event', {'event_type': 'tests.page.opened', 'event': text})

    assert response.status_code == 200
    assert events[0]['data'] == {'event': text}


def test_the_platforms_form_without_event_field_has_empty_data(events):
    assert Client().get('/event', {'event_type': 'tests.page.opened'}).status_code == 200
    assert events[0]['data'] == {} and events[0]['context']['page'] is None


# --- the JSON batch -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('content_type', ['application/json', 'text/plain', 'text/plain;charset=UTF-8'])
def test_a_json_batch_body_is_emitted_event_by_event_with_its_page_and_client_time(events, content_type):
    payload = {'events': [
        {'name': 'tests.page.opened', 'data': {'n': 1}, 'page': '/one', 'time': '2026-12-05T10:00:00.000Z'},
        {'name': 'tests.video.played', 'data': {'n': 2}, 'page': '/two', 'time': '2026-12-05T10:00:01.000Z'},
    ]}

    response = post_json(Client(), payload, content_type=content_type)

    assert response.status_code == 200 and response.json() == {'accepted': 2, 'refused': {}}
    assert [(event['name'], event['data'], event['context']['page'], event['context']['client_time'])
            for event in events] == [
        ('tests.page.opened', {'n': 1}, '/one', '2026-12-05T10:00:00.000Z'),
        ('tests.video.played', {'n': 2}, '/two', '2026-12-05T10:00:01.000Z'),
    ]
    assert all(event['context']['event_source'] == 'browser' for event in events)


def test_the_browser_context_does_not_outlive_the_request(events):
    post_json(Client(), batch('tests.page.opened'))

    tracker.emit('tests.server.event', {})

    assert 'event_source' not in events[-1]['context']
    assert 'browser' not in tracker.get_tracker().located_context


def test_a_batch_as_the_form_field_events_beside_the_csrf_token_is_accepted(events):
    client = Client(enforce_csrf_checks=True)
    token = _csrf_cookie(client)

    response = client.post('/event', {'csrfmiddlewaretoken': token,
                                      'events': json.dumps(batch('tests.page.opened', 'tests.page.closed'))})

    assert response.status_code == 200
    assert [event['name'] for event in events] == ['tests.page.opened', 'tests.page.closed']


def test_a_batch_as_an_urlencoded_form_is_accepted(events):
    body = urlencode({'events': json.dumps(batch('tests.page.opened'))})

    response = Client().post('/event', body, content_type='application/x-www-form-urlencoded')

    assert response.status_code == 200 and [event['name'] for event in events] == ['tests.page.opened']


def test_a_multipart_body_that_cannot_be_parsed_is_malformed(events):
    response = Client().post('/event', b'--x\r\n', content_type='multipart/form-data')

    assert response.status_code == 400 and response.json()['reason'] == 'malformed'
    assert not events


# --- CSRF -----------------------------------------------------------------------------------------------------

def _csrf_cookie(client):
    """Give ``client`` a CSRF cookie, as a page rendered with the template tag does; return the token."""
    request = RequestFactory().get('/')
    token = get_token(request)
    client.cookies['csrftoken'] = request.META['CSRF_COOKIE']
    return token


def test_a_post_without_the_csrf_token_is_refused_and_nothing_is_emitted(events):
    client = Client(enforce_csrf_checks=True)
    _csrf_cookie(client)

    assert post_json(client, batch('tests.page.opened')).status_code == 403
    assert client.post('/event', {'events': json.dumps(batch('tests.page.opened'))}).status_code == 403
    assert client.post('/event', {'event_type': 'tests.page.opened'}).status_code == 403
    assert not events


def test_a_json_batch_with_the_csrf_header_is_accepted(events):
    client = Client(enforce_csrf_checks=True)
    token = _csrf_cookie(client)

    response = post_json(client, batch('tests.page.opened'), HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200 and len(events) == 1


def test_csrf_is_checked_without_the_csrf_middleware_too(events, browser_site):
    browser_site.MIDDLEWARE = list(SITE_MIDDLEWARE)
    client = Client(enforce_csrf_checks=True)
    _csrf_cookie(client)

    assert post_json(client, batch('tests.page.opened')).status_code == 403
    assert not events


def test_other_methods_are_not_allowed(events):
    assert Client().put('/event', '{}').status_code == 405
    assert not events


# --- users ----------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_logged_in_users_events_carry_the_username(events, browser_site):
    browser_site.SESSION_ENGINE = 'django.contrib.sessions.backends.db'
    alice = get_user_model().objects.create_user('alice', password='correct horse')
    client = Client()
    client.force_login(alice)

    assert post_json(client, batch('tests.page.opened')).status_code == 200

    context = events[0]['context']
    assert context['username'] == 'alice' and context['user_id'] == alice.pk
    assert context['session'] == hash_session_key(client.session.session_key)


# --- which names ----------------------------------------------------------------------------------------------

def test_a_registered_browser_type_is_accepted_without_any_pattern(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_EVENTS = []

    response = post_json(Client(), batch('tests.video.played', 'tests.page.opened'))

    assert response.status_code == 200
    assert response.json() == {'accepted': 1, 'refused': {'not_allowed': 1}}
    assert [event['name'] for event in events] == ['tests.video.played']
    assert stats()['not_allowed'] == 1


def test_by_default_only_registered_browser_types_are_accepted(events, browser_site):
    del browser_site.EVENT_TRACKING_BROWSER_EVENTS

    assert post_json(Client(), batch('tests.page.opened')).status_code == 403
    assert post_json(Client(), batch('tests.video.played')).status_code == 200
    assert [event['name'] for event in events] == ['tests.video.played']


def test_a_registered_server_type_is_refused_even_when_every_name_is_accepted(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_EVENTS = ['.*']

    response = Client().post('/event', {'event_type': 'tests.course.enrolled', 'event': '{"user_id": 1}'})
    response_batch = post_json(Client(), batch('tests.course.enrolled', 'tests.course.enrolled'))

    assert response.status_code == 403 and response.json()['reason'] == 'not_allowed'
    assert response_batch.status_code == 403 and response_batch.json()['refused'] == {'not_allowed': 2}
    assert not events
    assert stats()['not_allowed'] == 3


def test_a_pattern_must_match_the_whole_name(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_EVENTS = [r'tests\.page']

    assert post_json(Client(), batch('tests.page.opened')).status_code == 403
    assert not events


def test_a_refusal_is_logged_with_the_name_and_reason_never_the_values(events, caplog):
    caplog.set_level(logging.WARNING, logger='eventtracking.django.browser')

    response = post_json(Client(), batch('tests.course.enrolled'))

    assert response.status_code == 403
    assert SECRET not in response.content.decode() and 'tests.course.enrolled' not in response.content.decode()
    assert 'tests.course.enrolled' in caplog.text and 'not_allowed' in caplog.text
    assert SECRET not in caplog.text


# --- limits ---------------------------------------------------------------------------------------------------

def test_a_body_over_max_bytes_is_refused_413_unread_and_counted(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_BYTES = 1000
    payload = batch(*['tests.page.opened'] * 10)
    assert len(json.dumps(payload)) > 1000

    response = post_json(Client(), payload)

    assert response.status_code == 413 and response.json() == {'accepted': 0, 'refused': {'oversize': 1},
                                                               'reason': 'oversize'}
    assert not events and stats()['oversize'] == 1


def test_a_query_string_over_max_bytes_is_refused_413(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_BYTES = 100

    response = Client().get('/event', {'event_type': 'tests.page.opened', 'event': 'x' * 200})

    assert response.status_code == 413 and not events


def test_a_form_over_max_bytes_is_refused_413(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_BYTES = 100

    response = Client().post('/event', {'event_type': 'tests.page.opened', 'event': 'x' * 200})

    assert response.status_code == 413 and not events


def test_more_events_than_max_events_are_refused_413_and_each_counted(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_EVENTS = 3

    response = post_json(Client(), batch(*['tests.page.opened'] * 4))
    accepted = post_json(Client(), batch(*['tests.page.opened'] * 3))

    assert response.status_code == 413 and response.json()['refused'] == {'oversize': 4}
    assert accepted.status_code == 200
    assert len(events) == 3 and stats()['oversize'] == 4


def test_the_default_limits_are_the_documented_ones(events):
    limits = browser.Limits.from_settings()

    assert (limits.max_bytes, limits.max_events, limits.max_event_bytes, limits.rate) == (65536, 50, 8192, (600, 60))
    assert post_json(Client(), batch(*['tests.page.opened'] * 51)).status_code == 413
    assert post_json(Client(), batch(*['tests.page.opened'] * 50)).status_code == 200


def test_an_event_over_max_event_bytes_is_refused_and_the_rest_of_its_batch_kept(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 300
    payload = batch('tests.page.opened', 'tests.page.big', 'tests.page.closed')
    payload['events'][1]['data'] = {'text': 'x' * 300}

    response = post_json(Client(), payload)

    assert response.status_code == 200 and response.json() == {'accepted': 2, 'refused': {'oversize': 1}}
    assert [event['name'] for event in events] == ['tests.page.opened', 'tests.page.closed']
    assert stats()['oversize'] == 1


def test_a_lone_event_over_max_event_bytes_is_refused_413(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 100

    response = Client().post('/event', {'event_type': 'tests.page.opened', 'event': json.dumps({'t': 'é' * 60})})

    assert response.status_code == 413 and response.json()['reason'] == 'oversize'
    assert not events


@pytest.mark.parametrize('body', [
    b'not json', b'[]', b'{"events": {}}', b'{"events": []}', b'{"other": 1}', b'\xff\xfe', b'',
])
def test_a_body_that_is_not_a_batch_is_malformed_400(events, body):
    response = Client().post('/event', body, content_type='application/json')

    assert response.status_code == 400 and response.json()['reason'] == 'malformed'
    assert not events and stats()['malformed'] == 1


@pytest.mark.parametrize('entry', [
    'tests.page.opened', None, {'data': {}}, {'name': ''}, {'name': 3}, {'name': 'tests.page.opened', 'data': [1]},
    {'name': 'tests.page.opened', 'page': 5}, {'name': 'tests.page.opened', 'time': {}},
    {'name': 'tests.page.opened', 'time': True},
])
def test_a_malformed_entry_is_refused_alone(events, entry):
    response = post_json(Client(), {'events': [entry, {'name': 'tests.page.opened'}]})

    assert response.status_code == 200 and response.json() == {'accepted': 1, 'refused': {'malformed': 1}}
    assert len(events) == 1 and stats()['malformed'] == 1


def test_forms_without_a_name_are_malformed(events):
    assert Client().get('/event', {'event': '{}'}).status_code == 400
    assert Client().post('/event', {'page': '/p'}).status_code == 400
    assert Client().post('/event', {'events': 'not json'}).status_code == 400
    assert not events and stats()['malformed'] == 3


def test_with_no_event_accepted_the_status_is_the_first_refused_events(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 300
    payload = {'events': [{'name': 'tests.course.enrolled'}, {'name': 'tests.page.x', 'data': {'t': 'x' * 300}}]}

    response = post_json(Client(), payload)

    assert response.status_code == 403
    assert response.json() == {'accepted': 0, 'refused': {'not_allowed': 1, 'oversize': 1}, 'reason': 'not_allowed'}


# --- the rate -------------------------------------------------------------------------------------------------

def test_the_rate_is_counted_in_events_across_requests_per_address(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_RATE = '5/m'
    here, there = Client(REMOTE_ADDR='192.0.2.1'), Client(REMOTE_ADDR='192.0.2.2')

    assert post_json(here, batch(*['tests.page.opened'] * 3)).status_code == 200
    refused = post_json(here, batch(*['tests.page.opened'] * 3))
    assert post_json(here, batch(*['tests.page.opened'] * 2)).status_code == 200
    assert post_json(here, batch('tests.page.opened')).status_code == 429
    assert post_json(there, batch(*['tests.page.opened'] * 5)).status_code == 200

    assert refused.status_code == 429 and refused.json() == {'accepted': 0, 'refused': {'rate_limited': 3},
                                                             'reason': 'rate_limited'}
    assert len(events) == 10 and stats()['rate_limited'] == 4


@pytest.mark.django_db
def test_the_rate_is_per_session_when_there_is_one(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_RATE = '2/h'
    browser_site.SESSION_ENGINE = 'django.contrib.sessions.backends.db'
    user = get_user_model().objects.create_user('bob')
    first, second = Client(), Client()
    first.force_login(user)
    second.force_login(user)

    assert post_json(first, batch('tests.page.opened', 'tests.page.opened')).status_code == 200
    assert post_json(first, batch('tests.page.opened')).status_code == 429
    assert post_json(second, batch('tests.page.opened', 'tests.page.opened')).status_code == 200


def test_the_rate_window_starts_again_after_its_period(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_RATE = '2/s'
    request = RequestFactory().post('/event', REMOTE_ADDR='192.0.2.9')
    limits = browser.Limits.from_settings()

    assert browser.take_rate(request, 2, limits, now=1000.0)
    assert not browser.take_rate(request, 1, limits, now=1000.5)
    assert browser.take_rate(request, 2, limits, now=1001.0)


def test_no_rate_limit_with_rate_none(events, browser_site):
    browser_site.EVENT_TRACKING_BROWSER_RATE = None

    for _ in range(3):
        assert post_json(Client(), batch(*['tests.page.opened'] * 50)).status_code == 200
    assert len(events) == 150


def test_a_cache_that_fails_lets_the_events_through(events, browser_site, caplog):
    browser_site.CACHES = {'default': {'BACKEND': 'tests.django.browser_pages.FailingCache'}}

    response = post_json(Client(), batch('tests.page.opened'))

    assert response.status_code == 200 and len(events) == 1
    assert 'could not be counted in the cache' in caplog.text


# --- counting without a default tracker -----------------------------------------------------------------------

def test_refusals_without_a_default_tracker_are_counted_unrouted(browser_site):
    tracker.TRACKERS.pop('default', None)
    before = tracker.UNROUTED['malformed']

    assert Client().post('/event', b'x', content_type='application/json').status_code == 400

    assert tracker.UNROUTED['malformed'] == before + 1
