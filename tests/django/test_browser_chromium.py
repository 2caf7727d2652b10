"""The JavaScript client in a real headless Chromium against a live server writing a real tracking log.

Debian's ``chromium`` and ``chromium-driver`` and Selenium from PyPI; the
site is the test site on a loopback port (:class:`tests.django.browser_server.LiveSite`),
its default tracker a ``FileBackend``. Without Chromium these tests skip,
except under ``CI=true``, where they fail.
"""

import json
import shutil
import time

import pytest
from django.core.cache import cache
from django.utils.crypto import get_random_string

from eventtracking import tracker
from eventtracking.django import DjangoTracker
from tests.django.browser_server import LiveSite, start_chromium
from tests.django.conftest import SITE_MIDDLEWARE
from tests.servers import unavailable

pytestmark = pytest.mark.server

WAIT = 15
"""Seconds to wait for a line in the tracking log (generous: two cores shared by many test runs)."""


@pytest.fixture(scope='module')
def chromium():
    """One headless Chromium for the module, with a fresh profile."""
    try:
        driver = start_chromium()
    except Exception as exc:  # pylint: disable=broad-except
        unavailable(f'headless Chromium cannot start: {type(exc).__name__}: {exc}'.splitlines()[0])
    yield driver
    driver.quit()
    shutil.rmtree(driver.eventtracking_profile, ignore_errors=True)


@pytest.fixture
def tracking_log(settings, tmp_path):
    """The test site's settings, with a FileBackend writing ``tracking.log`` as the default tracker."""
    path = tmp_path / 'tracking.log'
    settings.ROOT_URLCONF = 'tests.django.browser_urls'
    settings.MIDDLEWARE = ['django.middleware.csrf.CsrfViewMiddleware', *SITE_MIDDLEWARE]
    settings.SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
    settings.STATIC_URL = '/static/'
    settings.TEMPLATES = [{'BACKEND': 'django.template.backends.django.DjangoTemplates', 'APP_DIRS': True}]
    settings.EVENT_TRACKING_BROWSER_EVENTS = [r'tests\.browser\..*']
    settings.EVENT_TRACKING_BACKENDS = {
        'tracking_log': {'ENGINE': 'eventtracking.backends.file.FileBackend',
                         'OPTIONS': {'path': str(path), 'max_event_size': None}},
    }
    settings.EVENT_TRACKING_PROCESSORS = []
    cache.clear()
    tracker.register_tracker(DjangoTracker())
    return path


@pytest.fixture
def live_site(tracking_log, chromium):  # pylint: disable=unused-argument
    live = LiveSite()
    yield live
    chromium.get('about:blank')  # no page of this site is left to send anything after the test
    live.stop()


def lines(path):
    """The events in the tracking log."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines()]


def wait_for_lines(path, count, timeout=WAIT):
    """Wait until the tracking log holds ``count`` lines; return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lines(path)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f'{count} line(s) expected in the tracking log within {timeout} s, found {lines(path)}')


def open_page(driver, live_site, name, **query):
    url = f'{live_site.url}/page/{name}/' + ('?' + '&'.join(f'{key}={value}' for key, value in query.items())
                                         if query else '')
    driver.get(url)
    assert driver.find_element('id', 'name').text == name
    return url


def test_a_click_lands_in_the_tracking_log_as_one_line_with_the_browser_source_and_the_page(
        chromium, live_site, tracking_log):
    url = open_page(chromium, live_site, 'one', batch=1)

    chromium.find_element('id', 'click').click()

    [line] = wait_for_lines(tracking_log, 1)
    assert line['name'] == 'tests.browser.clicked'
    assert line['data'] == {'button': 'click'}
    assert line['context']['event_source'] == 'browser'
    assert line['context']['page'] == url
    assert line['context']['username'] == 'anonymous'
    assert line['context']['client_time'].endswith('Z')
    assert line['context']['path'] == '/event' and 'HeadlessChrome' in line['context']['agent']
    time.sleep(0.3)
    assert len(lines(tracking_log)) == 1
    assert live_site.requests == [('POST', 'application/json', 200)]


def test_logger_log_and_batching_send_several_events_in_one_request(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'batched', batch=3, interval=60000)

    chromium.find_element('id', 'legacy').click()
    chromium.find_element('id', 'click').click()
    chromium.find_element('id', 'click').click()

    found = wait_for_lines(tracking_log, 3)
    assert [line['name'] for line in found] == [
        'tests.browser.legacy', 'tests.browser.clicked', 'tests.browser.clicked']
    assert found[0]['data'] == {'via': 'Logger.log'}
    assert live_site.requests == [('POST', 'application/json', 200)]


def test_an_event_emitted_just_before_navigating_away_arrives_by_send_beacon(chromium, live_site, tracking_log):
    url = open_page(chromium, live_site, 'two', batch=50, interval=60000)  # only leaving the page can send it

    chromium.find_element('id', 'leave').click()

    [line] = wait_for_lines(tracking_log, 1)
    assert chromium.find_element('id', 'name').text == 'next'
    assert line['name'] == 'tests.browser.left' and line['data'] == {'n': 1}
    assert line['context']['page'] == url and line['context']['event_source'] == 'browser'
    assert live_site.requests == [('POST', 'application/x-www-form-urlencoded', 200)]  # a beacon, with the CSRF token


def test_events_queued_while_the_server_answers_503_arrive_once_when_it_answers_200(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'three', batch=1, interval=100)
    live_site.answer_unavailable(3)

    for index in range(3):
        chromium.execute_script('eventtracking.emit("tests.browser.queued", {index: arguments[0]})', index)

    found = wait_for_lines(tracking_log, 3)
    time.sleep(1)  # no duplicate follows
    found = lines(tracking_log)
    assert sorted(line['data']['index'] for line in found) == [0, 1, 2]
    statuses = live_site.statuses()
    assert statuses[:3] == [503, 503, 503] and set(statuses[3:]) == {200}


def wait_for_an_answer(live_site):
    """Wait (at most WAIT seconds) until the site has answered a request of the page."""
    deadline = time.monotonic() + WAIT
    while not live_site.statuses() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_event_over_the_limit_is_refused_counted_and_never_retried(chromium, live_site, tracking_log, settings):
    settings.EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES = 500
    open_page(chromium, live_site, 'four', batch=1, interval=100)

    chromium.execute_script('eventtracking.emit("tests.browser.big", {text: "x".repeat(1000)})')
    wait_for_an_answer(live_site)
    chromium.execute_script('eventtracking.emit("tests.browser.small", {text: "x"})')

    [line] = wait_for_lines(tracking_log, 1)
    assert line['name'] == 'tests.browser.small'
    time.sleep(0.5)  # a retry would come within the client's interval
    assert live_site.statuses() == [413, 200]
    assert tracker.get_tracker().stats.get('oversize') == 1
    assert len(lines(tracking_log)) == 1


def test_data_json_cannot_carry_is_dropped_in_the_page_and_stops_nothing(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'five', batch=1)

    chromium.execute_script('var data = {}; data.self = data; '
                            'try { eventtracking.emit("tests.browser.cyclic", data); } catch (error) {}')
    chromium.find_element('id', 'click').click()

    [line] = wait_for_lines(tracking_log, 1)
    assert line['name'] == 'tests.browser.clicked'


def test_a_batch_too_big_for_a_keepalive_request_reaches_the_server_and_stops_nothing(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'six', batch=10, interval=100)

    chromium.execute_script('for (var i = 0; i < 10; i++) { '
                            'eventtracking.emit("tests.browser.big", {i: i, text: "x".repeat(7000)}); }')
    wait_for_an_answer(live_site)
    chromium.execute_script('eventtracking.emit("tests.browser.small", {text: "x"})')

    [line] = wait_for_lines(tracking_log, 1)
    assert line['name'] == 'tests.browser.small'
    assert live_site.statuses() == [413, 200]  # the body over EVENT_TRACKING_BROWSER_MAX_BYTES: refused, counted


def test_an_event_is_sent_as_it_was_emitted_even_when_its_data_changes_after(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'seven', batch=2, interval=60000)

    chromium.execute_script('var data = {n: 1}; eventtracking.emit("tests.browser.first", data); '
                            'data.n = 2; data.self = data; eventtracking.emit("tests.browser.second", {n: 3});')

    found = wait_for_lines(tracking_log, 2)
    assert [(line['name'], line['data']) for line in found] == [
        ('tests.browser.first', {'n': 1}), ('tests.browser.second', {'n': 3})]


def test_logger_log_with_text_data_lands_as_the_platforms_form_would(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'eight', batch=1)

    chromium.execute_script('Logger.log("tests.browser.legacy", "input_1=2&input_2=3")')

    [line] = wait_for_lines(tracking_log, 1)
    assert line['data'] == {'event': 'input_1=2&input_2=3'}


def test_events_too_big_for_one_beacon_go_out_in_smaller_ones(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'nine', batch=50, interval=60000)
    chromium.execute_script('for (var i = 0; i < 20; i++) { '
                            'eventtracking.emit("tests.browser.big", {i: i, text: "x".repeat(4000)}); }')

    chromium.find_element('id', 'leave').click()

    wait_for_lines(tracking_log, 10)  # at least the first half: the beacons in flight share 64 KB
    time.sleep(0.5)
    sent = [line['data']['i'] for line in lines(tracking_log) if line['name'] == 'tests.browser.big']
    assert sorted(sent) == list(range(len(sent))) and len(sent) >= 10  # the first ones, none left out
    assert set(live_site.statuses()) == {200}


def test_events_emitted_offline_arrive_once_when_the_browser_is_back_online(chromium, live_site, tracking_log):
    open_page(chromium, live_site, 'ten', batch=1, interval=100)
    chromium.execute_cdp_cmd('Network.enable', {})
    chromium.execute_cdp_cmd('Network.emulateNetworkConditions', {
        'offline': True, 'latency': 0, 'downloadThroughput': -1, 'uploadThroughput': -1})
    try:
        for index in range(3):
            chromium.execute_script('eventtracking.emit("tests.browser.offline", {index: arguments[0]})', index)
        time.sleep(1)
        assert not live_site.statuses()
    finally:
        chromium.execute_cdp_cmd('Network.emulateNetworkConditions', {
            'offline': False, 'latency': 0, 'downloadThroughput': -1, 'uploadThroughput': -1})

    wait_for_lines(tracking_log, 3)
    time.sleep(1)  # no duplicate follows
    assert sorted(line['data']['index'] for line in lines(tracking_log)) == [0, 1, 2]


def test_events_still_arrive_after_the_csrf_token_is_rotated_by_a_login_in_another_tab(chromium, live_site,
                                                                                        tracking_log):
    open_page(chromium, live_site, 'eleven', batch=1)
    chromium.delete_cookie('csrftoken')
    chromium.add_cookie({'name': 'csrftoken', 'value': get_random_string(32), 'path': '/'})  # as rotate_token does

    chromium.find_element('id', 'click').click()

    [line] = wait_for_lines(tracking_log, 1)
    assert line['name'] == 'tests.browser.clicked' and live_site.statuses() == [200]
