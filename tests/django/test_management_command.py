"""``manage.py eventtracking_tree``: the configured tree, secrets masked, problems listed."""

import io

import pytest
from django.core.management import call_command

from eventtracking import tracker
from eventtracking.django import DjangoTracker
from eventtracking.django.management.commands.eventtracking_tree import mask_secrets
from tests.django.test_django_tracker import seed_tree


def tree_output():
    out = io.StringIO()
    call_command('eventtracking_tree', stdout=out)
    return out.getvalue()


@pytest.fixture
def seed_settings(settings):
    settings.EVENT_TRACKING_ENABLED = True
    tree = seed_tree('xapi', 'tests.xapi')
    tree['xapi']['OPTIONS']['backends']['xapi']['OPTIONS'].update({'level': 'info'})
    tree['mongo'] = {'ENGINE': 'tests.django.helpers.RecordingBackend', 'OPTIONS': {
        'host': 'mongodb://tracker:hunter2@db.example:27017/edx', 'password': 'sw0rdfish', 'user': 'tracker',
        'extra': {'authSource': 'admin', 'tls': True}, 'write_key': 'wk-123', 'api_token': 'tok-456', 'empty_secret': '',
    }}
    settings.EVENT_TRACKING_BACKENDS = tree
    settings.EVENT_TRACKING_PROCESSORS = [{'ENGINE': 'tests.django.helpers.Tagger', 'OPTIONS': {'tag': 'all'}}]
    return settings


def test_prints_the_tree_with_classes_and_options(seed_settings):
    tracker.register_tracker(DjangoTracker())
    output = tree_output()
    expected_in_order = [
        'EVENT_TRACKING_ENABLED: True',
        'Default tracker: eventtracking.django.django_tracker.DjangoTracker with context locator '
        'eventtracking.locator.ContextVarLocator',
        'EVENT_TRACKING_PROCESSORS:',
        '  [0]: tests.django.helpers.Tagger',
        "    tag: 'all'",
        'EVENT_TRACKING_BACKENDS:',
        '  xapi: tests.django.helpers.NamedRoutingBackend',
        "    backend_name: 'xapi'",
        '    processors:',
        '      [0]: eventtracking.processors.regex_filter.RegexFilter',
        "        filter_type: 'allowlist'",
        "        regular_expressions: ['edx.course.enrollment.activated', 'edx.course.enrollment.deactivated']",
        '    backends:',
        '      xapi: eventtracking.backends.logger.LoggerBackend',
        "        name: 'tests.xapi'",
        "        level: 'info'",
        '  tracking_logs: eventtracking.backends.routing.RoutingBackend',
        '  mongo: tests.django.helpers.RecordingBackend',
        'No configuration errors.',
    ]
    lines = output.splitlines()
    positions = [lines.index(line) for line in expected_in_order]
    assert positions == sorted(positions), output


def test_secrets_are_masked(seed_settings):
    output = tree_output()
    for secret in ('hunter2', 'sw0rdfish', 'wk-123', 'tok-456', 'admin'):
        assert secret not in output
    assert "host: 'mongodb://tracker:********@db.example:27017/edx'" in output
    assert "password: '********'" in output
    assert "user: 'tracker'" in output
    assert "extra: {'authSource': '********', 'tls': True}" in output
    assert "empty_secret: ''" in output


def test_runs_and_lists_problems_when_the_settings_are_broken(seed_settings):
    seed_settings.EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backends']['xapi']['ENGINE'] = 'dummy_placeholder.engine'
    output = tree_output()
    assert "      xapi: 'dummy_placeholder.engine' (cannot be imported)" in output
    assert '1 configuration error(s)' in output
    assert ("(eventtracking.E001) EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backends']['xapi']['ENGINE']: "
            "cannot import 'dummy_placeholder.engine'") in output


def test_without_a_default_tracker(settings):
    tracker.TRACKERS.clear()
    settings.EVENT_TRACKING_BACKENDS = {}
    output = tree_output()
    assert 'Default tracker: none registered' in output
    assert 'EVENT_TRACKING_BACKENDS: none' in output


def test_mask_secrets_leaves_other_values_alone():
    value = {'name': 'x', 'nested': [{'secret': 's', 'size': 3}], 'url': 'https://user@host/path', 'token': None}
    assert mask_secrets(value) == {'name': 'x', 'nested': [{'secret': '********', 'size': 3}],
                                   'url': 'https://user@host/path', 'token': None}
