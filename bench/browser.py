#!/usr/bin/env python3
"""Browser events: how many events per second the ``event`` view accepts in batches of 20, and the client's size.

Run it in the test environment (it needs Django, and ``rjsmin`` for the minified size)::

    .venv/bin/python bench/browser.py            # 5 rounds of 250 requests per variant
    .venv/bin/python bench/browser.py --quick    # 1 round of 50

A standalone Django site (cookie sessions, CSRF, authentication and
``TrackMiddleware``, a ``FileBackend`` writing a temporary tracking log, the
rate counted in the default ``LocMemCache`` under a limit it never reaches)
takes batches of 20 events of about 150 bytes each, every name accepted by a
pattern of ``EVENT_TRACKING_BROWSER_EVENTS``:

* ``client, JSON body``: Django's test client posts the batch as a JSON body
  with the ``X-CSRFToken`` header, through the whole middleware stack, as the
  JavaScript client's ``fetch`` does;
* ``client, beacon form``: the same batch as the form field ``events`` beside
  ``csrfmiddlewaretoken``, as its ``sendBeacon`` does;
* ``view only``: :func:`eventtracking.django.browser.handle` on a request
  built beforehand (no middleware, no test client): the library's own cost.

Figures: events accepted per second (wall clock) and microseconds of CPU
time (``time.process_time``) per event, the best of the rounds; every round
checks that the tracking log holds one line per event sent. Then the
client's size: the readable file that ships, minified with ``rjsmin``, and
that gzipped.
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIENT = ROOT / 'eventtracking' / 'django' / 'static' / 'eventtracking' / 'eventtracking.js'
BATCH = 20


def configure(log_path):
    """A minimal site serving the library's URLs, writing ``log_path``."""
    import django  # pylint: disable=import-outside-toplevel
    from django.conf import settings  # pylint: disable=import-outside-toplevel

    settings.configure(
        SECRET_KEY='bench-not-a-secret', DEBUG=False, USE_TZ=True, ALLOWED_HOSTS=['*'],
        DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}},
        INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions',
                        'eventtracking.django'],
        MIDDLEWARE=['django.contrib.sessions.middleware.SessionMiddleware',
                    'django.middleware.csrf.CsrfViewMiddleware',
                    'django.contrib.auth.middleware.AuthenticationMiddleware',
                    'eventtracking.django.middleware.TrackMiddleware'],
        SESSION_ENGINE='django.contrib.sessions.backends.signed_cookies',
        ROOT_URLCONF='eventtracking.django.urls',
        EVENT_TRACKING_ENABLED=True,
        EVENT_TRACKING_BACKENDS={'tracking_log': {'ENGINE': 'eventtracking.backends.file.FileBackend',
                                                  'OPTIONS': {'path': str(log_path), 'max_event_size': None}}},
        EVENT_TRACKING_BROWSER_EVENTS=[r'bench\..*'],
        EVENT_TRACKING_BROWSER_RATE='1000000000/d',
        LOGGING_CONFIG=None,
    )
    django.setup()


def batch_payload(round_number, request_number):
    events = []
    for index in range(BATCH):
        events.append({
            'name': 'bench.video.played',
            'data': {'video_id': f'v-{round_number}-{request_number}-{index}', 'position': 12.5, 'speed': '1.0',
                     'course_id': 'course-v1:edX+DemoX+Demo'},
            'page': 'https://courses.example.org/courses/course-v1:edX+DemoX+Demo/courseware/',
            'time': '2026-12-05T10:00:00.000Z',
        })
    return json.dumps({'events': events})


def make_senders(requests):
    """(label, function sending request ``i`` of round ``r``) for each variant."""
    # pylint: disable=import-outside-toplevel
    from django.middleware.csrf import get_token
    from django.test import Client, RequestFactory

    from eventtracking.django import browser

    client = Client(enforce_csrf_checks=True, REMOTE_ADDR='192.0.2.1')
    factory_request = RequestFactory().get('/')
    token = get_token(factory_request)
    client.cookies['csrftoken'] = factory_request.META['CSRF_COOKIE']

    def json_body(round_number, index):
        response = client.post('/event', batch_payload(round_number, index), content_type='application/json',
                               HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 200, response.content

    def beacon_form(round_number, index):
        response = client.post('/event', {'csrfmiddlewaretoken': token,
                                          'events': batch_payload(round_number, index)})
        assert response.status_code == 200, response.content

    factory = RequestFactory(REMOTE_ADDR='192.0.2.2')
    prebuilt = {}

    def prepare(round_number):
        prebuilt.clear()
        for index in range(requests):
            request = factory.post('/event', batch_payload(round_number, index), content_type='application/json')
            request.user = None
            prebuilt[index] = request

    def view_only(round_number, index):  # pylint: disable=unused-argument
        response = browser.handle(prebuilt[index])
        assert response.status_code == 200, response.content

    return [('client, JSON body', json_body, None), ('client, beacon form', beacon_form, None),
            ('view only', view_only, prepare)]


def count_lines(path):
    with open(path, 'rb') as handle:
        return sum(1 for _ in handle)


def measure(rounds, requests, log_path):
    results = {}
    for label, send, prepare in make_senders(requests):
        best_rate, best_cpu = 0.0, None
        for round_number in range(rounds):
            if prepare is not None:
                prepare(round_number)
            before = count_lines(log_path)
            wall, cpu = time.perf_counter(), time.process_time()
            for index in range(requests):
                send(round_number, index)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            written = count_lines(log_path) - before
            if written != requests * BATCH:
                raise SystemExit(f'{label}: {written} lines written for {requests * BATCH} events sent')
            events = requests * BATCH
            best_rate = max(best_rate, events / wall)
            per_event = cpu / events * 1e6
            best_cpu = per_event if best_cpu is None else min(best_cpu, per_event)
        results[label] = (best_rate, best_cpu)
    return results


def client_size():
    source = CLIENT.read_bytes()
    try:
        import rjsmin  # pylint: disable=import-outside-toplevel
    except ImportError:
        return len(source), None, None
    minified = rjsmin.jsmin(source.decode('utf-8')).encode('utf-8')
    return len(source), len(minified), len(gzip.compress(minified, 9))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='1 round of 50 requests')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--requests', type=int, default=250, help='requests of 20 events per round')
    args = parser.parse_args(argv)
    rounds, requests = (1, 50) if args.quick else (args.rounds, args.requests)
    with tempfile.TemporaryDirectory(prefix='eventtracking-bench-browser-') as workdir:
        log_path = Path(workdir) / 'tracking.log'
        log_path.touch()
        configure(log_path)
        results = measure(rounds, requests, log_path)
    print(f'Browser events: batches of {BATCH}, {rounds} round(s) of {requests} requests, best round '
          f'(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)')
    print(f'{"variant":<22} {"events/s":>10} {"CPU us/event":>13}')
    for label, (rate, cpu) in results.items():
        print(f'{label:<22} {rate:>10,.0f} {cpu:>13.1f}')
    raw, minified, gzipped = client_size()
    shown = 'rjsmin not installed' if minified is None else f'{minified:,} bytes minified (rjsmin), {gzipped:,} gzipped'
    print(f'Client {CLIENT.relative_to(ROOT)}: {raw:,} bytes as shipped, {shown}')


if __name__ == '__main__':
    main()
