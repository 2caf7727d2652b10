"""The request context's validated fields: the ``_ga`` client id and the session hash (EVENT_TRACKING_SESSION_HASH)."""

import asyncio
import hashlib
import hmac
import json
import logging
import re

import pytest
from django.core.asgi import get_asgi_application
from django.test import Client

from eventtracking.django.checks import check_event_tracking_settings
from eventtracking.django.middleware import google_analytics_client_id, hash_session_key
from tests.django.helpers import asgi_request

SESSION_KEY = '0123456789abcdefghijklmnopqrstuv'
TEST_SECRET_KEY = 'eventtracking-tests-not-a-secret'  # tests/settings.py


# --- the _ga cookie ------------------------------------------------------------------------------

@pytest.mark.parametrize('cookie, client_id', [
    ('GA1.2.1033501218.1368477899', '1033501218.1368477899'),
    ('GA1.1.42.43', '42.43'),
    ('GA1.3.1.2', '1.2'),
])
def test_a_google_analytics_cookie_of_the_documented_shape_gives_its_client_id(cookie, client_id):
    assert google_analytics_client_id(cookie) == client_id


@pytest.mark.parametrize('cookie', [
    '<script>alert(1)</script>',
    'GA1.2.<script>alert(1)</script>.1',
    'GA1.2.1033501218.<script>',
    '', None, 42, 'garbage',
    'GA1.2.1033501218',  # truncated
    'GA1.2.',
    'GA1.2.1033501218.',
    'GA1.2.1033501218.1368477899.5',  # an extra part
    'GA1.2.1033501218.1368477899.<b>',
    'GA2.2.1033501218.1368477899',
    'ga1.2.1033501218.1368477899',
    'GA1.x.1033501218.1368477899',
    'GA1.2.1033501218.1368477899\n',
    ' GA1.2.1033501218.1368477899',
    'GA1.2.١٢٣.٤٥٦',  # digits, but not ASCII ones
    'GA1.2.' + '1' * 1000 + '.1',
])
def test_any_other_cookie_gives_no_client_id(cookie):
    assert google_analytics_client_id(cookie) is None


@pytest.mark.parametrize('path', ['/context/', '/async-context/'])
def test_a_malicious_cookie_never_reaches_the_context(recorder, path):
    client = Client()
    client.cookies['_ga'] = 'GA1.2.<script>x</script>.1'
    wsgi = client.get(path).json()
    status, body = asyncio.run(asgi_request(get_asgi_application(), path,
                                            headers=[('Cookie', '_ga=GA1.2.1.2.<b>')]))
    assert status == 200
    assert wsgi['client_id'] is None and json.loads(body)['client_id'] is None
    assert [event['context']['client_id'] for event in recorder.events] == [None, None]


# --- the session hash ----------------------------------------------------------------------------

def edx_platform_hash(secret_key, session_key):
    """edx-platform's TrackMiddleware session hash, written out from its definition with the hmac module."""
    key = hashlib.md5(('common.djangoapps.track' + 'TrackMiddleware' + secret_key).encode('utf-8')).digest()
    return hmac.new(key, msg=session_key.encode('utf-8'), digestmod=hashlib.md5).hexdigest()


def edx_platform_hash_rfc2104(secret_key, session_key):
    """The same, with HMAC built by hand as RFC 2104 defines it (no hmac module)."""
    key = hashlib.md5(b'common.djangoapps.trackTrackMiddleware' + secret_key.encode('utf-8')).digest()
    block = key.ljust(64, b'\x00')
    inner = hashlib.md5(bytes(byte ^ 0x36 for byte in block) + session_key.encode('utf-8')).digest()
    return hashlib.md5(bytes(byte ^ 0x5C for byte in block) + inner).hexdigest()


@pytest.mark.parametrize('secret_key, session_key', [
    (TEST_SECRET_KEY, SESSION_KEY),
    ('django-insecure-0!x#k9l2$z@v', 'kq1c7fx3m0bq1b2o2tq9zl0e2yxg5n1r'),
    ('s' * 100, 'a'),  # a secret longer than an MD5 block still yields a 16-byte key
    ('clé-secrète-ü', 'ünïcode-session'),
])
def test_edx_platform_session_hash_matches_its_published_definition(secret_key, session_key):
    expected = edx_platform_hash(secret_key, session_key)
    assert edx_platform_hash_rfc2104(secret_key, session_key) == expected
    assert hash_session_key(session_key, secret_key=secret_key, method='edx-platform') == expected


def test_edx_platform_session_hash_known_vector(settings):
    settings.EVENT_TRACKING_SESSION_HASH = 'edx-platform'
    assert hash_session_key(SESSION_KEY) == '728bbf46b32937288a909f90e1b00c28'
    assert hash_session_key('abc', secret_key='x') == 'b13a901133e97baf9613977f6d64cb23'
    assert hash_session_key('') == '' and hash_session_key(None) == ''


def test_blake2b_stays_the_default_and_unchanged(settings):
    default = hash_session_key(SESSION_KEY)
    settings.EVENT_TRACKING_SESSION_HASH = 'blake2b'
    assert hash_session_key(SESSION_KEY) == default == 'ec8a1a92fb5c35a51089dce7d1a4d813'
    personal_key = hashlib.blake2b(TEST_SECRET_KEY.encode(), digest_size=64, person=b'evtrack.session').digest()
    assert default == hashlib.blake2b(SESSION_KEY.encode(), key=personal_key, digest_size=16).hexdigest()
    assert default != edx_platform_hash(TEST_SECRET_KEY, SESSION_KEY)


def test_an_unknown_session_hash_is_logged_once_and_hashed_with_blake2b(settings, caplog):
    settings.EVENT_TRACKING_SESSION_HASH = 'md5-of-something'
    with caplog.at_level(logging.ERROR, logger='eventtracking.django.middleware'):
        hashes = {hash_session_key(SESSION_KEY) for _ in range(3)}
    assert hashes == {hash_session_key(SESSION_KEY, method='blake2b')}
    [record] = caplog.records
    assert "unknown session hash 'md5-of-something'" in record.getMessage()


@pytest.mark.django_db(transaction=True)
def test_the_context_carries_the_edx_platform_hash_under_wsgi_and_asgi(database_sessions_site, recorder):
    from django.contrib.auth import get_user_model  # pylint: disable=import-outside-toplevel
    database_sessions_site.EVENT_TRACKING_SESSION_HASH = 'edx-platform'
    client = Client()
    client.force_login(get_user_model().objects.create_user('bob', password='correct horse'))
    session_key = client.session.session_key
    client.get('/context/')
    status, _ = asyncio.run(asgi_request(get_asgi_application(), '/async-context/',
                                         headers=[('Cookie', f'sessionid={session_key}')]))
    assert status == 200
    expected = edx_platform_hash(TEST_SECRET_KEY, session_key)
    assert [event['context']['session'] for event in recorder.events] == [expected, expected]
    assert re.fullmatch('[0-9a-f]{32}', expected)


@pytest.fixture
def database_sessions_site(site):
    site.SESSION_ENGINE = 'django.contrib.sessions.backends.db'
    return site


# --- the system checks ---------------------------------------------------------------------------

def messages_for(settings, **values):
    for name, value in values.items():
        setattr(settings, name, value)
    return [(message.id, message.msg) for message in check_event_tracking_settings()]


@pytest.mark.parametrize('value', ['blake2b', 'edx-platform'])
def test_check_accepts_the_session_hashes(settings, value):
    assert messages_for(settings, EVENT_TRACKING_SESSION_HASH=value) == []


@pytest.mark.parametrize('value', ['md5', 'BLAKE2B', 'edx_platform', '', None, ['blake2b']])
def test_check_reports_an_unknown_session_hash(settings, value):
    [(check_id, message)] = messages_for(settings, EVENT_TRACKING_SESSION_HASH=value)
    assert check_id == 'eventtracking.E070'
    assert message.startswith(f'EVENT_TRACKING_SESSION_HASH: unknown session hash {value!r}')


def test_check_accepts_censored_keys(settings):
    assert messages_for(settings, EVENT_TRACKING_CENSORED_KEYS=['nhs_number', '*voucher*', 'X-Tenant-Key']) == []


def test_check_reports_bad_censored_keys(settings):
    found = messages_for(settings, EVENT_TRACKING_CENSORED_KEYS=['ok', '', '42', 'a*b', '*', 7])
    assert found == [
        ('eventtracking.E071', "EVENT_TRACKING_CENSORED_KEYS[1]: '' has no letters to match"),
        ('eventtracking.E071', "EVENT_TRACKING_CENSORED_KEYS[2]: '42' has no letters to match"),
        ('eventtracking.E071', "EVENT_TRACKING_CENSORED_KEYS[3]: 'a*b': an asterisk may only wrap the whole "
                               "entry, as in '*token*'"),
        ('eventtracking.E071', "EVENT_TRACKING_CENSORED_KEYS[4]: '*': an asterisk may only wrap the whole "
                               "entry, as in '*token*'"),
        ('eventtracking.E071', 'EVENT_TRACKING_CENSORED_KEYS[5]: 7 is not a string'),
    ]


def test_check_reports_censored_keys_that_are_not_a_list(settings):
    assert messages_for(settings, EVENT_TRACKING_CENSORED_KEYS='password') == [
        ('eventtracking.E071', 'EVENT_TRACKING_CENSORED_KEYS: must be a list of parameter keys, not str'),
    ]
