"""The tracker: event shape, contexts, registration, and never raising."""

import logging
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from eventtracking import tracker
from eventtracking.backends.routing import RoutingBackend
from eventtracking.locator import DefaultContextLocator, ThreadLocalContextLocator
from eventtracking.tracker import DEFAULT_TRACKER_NAME, UNKNOWN_EVENT_TYPE, Tracker


class Keeping:
    """Keeps what it is sent."""

    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)


@pytest.fixture(name='kept')
def fixture_kept():
    return Keeping()


@pytest.fixture(name='tracker_with_kept')
def fixture_tracker_with_kept(kept):
    return Tracker(backends={'kept': kept})


def test_constants():
    assert UNKNOWN_EVENT_TYPE == 'unknown'
    assert DEFAULT_TRACKER_NAME == 'default'
    assert isinstance(tracker.TRACKERS, dict)


def test_emit_builds_the_event(tracker_with_kept, kept):
    before = datetime.now(timezone.utc)
    tracker_with_kept.emit('edx.test.emitted', {'foo': 'bar'})
    after = datetime.now(timezone.utc)
    (event,) = kept.events
    assert list(event) == ['name', 'timestamp', 'data', 'context']
    assert event['name'] == 'edx.test.emitted'
    assert event['data'] == {'foo': 'bar'}
    assert event['context'] == {}
    assert event['timestamp'].utcoffset() == timedelta(0)
    assert before <= event['timestamp'] <= after


def test_emit_defaults(tracker_with_kept, kept):
    tracker_with_kept.emit()
    tracker_with_kept.emit('', None)
    assert [(e['name'], e['data']) for e in kept.events] == [('unknown', {}), ('unknown', {})]


def test_timestamp_comes_from_the_patchable_module_datetime(tracker_with_kept, kept):
    frozen = datetime(2013, 10, 3, 8, 24, 55, tzinfo=timezone.utc)
    with mock.patch('eventtracking.tracker.datetime') as patched:
        patched.now.return_value = frozen
        tracker_with_kept.emit('x')
    assert kept.events[0]['timestamp'] == frozen
    assert patched.now.call_args.args[0].utcoffset(None) == timedelta(0)


def test_caller_data_is_not_changed_by_a_processor(kept):
    def scribble(event):
        event['data']['nested']['value'] = 'changed'
        event['data']['added'] = True

    data = {'nested': {'value': 'original'}}
    Tracker(backends={'kept': kept}, processors=[scribble]).emit('x', data)
    assert data == {'nested': {'value': 'original'}}
    assert kept.events[0]['data'] == {'nested': {'value': 'changed'}, 'added': True}


def test_nested_contexts_seed_example(tracker_with_kept, kept):
    """The package description's example, with the output it documents."""
    tracker_with_kept.enter_context('outer', {'user_id': 10938})
    tracker_with_kept.emit('navigation.request', {'url': 'http://www.edx.org/some/path/1'})
    with tracker_with_kept.context('inner', {'user_id': 11111, 'session_id': '2987lkjdyoioey'}):
        tracker_with_kept.emit('navigation.request', {'url': 'http://www.edx.org/some/path/2'})
    tracker_with_kept.emit('address.create', {'name': 'foo', 'address': {'postal_code': '90210'}})
    assert [(e['name'], e['context'], e['data']) for e in kept.events] == [
        ('navigation.request', {'user_id': 10938}, {'url': 'http://www.edx.org/some/path/1'}),
        ('navigation.request', {'user_id': 11111, 'session_id': '2987lkjdyoioey'},
         {'url': 'http://www.edx.org/some/path/2'}),
        ('address.create', {'user_id': 10938}, {'name': 'foo', 'address': {'postal_code': '90210'}}),
    ]


def test_resolve_context_is_a_new_union_in_entry_order():
    a_tracker = Tracker()
    first = {'a': 1, 'shared': 'first'}
    a_tracker.enter_context('first', first)
    a_tracker.enter_context('second', {'b': 2, 'shared': 'second'})
    resolved = a_tracker.resolve_context()
    assert resolved == {'a': 1, 'b': 2, 'shared': 'second'}
    resolved['a'] = 'changed'
    assert first['a'] == 1
    assert a_tracker.resolve_context() is not resolved


def test_reentering_a_context_keeps_its_place():
    a_tracker = Tracker()
    a_tracker.enter_context('first', {'x': 1})
    a_tracker.enter_context('second', {'x': 2})
    a_tracker.enter_context('first', {'x': 3})
    assert list(a_tracker.located_context) == ['first', 'second']
    assert a_tracker.resolve_context() == {'x': 2}


def test_exit_context_removes_it_and_raises_key_error_when_unknown():
    a_tracker = Tracker()
    a_tracker.enter_context('ctx', {'x': 1})
    a_tracker.exit_context('ctx')
    assert a_tracker.resolve_context() == {}
    with pytest.raises(KeyError):
        a_tracker.exit_context('ctx')


def test_context_manager_exits_when_the_block_raises():
    a_tracker = Tracker()
    with pytest.raises(RuntimeError):
        with a_tracker.context('ctx', {'x': 1}):
            assert a_tracker.resolve_context() == {'x': 1}
            raise RuntimeError('boom')
    assert a_tracker.resolve_context() == {}


def test_default_locator_and_custom_locator():
    assert isinstance(Tracker().context_locator, DefaultContextLocator)
    locator = ThreadLocalContextLocator()
    a_tracker = Tracker(context_locator=locator)
    assert a_tracker.context_locator is locator
    a_tracker.enter_context('ctx', {'x': 1})
    assert a_tracker.located_context is locator.get()


def test_routing_backend_backends_processors_get_backend(kept):
    def processor(event):
        return event

    a_tracker = Tracker(backends={'kept': kept}, processors=[processor])
    assert isinstance(a_tracker.routing_backend, RoutingBackend)
    assert a_tracker.backends == {'kept': kept}
    assert a_tracker.backends is a_tracker.routing_backend.backends
    assert a_tracker.processors == [processor]
    assert a_tracker.get_backend('kept') is kept
    with pytest.raises(KeyError):
        a_tracker.get_backend('missing')


def test_register_and_get_tracker():
    default, named = Tracker(), Tracker()
    tracker.register_tracker(default)
    tracker.register_tracker(named, 'named')
    assert tracker.get_tracker() is default
    assert tracker.get_tracker('named') is named
    with pytest.raises(KeyError):
        tracker.get_tracker('never-registered')


def test_module_emit_uses_the_default_tracker(tracker_with_kept, kept):
    tracker.register_tracker(tracker_with_kept)
    tracker.emit('module.level', {'a': 1})
    assert [(e['name'], e['data']) for e in kept.events] == [('module.level', {'a': 1})]


def test_module_emit_without_default_tracker_is_logged_and_counted(caplog):
    tracker.TRACKERS.clear()
    before = tracker.UNROUTED['no_tracker']
    with caplog.at_level(logging.WARNING, logger='eventtracking.tracker'):
        tracker.emit('lost.event')
    assert tracker.UNROUTED['no_tracker'] == before + 1
    assert "'lost.event'" in caplog.text and 'no default tracker' in caplog.text


def test_without_default_tracker_every_event_is_counted_and_one_line_logged(caplog):
    tracker.TRACKERS.clear()
    before = tracker.UNROUTED['no_tracker']
    with caplog.at_level(logging.WARNING, logger='eventtracking.tracker'):
        for number in range(50):
            tracker.emit('lost.event', {'secret': number})
    assert tracker.UNROUTED['no_tracker'] == before + 50
    assert len(caplog.records) == 1 and 'secret' not in caplog.text


def test_a_failing_locator_counts_every_event_and_logs_one_line(caplog):
    class BrokenLocator:
        def get(self):
            raise RuntimeError('locator is broken')

    a_tracker = Tracker(context_locator=BrokenLocator())
    with caplog.at_level(logging.ERROR, logger='eventtracking.tracker'):
        for _ in range(50):
            a_tracker.emit('x')
    assert a_tracker.stats == {'emit_error': 50}
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None


def test_emit_never_raises_when_the_locator_fails(caplog):
    class BrokenLocator:
        def get(self):
            raise RuntimeError('locator is broken')

    a_tracker = Tracker(context_locator=BrokenLocator())
    with caplog.at_level(logging.ERROR):
        a_tracker.emit('x')
    assert a_tracker.stats == {'emit_error': 1}
    assert 'locator is broken' in caplog.text


def test_emit_never_raises_because_of_a_backend_or_processor(kept):
    class Failing:
        def send(self, event):
            raise RuntimeError('backend down')

    def failing_processor(event):
        raise ValueError('bad processor')

    a_tracker = Tracker(backends={'a_failing': Failing(), 'kept': kept}, processors=[failing_processor])
    a_tracker.emit('x')
    assert len(kept.events) == 1
    assert a_tracker.stats == {'processor_error': 1, 'backend_error': 1}
