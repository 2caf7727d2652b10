"""Contexts stay per request under concurrent load: ASGI (async and sync views mixed) and a threaded WSGI server.

Each request has its own path (``/sync/<tag>/`` or ``/async/<tag>/``) and user
agent (``agent-<tag>``); its view emits three events carrying ``tag`` in
their data. An event is right when its context names its own request.
"""

import asyncio
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.asgi import get_asgi_application
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

from tests.django.helpers import asgi_request

REQUESTS = 60
EVENTS_PER_REQUEST = 3


def kind_of(tag):
    """Even tags go to the async view, odd ones to the sync view."""
    return 'async' if tag % 2 == 0 else 'sync'


def own_context(tag):
    return {'path': f'/{kind_of(tag)}/{tag}/', 'agent': f'agent-{tag}'}


def context_errors(events):
    """Events whose context is not their own request's, as (tag, what the context said)."""
    errors = []
    for event in events:
        tag = event['data']['tag']
        seen = {'path': event['context'].get('path'), 'agent': event['context'].get('agent')}
        if seen != own_context(tag):
            errors.append((tag, seen))
    return errors


def interleaved(events):
    """True if some request's events are not contiguous: the requests really ran at the same time."""
    tags = [event['data']['tag'] for event in events]
    finished = set()
    for previous, current in zip(tags, tags[1:]):
        if current != previous:
            finished.add(previous)
            if current in finished:
                return True
    return False


async def run_concurrently(application):
    return await asyncio.gather(*(
        asgi_request(application, f'/{kind_of(tag)}/{tag}/', headers=[('User-Agent', f'agent-{tag}')])
        for tag in range(REQUESTS)
    ))


def test_asgi_concurrent_requests_keep_their_own_context(recorder):
    application = get_asgi_application()

    responses = asyncio.run(run_concurrently(application))

    assert [status for status, _ in responses] == [200] * REQUESTS
    events = recorder.events
    assert len(events) == REQUESTS * EVENTS_PER_REQUEST
    assert {event['name'] for event in events} == {'test.sync', 'test.async'}
    assert interleaved(events)
    assert context_errors(events) == []


def test_asgi_thread_local_contexts_leak_between_requests(site, recorder_factory):
    """The same load with the thread-local locator: events carry other requests' contexts or none.

    This is why the Django tracker uses the contextvars locator, and it shows
    the test above is able to fail.
    """
    site.EVENT_TRACKING_CONTEXT_LOCATOR = 'eventtracking.locator.ThreadLocalContextLocator'
    recorder = recorder_factory()
    application = get_asgi_application()

    asyncio.run(run_concurrently(application))

    errors = context_errors(recorder.events)
    assert errors
    foreign = [(tag, seen) for tag, seen in errors
               if seen['path'] is not None and seen != own_context(tag)]
    assert foreign, 'expected events carrying another request\'s context'
    missing = [(tag, seen) for tag, seen in errors if kind_of(tag) == 'sync' and seen['path'] is None]
    assert missing, 'expected sync views to see no request context at all'


@pytest.fixture
def recorder_factory(site):
    """Build and register the DjangoTracker after the test has changed the settings."""
    from eventtracking import tracker  # pylint: disable=import-outside-toplevel
    from eventtracking.django import DjangoTracker  # pylint: disable=import-outside-toplevel

    def build():
        django_tracker = DjangoTracker()
        tracker.register_tracker(django_tracker)
        return django_tracker.get_backend('recorder')
    return build


@pytest.fixture
def wsgi_server(site):
    """A threaded WSGI server (Django's runserver one) on a free loopback port, serving the test site."""
    server = ThreadedWSGIServer(('127.0.0.1', 0), QuietHandler)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class QuietHandler(WSGIRequestHandler):
    """Does not log every request."""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def test_threaded_wsgi_requests_keep_their_own_context(recorder, wsgi_server):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch(tag):
        request = urllib.request.Request(f'{wsgi_server}/sync/{tag}/', headers={'User-Agent': f'agent-{tag}'})
        with opener.open(request, timeout=30) as response:
            return response.status, threading.get_ident()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(fetch, [tag * 2 + 1 for tag in range(REQUESTS)]))

    assert [status for status, _ in results] == [200] * REQUESTS
    events = recorder.events
    assert len(events) == REQUESTS * EVENTS_PER_REQUEST
    assert interleaved(events)
    assert context_errors(events) == []
