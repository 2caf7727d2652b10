"""Tracking logs written by a real tracker, and the eventtracking command run as a subprocess."""

import gzip
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from eventtracking.backends.file import FileBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors.legacy import LegacyFieldMappingProcessor

START = datetime(2024, 3, 1, 8, 15, tzinfo=timezone.utc)

REQUEST_CONTEXT = {'username': 'alice', 'session': 'abc', 'ip': '10.0.0.1', 'agent': 'Mozilla', 'host': 'lms',
                   'referer': '', 'accept_language': 'fr', 'client_id': None, 'user_id': 7, 'path': '/x',
                   'course_id': 'course-v1:X+Y+Z', 'org_id': 'X'}


def sample_events(count=6):
    """Native events as a tracker builds them: aware timestamps an hour apart for every 3, non-ASCII data."""
    events = []
    for i in range(count):
        context = dict(REQUEST_CONTEXT, user_id=7 + i % 2, username=['alice', 'bob'][i % 2])
        if i % 3 == 2:
            context.update(event_source='browser', event_type='/courses/x/play', page='https://lms/x')
        events.append({
            'name': ['edx.video.played', 'edx.course.enrollment.activated', 'problem_check'][i % 3],
            'timestamp': START + timedelta(minutes=20 * i, microseconds=i),
            'data': {'i': i, 'text': 'caf\u00e9 \u4e2d', 'nested': {'list': [1, None, True, 2.5]}},
            'context': context,
        })
    return events


def write_log(path, events, legacy=False, prefix=''):
    """Write ``events`` to ``path`` as a FileBackend does (legacy: through LegacyFieldMappingProcessor).

    ``prefix`` (a format with ``{n}``) is put before each line's JSON, as a logging formatter would.
    Returns the lines' JSON texts.
    """
    backend = FileBackend(path, max_event_size=None)
    tree = RoutingBackend({'file': backend}, processors=[LegacyFieldMappingProcessor()] if legacy else [])
    for event in events:
        tree.send(event)
    backend.close()
    with open(path, encoding='utf-8') as log:
        texts = log.read().splitlines()
    if prefix:
        with open(path, 'w', encoding='utf-8') as log:
            log.writelines(prefix.format(n=n) + text + '\n' for n, text in enumerate(texts))
    return texts


def gzip_file(path):
    """Compress ``path`` into ``path.gz`` (same lines) and return that path; the name alone does not tell gzip."""
    target = f'{path}.gz'
    with open(path, 'rb') as source, gzip.open(target, 'wb') as compressed:
        compressed.write(source.read())
    return target


TUTOR_PREFIX = '2024-03-01 08:15:00,123 INFO 27 [tracking] [user {n}] [ip 10.0.0.1] logger.py:41 - '
"""The prefix Tutor's LMS logging formatter writes before a tracking log line's JSON."""

BRACED_PREFIX = 'host {{not json}} [{{"a": 1}} trailing] - '
"""A prefix holding braces and even a JSON object that is not the whole rest of the line."""


def run_cli(*args, cwd=None, env=None, command=None, timeout=120):
    """Run ``python -m eventtracking ARGS`` (or ``command``) and return the CompletedProcess (text)."""
    command = command or [sys.executable, '-m', 'eventtracking']
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout, check=False)
