"""eventtracking.tasks.send_event, run eagerly with Celery's own ``apply`` (the worker path is in tests/backends)."""

import importlib
import logging
import sys
from unittest import mock

import pytest
from celery import Celery
from celery.signals import before_task_publish

from eventtracking import tasks
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.processors.exceptions import NoBackendEnabled
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend, free_port


def event(name='edx.test.task'):
    return {'name': name, 'timestamp': None, 'data': {'a': [1, 2]}, 'context': {'user_id': 7}}


def test_the_constants_and_name_users_rely_on():
    assert tasks.COUNTDOWN == 30
    assert tasks.MAX_RETRIES == 3
    assert tasks.send_event.name == 'eventtracking.tasks.send_event'


def test_it_sends_a_copy_to_the_nested_backends_of_the_named_backend_of_the_default_tracker(register_default_tracker):
    sink = CollectingBackend()
    other = CollectingBackend()
    register_default_tracker(Tracker(backends={
        'async': AsyncRoutingBackend(backend_name='async', backends={'sink': sink}),
        'other': AsyncRoutingBackend(backend_name='other', backends={'sink': other}),
    }))
    sent = event()

    result = tasks.send_event.apply(args=('async', sent))

    assert result.successful()
    assert sink.events == [sent]
    assert sink.events[0] is not sent and sink.events[0]['data']['a'] is not sent['data']['a']
    assert other.events == []


def test_a_backend_that_is_not_enabled_is_logged_at_info_and_not_retried(register_default_tracker, caplog):
    class Disabled:
        calls = 0

        def send(self, _event):
            Disabled.calls += 1
            raise NoBackendEnabled('nothing enabled for this event')

    tracker = register_default_tracker(Tracker(backends={
        'async': AsyncRoutingBackend(backend_name='async', backends={'disabled': Disabled()}),
    }))

    with caplog.at_level(logging.INFO):
        result = tasks.send_event.apply(args=('async', event()))

    assert result.successful()
    assert Disabled.calls == 1
    assert tracker.stats == {'skipped': 1}
    assert any('nothing enabled for this event' in record.getMessage() and record.levelno == logging.INFO
               for record in caplog.records)


def test_an_unknown_backend_name_is_retried_then_fails(register_default_tracker, caplog):
    register_default_tracker(Tracker(backends={}))

    with mock.patch.object(tasks, 'COUNTDOWN', 0), caplog.at_level(logging.ERROR):
        result = tasks.send_event.apply(args=('missing', event()))

    assert result.failed()
    assert isinstance(result.result, KeyError)
    attempts = [record for record in caplog.records if 'with backend [missing]' in record.getMessage()]
    assert len(attempts) == tasks.MAX_RETRIES + 1


def test_the_lookup_goes_through_get_tracker_in_the_tasks_module():
    sink = CollectingBackend()
    fake = Tracker(backends={'async': AsyncRoutingBackend(backend_name='async', backends={'sink': sink})})
    with mock.patch('eventtracking.tasks.get_tracker', return_value=fake):
        tasks.send_event.apply(args=('async', event()))
    assert len(sink.events) == 1


def test_an_old_style_routing_backend_is_sent_the_whole_event(register_default_tracker):
    backend = mock.Mock()
    backend.send_to_backends.return_value = None
    register_default_tracker(Tracker(backends={'async': backend}))

    result = tasks.send_event.apply(args=('async', event()))

    assert result.successful()
    backend.send_to_backends.assert_called_once_with(event())


@pytest.fixture
def publish_policies():
    policies = []

    def record(sender=None, retry_policy=None, **kwargs):
        policies.append(retry_policy)

    before_task_publish.connect(record, weak=False)
    yield policies
    before_task_publish.disconnect(record)


@pytest.fixture
def unreachable_app():
    app = Celery('eventtracking-unreachable', broker=f'redis://127.0.0.1:{free_port()}/0', set_as_current=False)
    app.finalize()
    yield app
    app.close()


def test_publishing_from_application_code_gives_up_at_once(unreachable_app, publish_policies):
    task = unreachable_app.tasks[tasks.send_event.name]

    with pytest.raises(Exception):
        task.delay('async', event())
    with pytest.raises(Exception):
        task.apply_async(('async', event()), retry_policy={'max_retries': 2})

    assert publish_policies[0]['max_retries'] == 1 and publish_policies[0]['interval_start'] == 0
    assert publish_policies[0]['interval_max'] == 0
    assert publish_policies[1]['max_retries'] == 2


@pytest.mark.parametrize('module', ['eventtracking.tasks', 'eventtracking.backends.async_routing'])
def test_without_celery_the_import_error_names_the_extra(module, monkeypatch):
    monkeypatch.setitem(sys.modules, 'celery', None)
    monkeypatch.delitem(sys.modules, 'eventtracking.tasks')
    monkeypatch.delitem(sys.modules, 'eventtracking.backends.async_routing', raising=False)

    with pytest.raises(ImportError, match=r"pip install 'eventtracking\[celery\]'"):
        importlib.import_module(module)
