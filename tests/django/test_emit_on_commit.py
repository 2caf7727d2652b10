"""emit_on_commit on the test database: routed after the outermost commit, counted when rolled back."""

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timezone

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import connections, transaction

from eventtracking import on_commit, tracker
from eventtracking.backends.routing import RoutingBackend
from eventtracking.locator import ContextVarLocator
from tests.django.helpers import RecordingBackend

pytestmark = pytest.mark.django_db(transaction=True, databases=['default', 'other'])


class Boom(Exception):
    """Raised to roll a block back."""


class FailingOnName(RoutingBackend):
    """A routing tree whose ``send`` itself raises for one event name (its own failure, not a backend's)."""

    def __init__(self, name, **kwargs):
        super().__init__(**kwargs)
        self.failing_name = name

    def send(self, event):
        if event['name'] == self.failing_name:
            raise RuntimeError('the routing tree failed')
        super().send(event)


@pytest.fixture(autouse=True)
def fresh_log():
    """Every test sees the first log line of each kind (none held back by an earlier test's)."""
    on_commit.RATE_LIMITED_LOG.reset()


@pytest.fixture
def recorded(register_default_tracker):
    """A default tracker recording what it routes; returns the recording backend."""
    backend = RecordingBackend()
    register_default_tracker(tracker.Tracker(backends={'recorder': backend}))
    return backend


def names(backend):
    return [event['name'] for event in backend.events]


def test_an_event_waits_for_the_commit_with_the_time_and_context_of_the_call(recorded):
    default = tracker.get_tracker()
    data = {'course_id': 'C', 'nested': {'mode': 'audit'}}
    with transaction.atomic():
        Group.objects.create(name='enrolled')
        with default.context('course', {'course_id': 'C'}):
            before = datetime.now(timezone.utc)
            tracker.emit_on_commit('edx.course.enrollment.activated', data)
            after = datetime.now(timezone.utc)
        data['nested']['mode'] = 'changed after the call'
        assert recorded.events == []
    committed = datetime.now(timezone.utc)

    [event] = recorded.events
    assert event['name'] == 'edx.course.enrollment.activated'
    assert event['context'] == {'course_id': 'C'}
    assert event['data'] == {'course_id': 'C', 'nested': {'mode': 'audit'}}
    assert before <= event['timestamp'] <= after < committed
    assert default.stats == {}


def test_a_rolled_back_event_is_never_routed_and_is_counted(recorded, caplog):
    caplog.set_level(logging.INFO, logger='eventtracking.on_commit')
    with pytest.raises(Boom), transaction.atomic():
        Group.objects.create(name='never')
        tracker.emit_on_commit('edx.course.enrollment.activated', {'secret': 'personal-value'})
        raise Boom

    assert recorded.events == []
    assert not Group.objects.filter(name='never').exists()
    assert tracker.get_tracker().stats == {'rolled_back': 1}
    assert "Discarded event 'edx.course.enrollment.activated': its transaction rolled back" in caplog.text
    assert 'personal-value' not in caplog.text


def test_set_rollback_discards_the_events_too(recorded):
    with transaction.atomic():
        tracker.emit_on_commit('a')
        tracker.emit_on_commit('b')
        transaction.set_rollback(True)

    assert recorded.events == []
    assert tracker.get_tracker().stats == {'rolled_back': 2}


def test_savepoints_an_inner_rollback_discards_only_its_own_events(recorded):
    with transaction.atomic():
        tracker.emit_on_commit('outer.before')
        with pytest.raises(Boom), transaction.atomic():
            tracker.emit_on_commit('inner.rolled_back')
            with transaction.atomic():
                tracker.emit_on_commit('innermost.rolled_back')
            raise Boom
        with transaction.atomic():
            tracker.emit_on_commit('inner.kept')
        tracker.emit_on_commit('outer.after')
        assert tracker.get_tracker().stats == {'rolled_back': 2}
        assert recorded.events == []

    assert names(recorded) == ['outer.before', 'inner.kept', 'outer.after']
    assert tracker.get_tracker().stats == {'rolled_back': 2}


def test_an_outer_rollback_discards_the_events_of_committed_savepoints(recorded):
    with pytest.raises(Boom), transaction.atomic():
        with transaction.atomic():
            tracker.emit_on_commit('inner')
        tracker.emit_on_commit('outer')
        raise Boom

    assert recorded.events == []
    assert tracker.get_tracker().stats == {'rolled_back': 2}


def test_an_event_dropped_in_a_reference_cycle_is_counted_after_the_collection(recorded):
    default = tracker.get_tracker()
    with transaction.atomic():
        tracker.emit_on_commit('held')
        held = list(connections['default'].run_on_commit)
        held.append(held)  # a cycle keeps the pending event alive after Django drops it
        transaction.set_rollback(True)
    del held
    assert default.stats == {}

    gc.collect()
    assert default.stats == {}, 'counted inside the collection, where the counters lock may be held'

    tracker.emit_on_commit('next')
    assert default.stats == {'rolled_back': 1}
    assert names(recorded) == ['next']


def test_outside_a_transaction_the_event_is_routed_at_once(recorded):
    assert not connections['default'].in_atomic_block
    tracker.emit_on_commit('at.once', {'a': 1})
    assert names(recorded) == ['at.once']
    assert recorded.events[0]['data'] == {'a': 1}


def test_using_waits_for_that_databases_transaction_only(recorded):
    with transaction.atomic(using='other'):
        Group.objects.using('other').create(name='other')
        tracker.emit_on_commit('other.committed', using='other')
        tracker.emit_on_commit('default.not_in_a_transaction')
        assert names(recorded) == ['default.not_in_a_transaction']
    assert names(recorded) == ['default.not_in_a_transaction', 'other.committed']

    with transaction.atomic():
        tracker.emit_on_commit('other.not_in_a_transaction', using='other')
        with pytest.raises(Boom), transaction.atomic(using='other'):
            tracker.emit_on_commit('other.rolled_back', using='other')
            raise Boom
        assert names(recorded)[-1] == 'other.not_in_a_transaction'
    assert names(recorded) == ['default.not_in_a_transaction', 'other.committed', 'other.not_in_a_transaction']
    assert tracker.get_tracker().stats == {'rolled_back': 1}


def test_an_unknown_database_alias_routes_at_once_and_says_so(recorded, caplog):
    tracker.emit_on_commit('unknown.alias', using='nope')
    assert names(recorded) == ['unknown.alias']
    assert "No Django database connection 'nope' to wait for" in caplog.text


def test_a_failing_emit_breaks_neither_the_others_nor_the_commit(recorded, caplog):
    failing = tracker.Tracker()
    failing.routing_backend = FailingOnName('boom', backends={'recorder': recorded})
    with_failing_backend = tracker.Tracker(backends={'broken': _BrokenBackend(), 'recorder': recorded})
    user_callbacks = []
    with transaction.atomic():
        Group.objects.create(name='committed')
        tracker.emit_on_commit('first')
        failing.emit_on_commit('boom')
        with_failing_backend.emit_on_commit('backend.fails')
        failing.emit_on_commit('second')
        transaction.on_commit(lambda: user_callbacks.append('ran'))

    assert Group.objects.filter(name='committed').exists()
    assert names(recorded) == ['first', 'backend.fails', 'second']
    assert user_callbacks == ['ran']
    assert failing.stats == {'emit_error': 1}
    assert with_failing_backend.stats == {'backend_error': 1}
    assert "Failed to emit event 'boom' after the commit" in caplog.text


class _BrokenBackend:
    def send(self, event):
        raise RuntimeError('backend down')


def test_a_failing_build_is_counted_and_nothing_waits(register_default_tracker, caplog):
    class BrokenLocator:
        def get(self):
            raise RuntimeError('no stack')

    broken = register_default_tracker(tracker.Tracker(context_locator=BrokenLocator()))
    with transaction.atomic():
        tracker.emit_on_commit('x')
        assert connections['default'].run_on_commit == []
    assert broken.stats == {'emit_error': 1}
    assert "Failed to emit event 'x'" in caplog.text


def test_without_a_default_tracker_the_event_is_counted_unrouted(monkeypatch):
    monkeypatch.delitem(tracker.TRACKERS, tracker.DEFAULT_TRACKER_NAME, raising=False)
    before = tracker.UNROUTED['no_tracker']
    with transaction.atomic():
        tracker.emit_on_commit('lost')
    assert tracker.UNROUTED['no_tracker'] == before + 1


def test_under_asgi_sync_code_waits_for_its_commit_and_keeps_the_async_context(register_default_tracker):
    recorder = RecordingBackend()
    default = register_default_tracker(tracker.Tracker(backends={'recorder': recorder},
                                                       context_locator=ContextVarLocator()))
    threads = {}

    def save_and_emit():
        threads['sync'] = threading.current_thread().name
        with transaction.atomic():
            Group.objects.create(name='asgi')
            tracker.emit_on_commit('asgi.saved', {'ok': True})
            threads['pending'] = len(recorder.events)
        with pytest.raises(Boom), transaction.atomic():
            tracker.emit_on_commit('asgi.rolled_back')
            raise Boom

    async def view():
        threads['loop'] = threading.current_thread().name
        with default.context('request', {'path': '/async'}):
            tracker.emit_on_commit('asgi.in_the_event_loop')
            await sync_to_async(save_and_emit)()

    asyncio.run(view())

    assert names(recorder) == ['asgi.in_the_event_loop', 'asgi.saved']
    assert threads['pending'] == 1
    assert threads['sync'] != threads['loop']
    assert [event['context'] for event in recorder.events] == [{'path': '/async'}, {'path': '/async'}]
    assert default.stats == {'rolled_back': 1}
    assert Group.objects.filter(name='asgi').exists()


@pytest.mark.django_db(transaction=False)
def test_in_a_test_case_transaction_the_captured_callbacks_route_it(recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        tracker.emit_on_commit('captured')
        assert recorded.events == []
    assert len(callbacks) == 1
    assert names(recorded) == ['captured']


def test_without_django_the_event_is_routed_at_once():
    program = textwrap.dedent("""
        import sys
        sys.modules['django'] = None
        from eventtracking import on_commit, tracker
        kept = []
        class Keep:
            def send(self, event):
                kept.append(event['name'])
        tracker.register_tracker(tracker.Tracker(backends={'keep': Keep()}))
        tracker.emit_on_commit('no.django')
        print(kept, sorted(name for name in sys.modules if name.startswith('django')))
    """)
    result = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['no.django'] ['django']"


def test_an_event_dropped_after_the_commit_by_a_failing_callback_is_not_counted_rolled_back(recorded, caplog):
    def failing_callback():
        raise Boom

    with pytest.raises(Boom):
        with transaction.atomic():
            Group.objects.create(name='committed')
            tracker.emit_on_commit('before.the.failing.callback')
            transaction.on_commit(failing_callback)  # not robust: Django stops at it and drops the rest
            tracker.emit_on_commit('after.the.failing.callback', {'secret': 'personal-value'})

    assert Group.objects.filter(name='committed').exists()
    assert names(recorded) == ['before.the.failing.callback']
    assert tracker.get_tracker().stats == {'commit_hook_failed': 1}
    assert "Discarded event 'after.the.failing.callback': its transaction committed" in caplog.text
    assert 'rolled back' not in caplog.text
    assert 'personal-value' not in caplog.text

    with transaction.atomic():  # the next transaction's rollbacks are told apart again
        with pytest.raises(Boom), transaction.atomic():
            tracker.emit_on_commit('savepoint.rolled.back')
            raise Boom
        assert tracker.get_tracker().stats == {'commit_hook_failed': 1, 'rolled_back': 1}
    with pytest.raises(Boom), transaction.atomic():
        tracker.emit_on_commit('rolled.back')
        raise Boom
    assert tracker.get_tracker().stats == {'commit_hook_failed': 1, 'rolled_back': 2}
