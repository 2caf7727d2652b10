"""EVENT_TRACKING_CELERY_CONTEXT and its size limit: the system checks, and what the app does at start-up."""

import logging
import sys

import pytest
from celery.signals import before_task_publish

from eventtracking import celery as celery_context
from eventtracking import tracker
from eventtracking.django.apps import propagate_celery_context
from eventtracking.django.checks import check_celery_context, check_event_tracking_settings


@pytest.fixture(autouse=True)
def not_propagating():
    """Whatever a test connects, propagation is off afterwards."""
    yield
    celery_context.stop_propagating()


def ids(messages):
    return [message.id for message in messages]


def published_header(register_default_tracker):
    """Send Celery's before_task_publish for a task published inside a context; return the header it got."""
    default = register_default_tracker(tracker.Tracker())
    headers = {'id': 'a-task-id'}
    with default.context('course', {'course_id': 'C'}):
        before_task_publish.send(sender='tests.task', headers=headers, body=(), exchange='', routing_key='q')
    return headers.get(celery_context.HEADER)


@pytest.mark.parametrize('value', [True, False])
def test_valid_settings_pass(settings, value):
    settings.EVENT_TRACKING_CELERY_CONTEXT = value
    if value:
        settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = 4096
    assert check_celery_context() == []


@pytest.mark.parametrize('value', ['yes', 1, None])
def test_a_value_other_than_true_or_false_is_an_error(settings, value):
    settings.EVENT_TRACKING_CELERY_CONTEXT = value
    [message] = check_event_tracking_settings()
    assert message.id == 'eventtracking.E040'
    assert message.msg == f'EVENT_TRACKING_CELERY_CONTEXT: must be True or False, not {value!r}'


@pytest.mark.parametrize('value', [0, -5, 1.5, True, '8192'])
def test_a_limit_other_than_a_positive_integer_is_an_error(settings, value):
    settings.EVENT_TRACKING_CELERY_CONTEXT = True
    settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = value
    [message] = check_celery_context()
    assert message.id == 'eventtracking.E041'
    assert message.msg.startswith('EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES: must be a positive integer')


def test_a_limit_without_propagation_is_a_warning(settings):
    settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = 1024
    assert ids(check_celery_context()) == ['eventtracking.W040']


def test_propagation_without_celery_is_an_error(settings, monkeypatch):
    settings.EVENT_TRACKING_CELERY_CONTEXT = True
    monkeypatch.setitem(sys.modules, 'celery', None)  # as if Celery were not installed
    [message] = check_celery_context()
    assert message.id == 'eventtracking.E042'
    assert "pip install '<eventtracking checkout or wheel>[celery]'" in message.hint


def test_the_app_propagates_with_the_configured_limit(settings, register_default_tracker):
    settings.EVENT_TRACKING_CELERY_CONTEXT = True
    settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = 10
    assert propagate_celery_context() is True
    assert published_header(register_default_tracker) is None
    assert tracker.get_tracker().stats == {'context_too_large': 1}

    settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = 8192
    assert propagate_celery_context() is True
    assert published_header(register_default_tracker) == '[["course",{"course_id":"C"}]]'


def test_by_default_the_app_does_not_propagate(settings, register_default_tracker):
    assert propagate_celery_context() is False
    assert published_header(register_default_tracker) is None


def test_with_a_bad_value_the_app_does_not_propagate_and_says_why(settings, register_default_tracker, caplog):
    settings.EVENT_TRACKING_CELERY_CONTEXT = True
    settings.EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES = 'big'
    with caplog.at_level(logging.ERROR):
        assert propagate_celery_context() is False
    assert published_header(register_default_tracker) is None
    assert 'Contexts are not sent with Celery tasks: EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES' in caplog.text
