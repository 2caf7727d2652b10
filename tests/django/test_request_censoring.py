"""Censoring in the request event (GET and POST) and in the context's ``referer``, under WSGI and ASGI."""

import asyncio
import json
import logging
from urllib.parse import quote, urlencode

import pytest
from django.core.asgi import get_asgi_application
from django.test import Client, RequestFactory

from eventtracking.backends.logger import DateTimeJSONEncoder
from eventtracking.django.censoring import CENSORED_KEYS, KeyCensor, key_words, normalized_entry
from eventtracking.django.middleware import censored_parameters
from tests.django.helpers import asgi_request

ISSUE_KEYS = [
    'card_number', 'cc_number', 'cvv', 'cvc', 'ssn', 'pin', 'otp', 'passcode', 'pass_word', 'user[pass]',
    'authorization', 'bearer', 'jwt', 'private_key', 'sessionid', 'api-key', 'x-api-key',
]
SIMILAR_KEYS = [
    'CARD_NUMBER', 'cardNumber', 'card-number', 'CardNumber', 'credit_card', 'creditCardNumber', 'ccnum', 'CVV2',
    'card[cvc]', 'card.cvc', 'SSN', 'social_security_number', 'user_pin', 'PIN', 'pin1', 'userPIN', 'otp_code',
    'totp', 'PassCode', 'user[password]', 'user[Pass]', 'Authorization', 'HTTP_AUTHORIZATION', 'bearer_token',
    'JWT', 'id_token', 'privateKey', 'PRIVATE-KEY', 'session_id', 'sessionId', 'PHPSESSID', 'X-Api-Key', 'apiKey',
    'x api key', 'X_API_KEY', 'client_secret', 'access_token', 'new_password1', 'oldpassword', 'csrfmiddlewaretoken',
    'api_key', 'passwd', 'pwd', 'passphrase', 'security_code', 'iban', 'account_number', 'X-Amz-Signature',
    'X-Amz-Credential', 'user[payment][card_number]',
]
# Keys that hold one of the short entries inside a longer word, and ordinary keys: never censored.
KEPT_KEYS = [
    'shipping', 'spinner', 'opinion', 'pinned', 'pinterest', 'passport', 'compass', 'bypass', 'passing_grade',
    'topic', 'hotpink', 'author', 'authors', 'cardinal', 'card_type', 'number', 'course_key', 'usage_key',
    'block_key', 'keyboard', 'keyword', 'session_count', 'course_id', 'name', 'email', 'username', 'page', 'q',
    'next', 'tags', 'signup', 'design', 'cvs', 'ssh', 'accessibility', 'assignment', 'sigma', 'cc', 'state',
]


@pytest.fixture
def censor():
    return KeyCensor()


@pytest.mark.parametrize('key', ISSUE_KEYS + SIMILAR_KEYS)
def test_censored_keys(censor, key):
    assert censor.is_censored(key)


@pytest.mark.parametrize('key', KEPT_KEYS)
def test_keys_that_are_not_censored(censor, key):
    assert not censor.is_censored(key)


def test_keys_are_matched_in_normalized_words():
    assert key_words('X-Api-Key') == ['x', 'api', 'key']
    assert key_words('user[payment][cardNumber]') == ['user', 'payment', 'card', 'number']
    assert key_words('APIKey2 PIN') == ['api', 'key', 'pin']
    assert key_words('new_password1') == ['new', 'password']
    assert key_words('') == []


def test_each_entry_of_the_list_is_normalized_and_censors_itself(censor):
    for entry in CENSORED_KEYS:
        assert normalized_entry(entry) == entry
        assert censor.is_censored(entry.strip('*'))


def test_a_very_long_key_is_decided_without_caching_it(censor):
    assert not censor.is_censored('a_' * 100_000)
    assert censor.is_censored('a_' * 100_000 + 'pin')
    assert censor.is_censored(('x' * 300) + 'password')


def test_not_a_string_is_not_censored(censor):
    assert not censor.is_censored(None)


# --- the setting ---------------------------------------------------------------------------------

def test_settings_extend_the_list(settings):
    factory = RequestFactory()
    request = factory.get('/x', {'nhs_number': '943 476 5919', 'NHS-Number': '1', 'giftVoucherCode': 'V',
                                 'voucher': 'W', 'password': 'p', 'name': 'n'})
    assert censored_parameters(request.GET) == {
        'nhs_number': ['943 476 5919'], 'NHS-Number': ['1'], 'giftVoucherCode': ['V'], 'voucher': ['W'],
        'password': ['********'], 'name': ['n'],
    }
    settings.EVENT_TRACKING_CENSORED_KEYS = ['nhs_number', '*voucher*']
    assert censored_parameters(request.GET) == {
        'nhs_number': ['********'], 'NHS-Number': ['********'], 'giftVoucherCode': ['********'],
        'voucher': ['********'], 'password': ['********'], 'name': ['n'],
    }


def test_invalid_entries_of_the_setting_are_logged_once_and_skipped(settings, caplog):
    settings.EVENT_TRACKING_CENSORED_KEYS = ['1234', 'pa*ss', ['nested'], 'nhs_number']
    request = RequestFactory().get('/x', {'nhs_number': '1', 'page': '2'})
    with caplog.at_level(logging.ERROR, logger='eventtracking.django.censoring'):
        for _ in range(3):
            assert censored_parameters(request.GET) == {'nhs_number': ['********'], 'page': ['2']}
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert "'1234' has no letters" in messages[0]
    assert "'pa*ss': an asterisk may only wrap the whole entry" in messages[1]
    assert 'is not a string' in messages[2]


def test_a_setting_that_is_not_a_list_adds_nothing(settings):
    settings.EVENT_TRACKING_CENSORED_KEYS = 'nhs_number'
    request = RequestFactory().get('/x', {'nhs_number': '1', 'n': '2'})
    assert censored_parameters(request.GET) == {'nhs_number': ['1'], 'n': ['2']}


# --- the referer ---------------------------------------------------------------------------------

@pytest.mark.parametrize('referer, expected', [
    ('https://example.org/courses/', 'https://example.org/courses/'),
    ('https://example.org/a?page=3&q=pin', 'https://example.org/a?page=3&q=pin'),
    ('https://example.org/login?next=%2Fdashboard&password=hunter2&pin=1234',
     'https://example.org/login?next=%2Fdashboard&password=********&pin=********'),
    ('https://example.org/pay?x-api-key=K&user%5Bpass%5D=p&card_number=4111+1111&cvv=123&shipping=fast',
     'https://example.org/pay?x-api-key=********&user%5Bpass%5D=********&card_number=********&cvv=********'
     '&shipping=fast'),
    ('https://example.org/cb#access_token=T&state=s', 'https://example.org/cb#access_token=********&state=s'),
    ('https://example.org/a?sessionid=S#top', 'https://example.org/a?sessionid=********#top'),
    ('/relative?otp=1&&jwt=', '/relative?otp=********&&jwt=********'),
    ('not a url ? token=x', 'not a url ? token=********'),
])
def test_referer_query_is_censored(censor, referer, expected):
    assert censor.url(referer) == expected


# --- through the middleware, WSGI and ASGI -------------------------------------------------------

def every_key_form():
    """One form holding every censored and every kept key, each with a value naming it."""
    return {key: f'value-of-{key}-end' for key in ISSUE_KEYS + SIMILAR_KEYS + KEPT_KEYS}


def expected_parameters(form):
    return {key: ['********'] if key in ISSUE_KEYS or key in SIMILAR_KEYS else [value] for key, value in form.items()}


def assert_no_secret_in(recorder, form):
    dumped = json.dumps(recorder.events, cls=DateTimeJSONEncoder)
    for key in ISSUE_KEYS + SIMILAR_KEYS:
        assert json.dumps(form[key])[1:-1] not in dumped, key


def the_request_event(recorder, path='/form/'):
    [event] = [event for event in recorder.events if event['name'] == path]
    return event


def test_wsgi_request_event_censors_get_and_post(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    form = every_key_form()
    referer = 'https://example.org/form?' + urlencode(form)

    response = Client().post('/form/?' + urlencode(form), {**form, 'name': 'Alice'}, HTTP_REFERER=referer)

    assert response.content == b'Alice'
    event = the_request_event(recorder)
    assert event['data'] == {'GET': expected_parameters(form), 'POST': expected_parameters({**form, 'name': 'Alice'})}
    assert_no_secret_in(recorder, form)
    assert 'value-of-shipping' in event['context']['referer']


def test_asgi_request_event_censors_get_and_post(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    form = every_key_form()
    body = urlencode({**form, 'name': 'Bob'}).encode()
    referer = 'https://example.org/form?' + urlencode(form)

    status, content = asyncio.run(asgi_request(
        get_asgi_application(), '/form/', method='POST', query=urlencode(form), body=body,
        headers=[('Content-Type', 'application/x-www-form-urlencoded'), ('Referer', referer)],
    ))

    assert (status, content) == (200, b'Bob')
    event = the_request_event(recorder)
    assert event['data'] == {'GET': expected_parameters(form), 'POST': expected_parameters({**form, 'name': 'Bob'})}
    assert_no_secret_in(recorder, form)


@pytest.mark.parametrize('path', ['/context/', '/async-context/'])
def test_referer_in_the_context_is_censored_under_wsgi_and_asgi(site, recorder, path):
    referer = 'https://example.org/login?next=/dashboard&pin=1234&X-Api-Key=KEY&' + quote('user[pass]') + '=pw'
    censored = 'https://example.org/login?next=/dashboard&pin=********&X-Api-Key=********&user%5Bpass%5D=********'

    wsgi = Client().get(path, HTTP_REFERER=referer).json()
    status, body = asyncio.run(asgi_request(get_asgi_application(), path, headers=[('Referer', referer)]))

    assert status == 200
    assert wsgi['referer'] == json.loads(body)['referer'] == censored
    assert [event['context']['referer'] for event in recorder.events] == [censored, censored]


def test_settings_extend_the_censored_keys_of_the_request_event_and_referer(site, recorder):
    site.EVENT_TRACKING_REQUEST_EVENT_ENABLED = True
    site.EVENT_TRACKING_CENSORED_KEYS = ['nhs_number']
    Client().get('/context/', {'NHS-Number': '943', 'page': '1'}, HTTP_REFERER='https://example.org/?nhs_number=943')
    event = the_request_event(recorder, '/context/')
    assert event['data']['GET'] == {'NHS-Number': ['********'], 'page': ['1']}
    assert event['context']['referer'] == 'https://example.org/?nhs_number=********'
