"""Setting up browser events: the system checks, the template tag, ``EventType(browser=True)`` in the catalog, the
client's size, and the static file in a built wheel."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rjsmin
from django.core import checks
from django.core.cache import cache
from django.template import TemplateSyntaxError, engines
from django.test import Client, RequestFactory

from eventtracking import catalog
from eventtracking.django import browser_checks
from eventtracking.registry import EventType, Field, register
from tests.django.browser_pages import STATIC_ROOT
from tests.django.conftest import SITE_MIDDLEWARE

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENT = STATIC_ROOT / 'eventtracking' / 'eventtracking.js'
MAX_MINIFIED_BYTES = 4096


# --- system checks ------------------------------------------------------------------------------------------

def messages():
    return [(message.id, message.msg) for message in browser_checks.check_browser_settings()]


def test_the_defaults_pass_the_checks(settings):
    for name in ('EVENT_TRACKING_BROWSER_EVENTS', 'EVENT_TRACKING_BROWSER_MAX_BYTES', 'EVENT_TRACKING_BROWSER_RATE'):
        if hasattr(settings, name):
            delattr(settings, name)
    assert messages() == []


def test_good_values_pass_the_checks(settings):
    settings.EVENT_TRACKING_BROWSER_EVENTS = [r'myapp\..*', 'video.played']
    settings.EVENT_TRACKING_BROWSER_MAX_BYTES = 10000
    settings.EVENT_TRACKING_BROWSER_MAX_EVENTS = 5
    settings.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 1000
    for rate in ('10/s', '600/m', '1000/hour', '5000/day', None):
        settings.EVENT_TRACKING_BROWSER_RATE = rate
        assert messages() == []


@pytest.mark.parametrize('value, expected', [
    (r'myapp\..*', "eventtracking.E090 EVENT_TRACKING_BROWSER_EVENTS: must be a list of regular expressions, not str"),
    (['ok', '(unclosed'], "eventtracking.E090 EVENT_TRACKING_BROWSER_EVENTS[1]: '(unclosed' is not a valid regular"),
    (['ok', 42], 'eventtracking.E090 EVENT_TRACKING_BROWSER_EVENTS[1]: 42 is not a valid regular expression'),
])
def test_bad_name_patterns_are_reported_with_their_path(settings, value, expected):
    settings.EVENT_TRACKING_BROWSER_EVENTS = value

    [(check_id, message)] = messages()

    assert f'{check_id} {message}'.startswith(expected)


@pytest.mark.parametrize('name', ['EVENT_TRACKING_BROWSER_MAX_BYTES', 'EVENT_TRACKING_BROWSER_MAX_EVENTS',
                                  'EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES'])
@pytest.mark.parametrize('value', [0, -1, '100', True, 1.5, None])
def test_a_limit_that_is_not_a_positive_integer_is_reported(settings, name, value):
    setattr(settings, name, value)

    assert messages() == [('eventtracking.E091', f'{name}: must be a positive integer, not {value!r}')]


@pytest.mark.parametrize('value', ['600', '600/w', '0/m', 'ten/m', 600, ['600/m'], '600/m '])
def test_a_bad_rate_is_reported(settings, value):
    settings.EVENT_TRACKING_BROWSER_RATE = value

    [(check_id, message)] = messages()

    assert check_id == 'eventtracking.E092' and message.startswith('EVENT_TRACKING_BROWSER_RATE: ')
    assert "'600/m'" in message


def test_an_event_limit_above_the_body_limit_is_warned_about(settings):
    settings.EVENT_TRACKING_BROWSER_MAX_BYTES = 1000
    settings.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 2000

    assert messages() == [('eventtracking.W090', 'EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES: 2000 is above '
                           'EVENT_TRACKING_BROWSER_MAX_BYTES (1000): no request can carry an event that large')]


def test_the_app_registers_the_browser_checks(settings):
    settings.EVENT_TRACKING_BROWSER_RATE = 'fast'

    found = [message.id for message in checks.run_checks(tags=['eventtracking'])]

    assert 'eventtracking.E092' in found


def test_bad_values_fall_back_to_the_defaults_in_the_view(settings):
    from eventtracking.django.browser import Limits  # pylint: disable=import-outside-toplevel

    settings.EVENT_TRACKING_BROWSER_MAX_EVENTS = 'many'
    settings.EVENT_TRACKING_BROWSER_RATE = ['600/m']
    settings.EVENT_TRACKING_BROWSER_EVENTS = ['(bad', 'good']

    limits = Limits.from_settings()

    assert limits.max_events == 50 and limits.rate == (600, 60)
    assert [pattern.pattern for pattern in limits.patterns] == ['good']


# --- the template tag ---------------------------------------------------------------------------------------

@pytest.fixture
def pages(settings):
    settings.ROOT_URLCONF = 'tests.django.browser_urls'
    settings.MIDDLEWARE = ['django.middleware.csrf.CsrfViewMiddleware', *SITE_MIDDLEWARE]
    settings.SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
    settings.STATIC_URL = '/assets/'
    settings.TEMPLATES = [{'BACKEND': 'django.template.backends.django.DjangoTemplates', 'APP_DIRS': True}]
    settings.EVENT_TRACKING_BROWSER_EVENTS = [r'tests\.browser\..*']
    settings.EVENT_TRACKING_BACKENDS = {}
    cache.clear()
    return settings


def render(text, request=None, context=None):
    return engines['django'].from_string(text).render(context or {}, request)


def test_the_tag_renders_the_script_with_the_event_url_and_the_csrf_token(pages):  # pylint: disable=unused-argument
    request = RequestFactory().get('/')

    html = render('{% load eventtracking %}{% eventtracking_script %}', request)

    match = re.fullmatch(r'<script src="/assets/eventtracking/eventtracking\.js" data-url="/event" '
                         r'data-csrf="([A-Za-z0-9]{64})" data-batch-size="10"></script>', html)
    assert match, html
    assert request.META['CSRF_COOKIE_NEEDS_UPDATE']  # the response will set the CSRF cookie


def test_the_tag_takes_the_batching_options(pages):  # pylint: disable=unused-argument
    html = render('{% load eventtracking %}{% eventtracking_script batch_size=5 interval=250 max_queue=100 %}',
                  RequestFactory().get('/'))

    assert 'data-batch-size="5" data-interval="250" data-max-queue="100"' in html


def test_the_tag_never_asks_for_batches_the_view_would_refuse(pages):
    pages.EVENT_TRACKING_BROWSER_MAX_EVENTS = 4

    assert 'data-batch-size="4"' in render('{% load eventtracking %}{% eventtracking_script %}',
                                           RequestFactory().get('/'))
    assert 'data-batch-size="4"' in render('{% load eventtracking %}{% eventtracking_script batch_size=20 %}',
                                           RequestFactory().get('/'))


@pytest.mark.parametrize('arguments', ['batch=5', 'batch_size=0', 'interval="soon"', 'max_queue=True'])
def test_the_tag_refuses_unknown_or_bad_options(pages, arguments):  # pylint: disable=unused-argument
    with pytest.raises(TemplateSyntaxError, match='eventtracking_script'):
        render('{% load eventtracking %}{% eventtracking_script ' + arguments + ' %}', RequestFactory().get('/'))


def test_without_a_request_the_tag_renders_no_token(pages):  # pylint: disable=unused-argument
    assert 'data-csrf=""' in render('{% load eventtracking %}{% eventtracking_script %}')


def test_the_token_a_page_renders_is_accepted_by_the_view(pages):  # pylint: disable=unused-argument
    client = Client(enforce_csrf_checks=True)
    page = client.get('/page/home/')
    token = re.search(r'data-csrf="([^"]+)"', page.content.decode()).group(1)
    assert 'csrftoken' in page.cookies

    events = json.dumps({'events': [{'name': 'tests.browser.opened', 'data': {}}]})
    accepted = client.post('/event', {'csrfmiddlewaretoken': token, 'events': events})
    refused = client.post('/event', {'csrfmiddlewaretoken': 'x' * 64, 'events': events})

    assert accepted.status_code == 200 and refused.status_code == 403


# --- EventType(browser=True) and the catalog ----------------------------------------------------------------

@pytest.fixture
def video_types(isolated_event_types):  # pylint: disable=unused-argument
    register(EventType('tests.video.played', 'A video was played.', fields={'video_id': Field(str, 'The video.')},
                       browser=True))
    register(EventType('tests.video.published', 'A video was published (the server emits it).'))


def test_browser_is_false_unless_given():
    assert EventType('tests.x', 'x').browser is False
    assert EventType('tests.x', 'x', browser=True).browser is True


def test_the_browser_flag_is_part_of_the_definition(isolated_event_types):  # pylint: disable=unused-argument
    register(EventType('tests.x', 'x', browser=True))

    assert EventType('tests.x', 'x', browser=True).definition()['browser'] is True
    assert 'browser' not in EventType('tests.x', 'x').definition()
    with pytest.raises(Exception, match='registered twice with different definitions'):
        register(EventType('tests.x', 'x'))


def test_the_json_catalog_marks_browser_types_and_loads_them_back(video_types):  # pylint: disable=unused-argument
    text = catalog.render('json')
    entries = {entry['name']: entry for entry in json.loads(text)['event_types']}

    assert entries['tests.video.played']['browser'] is True
    assert 'browser' not in entries['tests.video.published']
    loaded = {event_type.name: event_type for event_type in catalog.load(text)}
    assert loaded['tests.video.played'].browser and not loaded['tests.video.published'].browser
    assert catalog.render_json(list(loaded.values())) == text


@pytest.mark.parametrize('fmt, mark', [('markdown', '- Accepted from the browser: yes'),
                                       ('rst', ':Accepted from the browser: yes')])
def test_the_text_catalogs_mark_browser_types(video_types, fmt, mark):  # pylint: disable=unused-argument
    text = catalog.render(fmt)
    played, published = text.split('tests.video.published')[0], text.split('tests.video.published')[1]

    assert mark in played and mark not in published


# --- the client file ----------------------------------------------------------------------------------------

def test_the_client_is_under_4_kb_minified():
    source = CLIENT.read_text(encoding='utf-8')

    minified = rjsmin.jsmin(source)

    assert len(minified.encode('utf-8')) < MAX_MINIFIED_BYTES
    assert len(minified) < len(source)  # the readable source is what ships


def test_the_client_has_no_dependency():
    source = CLIENT.read_text(encoding='utf-8')

    assert not re.search(r'\b(require|import)\s*\(|^\s*import\s|\$\.|jQuery', source, re.M)


@pytest.mark.server
def test_a_built_wheel_ships_the_client(tmp_path):
    source = tmp_path / 'source'  # a copy: building leaves build/ behind, which must not land in the checkout
    source.mkdir()
    for name in ('setup.py', 'README.rst', 'LICENSE.txt'):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / 'eventtracking', source / 'eventtracking',
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    built = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--quiet',
         '-w', str(tmp_path / 'dist'), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / 'dist').glob('eventtracking-*.whl')

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = archive.read('eventtracking/django/static/eventtracking/eventtracking.js')

    assert shipped == CLIENT.read_bytes()
    assert 'eventtracking/django/templatetags/eventtracking.py' in names
    assert 'eventtracking/django/urls.py' in names
