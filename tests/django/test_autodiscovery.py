"""Autodiscovery of event types in a Django project of two apps, the check E030, and the catalog command there.

The project (``tests/django/eventtypes_project``) runs in its own process, as a
site starts: Django is set up from its settings, and nothing imports the apps'
``tracking_events`` modules but the eventtracking app.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from eventtracking.django import event_types
from eventtracking.django.checks import E_EVENT_TYPES_MODULE, check_event_types

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = 'tests.django.eventtypes_project.settings'
BROKEN_SETTINGS = 'tests.django.eventtypes_project.settings_broken'


def run(args, settings=SETTINGS, check=True):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings, PYTHONDONTWRITEBYTECODE='1')
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


STARTED_SITE = textwrap.dedent('''
    import json, django
    django.setup()
    from eventtracking import tracker
    from eventtracking.registry import registered_event_types
    names = [event_type.name for event_type in registered_event_types()]
    default = tracker.get_tracker()
    tracker.emit('tests.courses.enrolled', {'course_id': 'course-v1:a+b+c', 'mode': 'audit'})
    tracker.emit('tests.courses.enrolled', {'course_id': 7, 'mode': 'audit'})
    tracker.emit('tests.videos.played', {'id': 'v1', 'currentTime': 1.5})
    received = [event['name'] for event in default.backends['mem'].events]
    print(json.dumps({'names': names, 'received': received, 'stats': default.stats}))
''')


def test_both_apps_event_types_are_registered_at_start_up_and_the_validator_uses_them():
    report = json.loads(run(['-c', STARTED_SITE]).stdout)
    assert report['names'] == ['tests.courses.enrolled', 'tests.videos.played']
    assert report['received'] == ['tests.courses.enrolled', 'tests.videos.played']
    assert report['stats'] == {'invalid': 1, 'filtered': 1}


def test_the_checks_pass_in_the_two_app_project():
    result = run(['-m', 'django', 'check'])
    assert 'System check identified no issues' in result.stdout


def test_a_bad_definition_is_reported_by_the_check_with_its_module_and_the_problem():
    result = run(['-m', 'django', 'check'], settings=BROKEN_SETTINGS, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert E_EVENT_TYPES_MODULE in output
    assert 'tests.django.eventtypes_project.broken.tracking_events' in output
    assert "Event type 'tests.broken.thing': its example fails its own schema: data.n: expected integer, got str" \
        in output


def test_a_bad_definition_does_not_stop_the_other_apps_types_from_registering():
    result = run(['-c', STARTED_SITE], settings=BROKEN_SETTINGS)
    assert json.loads(result.stdout)['names'] == ['tests.courses.enrolled', 'tests.videos.played']
    assert 'Could not import the event types of tests.django.eventtypes_project.broken.tracking_events' \
        in result.stderr


def test_the_catalog_command_in_the_project_lists_both_apps_types():
    catalog = json.loads(run(['-m', 'django', 'eventtracking_catalog', '--format', 'json']).stdout)
    assert catalog['catalog_version'] == 1
    assert [entry['name'] for entry in catalog['event_types']] == ['tests.courses.enrolled', 'tests.videos.played']
    assert catalog['event_types'][0]['owner'] == 'courses team'


def test_the_catalog_command_fails_while_a_module_is_broken():
    result = run(['-m', 'django', 'eventtracking_catalog', '--skip-checks'], settings=BROKEN_SETTINGS, check=False)
    assert result.returncode != 0
    assert 'tests.django.eventtypes_project.broken.tracking_events' in result.stderr


def test_check_event_types_reports_each_recorded_failure(monkeypatch):
    monkeypatch.setattr(event_types, 'FAILURES', {'app.tracking_events': ImportError('boom')})
    (message,) = check_event_types()
    assert message.id == E_EVENT_TYPES_MODULE and message.is_serious()
    assert message.msg == 'app.tracking_events: the event types cannot be imported: ImportError: boom'
    monkeypatch.setattr(event_types, 'FAILURES', {})
    assert check_event_types() == []
