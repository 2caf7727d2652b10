"""The line logged when the settings cannot be built at start-up: as precise as the checks, and logged once."""

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from django.apps import apps

from eventtracking import tracker
from tests.django.test_manage_py import MANAGE_PY
from tests.servers import free_port

APPS_LOGGER = 'eventtracking.django.apps'
MONGO = 'eventtracking.backends.mongodb'
RUN_CHECK = 'Run "manage.py check"'


@pytest.fixture
def start_up(settings, caplog, monkeypatch):
    """Run the app's ``ready()`` with these settings and this command line; return what it logged."""
    def run(argv=('manage.py', 'runserver', '--noreload'), **values):
        tracker.TRACKERS.clear()
        monkeypatch.setattr(sys, 'argv', list(argv))
        settings.EVENT_TRACKING_ENABLED = True
        settings.EVENT_TRACKING_PROCESSORS = []
        for name, value in values.items():
            setattr(settings, name, value)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger=APPS_LOGGER):
            apps.get_app_config('eventtracking_django').ready()
        return [record.getMessage() for record in caplog.records if record.name == APPS_LOGGER]
    return run


def test_a_missing_extra_is_named_with_its_setting_path(start_up, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pymongo', None)
    monkeypatch.delitem(sys.modules, MONGO, raising=False)
    (line,) = start_up(EVENT_TRACKING_BACKENDS={'mongo': {'ENGINE': f'{MONGO}.MongoBackend'}})
    assert line.startswith(
        "Event tracking is not set up: 1 error(s) in the settings: EVENT_TRACKING_BACKENDS['mongo']['ENGINE']: "
        f"cannot import '{MONGO}.MongoBackend': {MONGO} needs 'pymongo', which is not installed: "
        "pip install '<eventtracking checkout or wheel>[mongo]'"), line
    assert f'Cannot find class {MONGO}.MongoBackend' in line
    assert RUN_CHECK in line


def test_a_top_level_processor_error_keeps_its_setting_path(start_up):
    (line,) = start_up(EVENT_TRACKING_BACKENDS={'r': {'ENGINE': 'tests.django.helpers.RecordingBackend'}},
                       EVENT_TRACKING_PROCESSORS=[{'ENGINE': 'collections.OrderedDict'}])
    assert ('EVENT_TRACKING_PROCESSORS[0]: used as a processor, but an instance of collections.OrderedDict '
            'is not callable') in line
    with pytest.raises(KeyError):
        tracker.get_tracker()


def test_an_error_only_the_build_finds_is_logged_with_its_cause(start_up, settings):
    line, = start_up(EVENT_TRACKING_BACKENDS={'r': {'ENGINE': 'tests.django.helpers.RecordingBackend'}},
                     EVENT_TRACKING_CONTEXT_LOCATOR='no_such_package.Locator')
    assert "EVENT_TRACKING_CONTEXT_LOCATOR = 'no_such_package.Locator'" in line


def test_no_advice_to_run_check_while_running_it(start_up):
    broken = {'broken': {'ENGINE': 'no_such_package.Backend'}}
    (line,) = start_up(argv=('manage.py', 'check'), EVENT_TRACKING_BACKENDS=broken)
    assert line.endswith('no default tracker is registered and events are dropped'), line
    assert RUN_CHECK not in line
    (line,) = start_up(argv=('manage.py', 'migrate'), EVENT_TRACKING_BACKENDS=broken)
    assert RUN_CHECK in line


@pytest.mark.parametrize('argv, run_main, logged', [
    (('manage.py', 'runserver'), None, 0),
    (('manage.py', 'runserver'), 'true', 1),
    (('manage.py', 'runserver', '--noreload'), None, 1),
    (('manage.py', 'shell'), None, 1),
])
def test_under_the_autoreloader_only_the_serving_process_logs(start_up, monkeypatch, argv, run_main, logged):
    if run_main is None:
        monkeypatch.delenv('RUN_MAIN', raising=False)
    else:
        monkeypatch.setenv('RUN_MAIN', run_main)
    lines = start_up(argv=argv, EVENT_TRACKING_BACKENDS={'broken': {'ENGINE': 'no_such_package.Backend'}})
    assert len(lines) == logged


SETTINGS = textwrap.dedent('''\
    SECRET_KEY = 'not-a-secret'
    DEBUG = True
    INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'eventtracking.django']
    EVENT_TRACKING_ENABLED = True
    EVENT_TRACKING_BACKENDS = {'log': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend'}}
    EVENT_TRACKING_PROCESSORS = [{'ENGINE': 'collections.OrderedDict'}]
''')


def test_runserver_with_the_autoreloader_logs_the_line_once(tmp_path):
    (tmp_path / 'manage.py').write_text(MANAGE_PY)
    (tmp_path / 'mysite_settings.py').write_text(SETTINGS)
    env = {key: value for key, value in os.environ.items() if key not in ('DJANGO_SETTINGS_MODULE', 'RUN_MAIN')}
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, 'manage.py', 'runserver', f'127.0.0.1:{free_port()}'], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output = []
    watchdog = threading.Timer(60, os.killpg, args=(server.pid, signal.SIGKILL))  # ends a server that says nothing
    watchdog.start()
    try:
        for line in server.stdout:
            output.append(line)
            if re.match(r'System check identified \d+ issue', line):
                break
    finally:
        watchdog.cancel()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stdout.close()
    text = ''.join(output)
    assert '(eventtracking.E006) EVENT_TRACKING_PROCESSORS[0]' in text, text
    assert text.count('Event tracking is not set up') == 1, text
