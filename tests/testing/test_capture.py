"""EventCapture: what is captured, from which trackers and threads, and what is put back afterwards."""

import threading
import time
from datetime import datetime

import pytest

from eventtracking import tracker
from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.testing import EventCapture, EventWaitTimeout, InMemoryBackend, assert_event_matches
from eventtracking.testing.capture import is_capturing

ORIGINAL_EMIT = tracker.Tracker.__dict__['emit']
ORIGINAL_ROUTE = tracker.Tracker.__dict__['route']
ORIGINAL_SEND = RoutingBackend.__dict__['send']
ORIGINAL_FAN_OUT = RoutingBackend.__dict__['_fan_out']


def drop_names_starting_with_secret(event):
    if event['name'].startswith('secret.'):
        raise EventEmissionExit()


def stamp(event):
    event['data']['stamped'] = True


class MutatingBackend:
    """Changes every event it receives, as some backends do."""

    def __init__(self):
        self.events = []

    def send(self, event):
        event['data']['mutated'] = True
        self.events.append(event)


class EmittingBackend:
    """Emits an event of its own through another tracker for every event it receives."""

    def __init__(self, other):
        self.other = other

    def send(self, event):
        self.other.emit('echo.' + event['name'])


def test_captures_the_default_tracker_after_its_root_processors():
    default = tracker.Tracker(backends={'mem': InMemoryBackend()},
                              processors=[drop_names_starting_with_secret, stamp])
    tracker.register_tracker(default)
    with EventCapture() as captured:
        tracker.emit('edx.test.one', {'a': 1})
        tracker.emit('secret.thing', {'b': 2})
        default.emit('edx.test.two')
    assert [event['name'] for event in captured.events] == ['edx.test.one', 'edx.test.two']
    first = captured.get_event()
    assert first['data'] == {'a': 1, 'stamped': True}
    assert isinstance(first['timestamp'], datetime)
    assert first['context'] == {}
    assert default.get_backend('mem').events == [], 'by default the capture holds the events it sees'


def test_with_passthrough_the_events_reach_the_backends_too():
    default = tracker.Tracker(backends={'mem': InMemoryBackend()},
                              processors=[drop_names_starting_with_secret, stamp])
    tracker.register_tracker(default)
    with EventCapture(passthrough=True) as captured:
        tracker.emit('edx.test.one', {'a': 1})
        tracker.emit('secret.thing', {'b': 2})
    assert [event['name'] for event in captured.events] == ['edx.test.one']
    assert default.get_backend('mem').events == captured.events


def test_passthrough_can_be_switched_for_the_rest_of_the_capture_or_for_a_block():
    mem = InMemoryBackend()
    emitter = tracker.Tracker(backends={'mem': mem})
    with EventCapture() as captured:
        emitter.emit('held.1')
        with captured.passthrough():
            assert captured.passing_through
            emitter.emit('passed.1')
        assert not captured.passing_through
        emitter.emit('held.2')
        captured.passthrough()
        emitter.emit('passed.2')
        captured.passthrough(False)
        emitter.emit('held.3')
    assert [event['name'] for event in captured.events] == ['held.1', 'passed.1', 'held.2', 'passed.2', 'held.3']
    assert [event['name'] for event in mem.events] == ['passed.1', 'passed.2']


def test_an_outer_capture_that_holds_wins_over_an_inner_one_that_passes_through():
    mem = InMemoryBackend()
    emitter = tracker.Tracker(backends={'mem': mem})
    with EventCapture() as outer:
        with EventCapture(passthrough=True) as inner:
            emitter.emit('both')
    with EventCapture(passthrough=True), EventCapture(passthrough=True):
        emitter.emit('passed')
    assert [event['name'] for event in outer.events] == ['both']
    assert [event['name'] for event in inner.events] == ['both']
    assert [event['name'] for event in mem.events] == ['passed']


def test_captures_trackers_built_before_and_during_the_capture_registered_or_not():
    before = tracker.Tracker()
    with EventCapture() as captured:
        during = tracker.Tracker(backends={'mem': InMemoryBackend()})
        tracker.register_tracker(during, 'other')
        before.emit('from.before')
        during.emit('from.during')
        tracker.get_tracker('other').emit('from.registered')
    assert [event['name'] for event in captured.events] == ['from.before', 'from.during', 'from.registered']


def test_captures_contexts_as_resolved_at_emit():
    with EventCapture() as captured:
        emitter = tracker.Tracker()
        with emitter.context('request', {'user_id': 7, 'path': '/x'}):
            emitter.emit('with.context')
        emitter.emit('without.context')
    assert_event_matches({'name': 'with.context', 'context': {'user_id': 7, 'path': '/x'}}, captured.get_event(0))
    assert captured.get_event(1)['context'] == {}


def test_one_capture_per_emit_however_deep_the_tree():
    leaf = InMemoryBackend()
    nested = RoutingBackend(backends={'inner': RoutingBackend(backends={'leaf': leaf})})
    with EventCapture(passthrough=True) as captured:
        tracker.Tracker(backends={'nested': nested, 'mem': InMemoryBackend()}).emit('deep')
    assert len(captured.events) == 1
    assert len(leaf.events) == 1


def test_a_captured_event_is_a_copy_that_backends_cannot_change():
    mutating = MutatingBackend()
    data = {'a': 1}
    with EventCapture(passthrough=True) as captured:
        tracker.Tracker(backends={'mutating': mutating}, processors=[stamp]).emit('x', data)
    assert mutating.events[0]['data'] == {'a': 1, 'stamped': True, 'mutated': True}
    assert captured.get_event()['data'] == {'a': 1, 'stamped': True}
    assert data == {'a': 1}


def test_an_event_emitted_by_a_backend_is_captured_after_the_one_that_caused_it():
    other = tracker.Tracker()
    with EventCapture(passthrough=True) as captured:
        tracker.Tracker(backends={'emitting': EmittingBackend(other)}).emit('outer')
        other.emit('plain')
    assert [event['name'] for event in captured.events] == ['outer', 'echo.outer', 'plain']


def test_an_event_that_cannot_be_copied_is_captured_as_it_is(caplog):
    lock = threading.Lock()
    with EventCapture() as captured:
        tracker.Tracker().emit('odd', {'lock': lock})
    assert captured.get_event()['data']['lock'] is lock
    assert "Could not copy event 'odd' to capture it" in caplog.text


def test_nothing_is_captured_before_start_or_after_stop():
    emitter = tracker.Tracker()
    capture = EventCapture()
    emitter.emit('before')
    capture.start()
    emitter.emit('during')
    capture.stop()
    emitter.emit('after')
    assert [event['name'] for event in capture.events] == ['during']


def test_nothing_is_patched_while_captures_are_active():
    outer, inner = EventCapture(), EventCapture()
    assert not is_capturing()
    with outer:
        for owner, name, original in [(tracker.Tracker, 'emit', ORIGINAL_EMIT), (tracker.Tracker, 'route', ORIGINAL_ROUTE),
                                      (RoutingBackend, 'send', ORIGINAL_SEND),
                                      (RoutingBackend, '_fan_out', ORIGINAL_FAN_OUT)]:
            assert owner.__dict__[name] is original, f'{owner.__name__}.{name} was replaced'
        with inner:
            tracker.Tracker().emit('both')
        tracker.Tracker().emit('outer only')
        assert is_capturing()
    assert not is_capturing()
    assert tracker._observations == ()  # pylint: disable=protected-access
    assert [event['name'] for event in outer.events] == ['both', 'outer only']
    assert [event['name'] for event in inner.events] == ['both']


def test_start_and_stop_twice_are_harmless():
    capture = EventCapture()
    capture.start()
    capture.start()
    tracker.Tracker().emit('once')
    capture.stop()
    capture.stop()
    assert len(capture.events) == 1
    assert not is_capturing()


def test_without_a_default_tracker_one_is_registered_for_the_capture(no_default_tracker, caplog):
    with EventCapture() as captured:
        tracker.emit('edx.module.level', {'a': 1})
        assert tracker.DEFAULT_TRACKER_NAME in tracker.TRACKERS
    assert_event_matches({'name': 'edx.module.level', 'data': {'a': 1}}, captured.get_event())
    assert tracker.DEFAULT_TRACKER_NAME not in tracker.TRACKERS
    assert 'no default tracker' not in caplog.text


def test_a_default_tracker_registered_by_the_test_is_kept(no_default_tracker):
    mine = tracker.Tracker()
    with EventCapture():
        tracker.register_tracker(mine)
    assert tracker.get_tracker() is mine


def test_an_existing_default_tracker_is_left_in_place():
    existing = tracker.Tracker()
    tracker.register_tracker(existing)
    with EventCapture():
        assert tracker.get_tracker() is existing
    assert tracker.get_tracker() is existing


def test_events_from_many_threads_are_all_captured():
    emitter = tracker.Tracker(backends={'mem': InMemoryBackend()})
    per_thread, thread_count = 200, 8

    def work(index):
        for number in range(per_thread):
            emitter.emit('threaded', {'thread': index, 'number': number})

    with EventCapture(passthrough=True) as captured:
        threads = [threading.Thread(target=work, args=(index,)) for index in range(thread_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    events = captured.events
    assert len(events) == per_thread * thread_count
    for index in range(thread_count):
        numbers = [event['data']['number'] for event in events if event['data']['thread'] == index]
        assert numbers == list(range(per_thread))
    assert len(emitter.get_backend('mem').events) == per_thread * thread_count


def test_clear_forgets_what_was_captured():
    with EventCapture() as captured:
        tracker.Tracker().emit('old')
        captured.clear()
        tracker.Tracker().emit('new')
    assert [event['name'] for event in captured.events] == ['new']


def test_events_is_a_snapshot():
    with EventCapture() as captured:
        snapshot = captured.events
        tracker.Tracker().emit('later')
    assert snapshot == []
    assert len(captured.events) == 1


class TestGetEventAndEmittedAssertions:

    def test_get_event_by_index(self):
        with EventCapture() as captured:
            for name in ('a', 'b', 'c'):
                tracker.Tracker().emit(name)
        assert captured.get_event()['name'] == 'a'
        assert captured.get_event(2)['name'] == 'c'
        assert captured.get_event(-1)['name'] == 'c'

    def test_get_event_out_of_range_shows_what_was_captured(self):
        with EventCapture() as captured:
            tracker.Tracker().emit('only.one')
        with pytest.raises(AssertionError) as raised:
            captured.get_event(1)
        message = str(raised.value)
        assert message.startswith('No event at index 1: 1 event(s) captured\n  [0]\n')
        assert "'name': 'only.one'" in message

    def test_assert_no_events_emitted(self):
        with EventCapture() as captured:
            captured.assert_no_events_emitted()
            tracker.Tracker().emit('edx.unwanted', {'a': 1})
        with pytest.raises(AssertionError) as raised:
            captured.assert_no_events_emitted()
        message = str(raised.value)
        assert message.startswith('Expected no events, 1 was emitted:\n  [0]\n')
        assert "'name': 'edx.unwanted'" in message

    def test_assert_no_events_emitted_counts_the_events_in_the_plural(self):
        with EventCapture() as captured:
            emitter = tracker.Tracker()
            emitter.emit('edx.unwanted', {'a': 1})
            emitter.emit('edx.unwanted', {'a': 2})
        with pytest.raises(AssertionError) as raised:
            captured.assert_no_events_emitted()
        assert str(raised.value).startswith('Expected no events, 2 were emitted:\n  [0]\n')

    def test_assert_events_emitted(self):
        with EventCapture() as captured:
            with pytest.raises(AssertionError, match='^Expected at least one event, none was emitted.$'):
                captured.assert_events_emitted()
            tracker.Tracker().emit('x')
            captured.assert_events_emitted()


class TestWaitForEvents:

    def test_returns_at_once_when_enough_events_match(self):
        with EventCapture() as captured:
            emitter = tracker.Tracker()
            emitter.emit('foobar', {'a': 'b'})
            emitter.emit('other')
            started = time.monotonic()
            matches = captured.wait_for_events({'name': 'foobar'}, timeout=30)
            assert time.monotonic() - started < 5
        assert [event['name'] for event in matches] == ['foobar']

    def test_no_filter_matches_every_event(self):
        with EventCapture() as captured:
            tracker.Tracker().emit('a')
            tracker.Tracker().emit('b')
            assert [event['name'] for event in captured.wait_for_events(number_of_matches=2)] == ['a', 'b']

    def test_dict_filter_is_lenient_by_default_and_honours_tolerate(self):
        with EventCapture() as captured:
            tracker.Tracker().emit('foobar', {'a': 'b', 'c': 'd'})
            assert len(captured.wait_for_events({'data': {'a': 'b'}})) == 1
            with pytest.raises(EventWaitTimeout):
                captured.wait_for_events({'data': {'a': 'b'}}, tolerate=[], timeout=0.05)

    def test_callable_filter_and_number_of_matches(self):
        with EventCapture() as captured:
            for old_time in (5, 11, 3, 20, 30):
                tracker.Tracker().emit('seek', {'old_time': old_time})
            matches = captured.wait_for_events(lambda event: event['data']['old_time'] > 10, number_of_matches=2)
        assert [event['data']['old_time'] for event in matches] == [11, 20, 30]

    def test_waits_for_events_emitted_later_by_another_thread(self):
        emitter = tracker.Tracker(backends={'mem': InMemoryBackend()})

        def emit_later():
            for number in range(3):
                time.sleep(0.05)
                emitter.emit('background', {'number': number})

        with EventCapture() as captured:
            thread = threading.Thread(target=emit_later)
            thread.start()
            try:
                matches = captured.wait_for_events({'name': 'background'}, number_of_matches=3, timeout=30)
            finally:
                thread.join()
        assert [event['data']['number'] for event in matches] == [0, 1, 2]

    def test_timeout_message_shows_the_filter_and_every_event_seen(self):
        with EventCapture() as captured:
            tracker.Tracker().emit('edx.seen.one', {'a': 1})
            tracker.Tracker().emit('edx.seen.two')
            started = time.monotonic()
            with pytest.raises(EventWaitTimeout) as raised:
                captured.wait_for_events({'name': 'edx.never'}, number_of_matches=2, timeout=0.2)
            assert time.monotonic() - started >= 0.2
        message = str(raised.value)
        assert message.startswith(
            "Timed out after 0.2 s waiting for 2 events matching {'name': 'edx.never'}: 0 arrived.\n"
            'Matched tolerating: context_extra_fields, payload_extra_fields, root_extra_fields, string_payload\n'
            'Events captured (2):\n  [0]\n')
        assert "'name': 'edx.seen.one'" in message and "'name': 'edx.seen.two'" in message
        assert isinstance(raised.value, AssertionError)

    def test_timeout_message_with_no_event_and_no_filter(self):
        with EventCapture() as captured:
            with pytest.raises(EventWaitTimeout) as raised:
                captured.wait_for_events(timeout=0.01)
        assert str(raised.value) == (
            'Timed out after 0.01 s waiting for 1 event: 0 arrived.\nEvents captured (0):\n  (none)')

    def test_a_filter_that_raises_counts_as_no_match_and_is_reported(self):
        def needs_old_time(event):
            return event['data']['old_time'] > 10

        with EventCapture() as captured:
            tracker.Tracker().emit('load_video')
            tracker.Tracker().emit('seek_video', {'old_time': 12})
            assert len(captured.wait_for_events(needs_old_time)) == 1
            with pytest.raises(EventWaitTimeout) as raised:
                captured.wait_for_events(needs_old_time, number_of_matches=2, timeout=0.01)
        message = str(raised.value)
        assert message.startswith(
            'Timed out after 0.01 s waiting for 2 events matching '
            'TestWaitForEvents.test_a_filter_that_raises_counts_as_no_match_and_is_reported.<locals>.needs_old_time'
            ': 1 arrived.\n'
            "The filter raised on 1 event(s); the last time: KeyError('old_time')\n")

    def test_bad_arguments(self):
        with EventCapture() as captured:
            with pytest.raises(TypeError, match="event_filter must be None, a dict or a callable, not 'foobar'"):
                captured.wait_for_events('foobar')
            with pytest.raises(ValueError, match='number_of_matches must not be negative'):
                captured.wait_for_events(number_of_matches=-1)
            assert captured.wait_for_events(number_of_matches=0, timeout=0) == []


class TestAssertEventsMatchDuring:

    def test_only_events_emitted_in_the_block_count(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            emitter.emit('foobar', {'a': 'NOT B'})
            with captured.assert_events_match_during({'name': 'foobar'}, [{'data': {'a': 'b'}}]):
                emitter.emit('other')
                emitter.emit('foobar', {'a': 'b'})

    def test_mismatch_in_the_block_fails_with_the_differences(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            with pytest.raises(AssertionError) as raised:
                with captured.assert_events_match_during({'name': 'foobar'}, [{'data': {'a': 'b'}}]):
                    emitter.emit('foobar', {'a': 'NOT B'})
        assert str(raised.value).startswith('Event [0] does not match expected event [0]:\n'
                                            "  * data.a: 'b' != 'NOT B' (expected != actual)\n")

    def test_missing_event_times_out_showing_only_the_events_of_the_block(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            emitter.emit('foobar', {'a': 'b'})
            with pytest.raises(EventWaitTimeout) as raised:
                with captured.assert_events_match_during({'name': 'foobar'}, [{'data': {'a': 'b'}}], timeout=0.05):
                    emitter.emit('unrelated')
        message = str(raised.value)
        assert "waiting for 1 event matching {'name': 'foobar'}" in message
        assert 'Events captured since the block started (1):\n' in message
        assert "'unrelated'" in message

    def test_extra_matching_events_in_the_block_fail(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            with pytest.raises(AssertionError, match=r'^Expected 1 event, got 2\.'):
                with captured.assert_events_match_during({'name': 'foobar'}, [{'data': {'a': 'b'}}]):
                    emitter.emit('foobar', {'a': 'b'})
                    emitter.emit('foobar', {'a': 'b'})

    def test_no_expected_events_asserts_none_matched(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            emitter.emit('foobar')
            with captured.assert_events_match_during({'name': 'foobar'}):
                emitter.emit('other')
            with pytest.raises(AssertionError, match=r'^Expected 0 events, got 1\.'):
                with captured.assert_events_match_during({'name': 'foobar'}, []):
                    emitter.emit('foobar')

    def test_waits_for_events_from_a_thread_started_in_the_block(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            with captured.assert_events_match_during({'name': 'async'}, [{'data': {'n': 1}}], timeout=30):
                timer = threading.Timer(0.05, emitter.emit, args=('async', {'n': 1}))
                timer.start()
            timer.join()

    def test_an_exception_in_the_block_propagates_without_checking(self):
        with EventCapture() as captured:
            with pytest.raises(KeyError):
                with captured.assert_events_match_during({'name': 'x'}, [{'name': 'x'}], timeout=30):
                    raise KeyError('boom')

    def test_clear_inside_the_block_forgets_only_what_was_captured_so_far(self):
        emitter = tracker.Tracker()
        with EventCapture() as captured:
            emitter.emit('before.one')
            emitter.emit('before.two')
            with captured.assert_events_match_during({'name': 'foobar'}, [{'data': {'n': 2}}], timeout=30):
                emitter.emit('foobar', {'n': 1})
                captured.clear()
                emitter.emit('foobar', {'n': 2})
            assert [event['data'] for event in captured.wait_for_events({'name': 'foobar'})] == [{'n': 2}]
