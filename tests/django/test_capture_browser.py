"""Browser events (the ``event`` view) reach a capture, and by default stop there; passthrough goes on."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from eventtracking.testing import EventCapture
from tests.django.conftest import SITE_MIDDLEWARE


@pytest.fixture(name='recorder_of_the_site')
def fixture_recorder_of_the_site(site, recorder):
    """The test site with the library's ``event`` URL; returns the default tracker's recording backend."""
    site.ROOT_URLCONF = 'tests.django.browser_urls'
    site.MIDDLEWARE = list(SITE_MIDDLEWARE)
    site.EVENT_TRACKING_BROWSER_EVENTS = [r'tests\.page\..*']
    cache.clear()
    return recorder


@pytest.mark.parametrize('passthrough', [False, True])
def test_browser_events_are_captured_and_held_unless_passed_through(recorder_of_the_site, passthrough):
    with EventCapture(passthrough=passthrough) as captured:
        response = Client().post('/event', json.dumps({'events': [{'name': 'tests.page.opened', 'data': {'n': 1}}]}),
                                 content_type='application/json')
    assert response.status_code == 200 and response.json()['accepted'] == 1
    assert [(event['name'], event['data'], event['context']['event_source']) for event in captured.events] == [
        ('tests.page.opened', {'n': 1}, 'browser')]
    assert [event['name'] for event in recorder_of_the_site.events] == (['tests.page.opened'] if passthrough else [])
