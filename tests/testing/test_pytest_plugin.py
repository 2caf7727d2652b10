"""The ``captured_events`` fixture: the developer guide's examples, and the plugin as other suites see it."""

import ast
import threading
from pathlib import Path

import pytest

import eventtracking
from eventtracking import tracker
from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors.legacy import LegacyFieldMappingProcessor
from eventtracking.testing import EventWaitTimeout, InMemoryBackend

pytest_plugins = ['pytester']


@pytest.fixture
def legacy_tracker():
    """A default tracker that gives events the legacy layout the guide's examples assert on."""
    legacy = tracker.Tracker(backends={'mem': InMemoryBackend()}, processors=[LegacyFieldMappingProcessor()])
    tracker.register_tracker(legacy)
    return legacy


def emit_foobar_event():
    tracker.emit('foobar', {'a': 'b'})


def emit_several_events():
    tracker.emit('first_event', {'a': 'b'})
    tracker.emit('unrelated_event', {'a': 'c'})
    tracker.emit('second_event', {'a': 'other'})


class TestGuideExamplesLegacyLayout:
    """The examples of the guide's event-waiting mixin, with events in the legacy layout they use."""

    def test_foobar_event_emission(self, captured_events, legacy_tracker):
        emit_foobar_event()
        actual_events = captured_events.wait_for_events({'event_type': 'foobar'})
        captured_events.assert_events_match(
            [
                {'event': {'a': 'b'}}
            ],
            actual_events
        )

        tracker.emit('video.seek', {'old_time': 12})

        def some_custom_event_filter(event):
            return event['event']['old_time'] > 10

        actual_events = captured_events.wait_for_events(some_custom_event_filter)
        assert [event['event_type'] for event in actual_events] == ['video.seek']

    def test_multiple_events(self, captured_events, legacy_tracker):
        emit_several_events()

        def my_event_filter(event):
            return event['event_type'] in ('first_event', 'second_event')

        actual_events = captured_events.wait_for_events(my_event_filter, number_of_matches=2)
        captured_events.assert_events_match(
            [
                {
                    'event_type': 'first_event',
                    'event': {'a': 'b'}
                },
                {
                    'event_type': 'second_event',
                    'event': {'a': 'other'}
                }
            ],
            actual_events
        )

    def test_granular_assertion(self, captured_events, legacy_tracker):
        tracker.emit('foobar', {'a': 'NOT B'})
        with captured_events.assert_events_match_during(
            {'event_type': 'foobar'},
            [
                {
                    'event': {'a': 'b'}
                }
            ]
        ):
            emit_foobar_event()

    def test_granular_assertion_fails_on_the_event_before_the_block_alone(self, captured_events, legacy_tracker):
        with pytest.raises(EventWaitTimeout, match="waiting for 1 event matching {'event_type': 'foobar'}"):
            tracker.emit('foobar', {'a': 'b'})
            with captured_events.assert_events_match_during({'event_type': 'foobar'}, [{'event': {'a': 'b'}}],
                                                            timeout=0.05):
                tracker.emit('something_else')

    def test_multiple_events_in_the_wrong_order_fail(self, captured_events, legacy_tracker):
        tracker.emit('second_event', {'a': 'other'})
        tracker.emit('first_event', {'a': 'b'})
        actual_events = captured_events.wait_for_events(
            lambda event: event['event_type'] in ('first_event', 'second_event'), number_of_matches=2)
        with pytest.raises(AssertionError) as raised:
            captured_events.assert_events_match(
                [{'event_type': 'first_event', 'event': {'a': 'b'}},
                 {'event_type': 'second_event', 'event': {'a': 'other'}}],
                actual_events)
        assert "  * event_type: 'first_event' != 'second_event' (expected != actual)" in str(raised.value)

    def test_strict_tolerance_can_be_asked_for(self, captured_events, legacy_tracker):
        emit_foobar_event()
        actual_events = captured_events.wait_for_events({'event_type': 'foobar'})
        with pytest.raises(AssertionError, match='name: only defined in actual'):
            captured_events.assert_events_match([{'event_type': 'foobar', 'event': {'a': 'b'}}], actual_events,
                                                tolerate=[])


class TestNativeLayout:
    """The same helpers on this library's own event layout (payload in ``data``)."""

    def test_wait_and_match(self, captured_events):
        tracker.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'})
        actual_events = captured_events.wait_for_events({'name': 'edx.course.enrollment.activated'})
        captured_events.assert_events_match([{'data': {'course_id': 'course-v1:edX+DemoX+Demo'}}], actual_events)
        assert captured_events.get_event()['name'] == 'edx.course.enrollment.activated'

    def test_assert_events_match_during(self, captured_events):
        tracker.emit('foobar', {'a': 'NOT B'})
        with captured_events.assert_events_match_during({'name': 'foobar'}, [{'data': {'a': 'b'}}]):
            tracker.emit('foobar', {'a': 'b'})

    def test_assert_no_events_emitted(self, captured_events):
        captured_events.assert_no_events_emitted()
        tracker.emit('edx.oops')
        with pytest.raises(AssertionError, match="Expected no events, 1 was emitted:"):
            captured_events.assert_no_events_emitted()
        tracker.emit('edx.oops.again')
        with pytest.raises(AssertionError, match="Expected no events, 2 were emitted:"):
            captured_events.assert_no_events_emitted()

    def test_events_from_another_thread(self, captured_events):
        emitter = tracker.Tracker()
        timer = threading.Timer(0.1, emitter.emit, args=('edx.background.done', {'ok': True}))
        timer.start()
        try:
            actual_events = captured_events.wait_for_events({'name': 'edx.background.done'}, timeout=30)
        finally:
            timer.join()
        captured_events.assert_events_match([{'data': {'ok': True}}], actual_events)

    def test_a_tracker_built_in_the_test_is_captured(self, captured_events):
        mine = tracker.Tracker(backends={'nested': RoutingBackend(backends={'mem': InMemoryBackend()})})
        mine.emit('mine')
        assert [event['name'] for event in captured_events.events] == ['mine']


def run_inner_suite(pytester, monkeypatch, *args):
    """Run pytester's files in a new pytest process, as a project that merely has eventtracking installed."""
    monkeypatch.delenv('DJANGO_SETTINGS_MODULE', raising=False)
    return pytester.runpytest_subprocess('-p', 'no:cacheprovider', *args)


class TestPluginInOtherSuites:

    def test_the_fixture_needs_no_configuration(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            from eventtracking import tracker

            def test_emit(captured_events):
                tracker.emit('edx.inner', {'a': 1})
                assert captured_events.get_event()['data'] == {'a': 1}
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(passed=1)

    def test_nothing_is_patched_and_everything_is_put_back_after_a_test(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            from eventtracking import tracker
            from eventtracking.backends.routing import RoutingBackend
            ORIGINAL_EMIT = tracker.Tracker.__dict__['emit']
            ORIGINAL_FAN_OUT = RoutingBackend.__dict__['_fan_out']

            def test_1_uses_the_fixture(captured_events):
                assert tracker.Tracker.__dict__['emit'] is ORIGINAL_EMIT
                assert RoutingBackend.__dict__['_fan_out'] is ORIGINAL_FAN_OUT
                assert len(tracker._observations) == 1
                assert 'default' in tracker.TRACKERS

            def test_2_runs_after(captured_events):
                pass

            def test_3_does_not_use_it():
                assert tracker._observations == ()
                assert tracker.TRACKERS == {}
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(passed=3)

    def test_a_suite_that_does_not_use_it_imports_nothing_of_eventtracking(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            import sys

            def test_modules():
                loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'eventtracking')
                assert loaded == ['eventtracking', 'eventtracking.testing', 'eventtracking.testing.pytest_plugin']
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(passed=1)

    def test_the_plugin_is_registered_through_its_entry_point(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            def test_plugin(pytestconfig):
                plugin = pytestconfig.pluginmanager.get_plugin('eventtracking')
                assert plugin.__name__ == 'eventtracking.testing.pytest_plugin'
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(passed=1)
        disabled = run_inner_suite(pytester, monkeypatch, '-p', 'no:eventtracking', '--fixtures')
        assert 'captured_events' not in disabled.stdout.str()
        listed = run_inner_suite(pytester, monkeypatch, '--fixtures')
        listed.stdout.fnmatch_lines(['captured_events*', '*Capture every event any tracker emits*'])

    def test_a_timeout_is_reported_as_a_failure_showing_the_events(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            from eventtracking import tracker

            def test_wait(captured_events):
                tracker.emit('edx.emitted', {'a': 1})
                captured_events.wait_for_events({'name': 'edx.expected'}, timeout=0.1)
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "*EventWaitTimeout: Timed out after 0.1 s waiting for 1 event matching {'name': 'edx.expected'}*",
            'E       Events captured (1):',
            'E         [0]',
            "E           {'context': {},",
            "E            'data': {'a': 1},",
            "E            'name': 'edx.emitted',",
        ])

    def test_a_mismatch_is_reported_with_its_differences(self, pytester, monkeypatch):
        pytester.makepyfile(test_inner="""
            from eventtracking import tracker

            def test_match(captured_events):
                tracker.emit('edx.emitted', {'a': 1})
                captured_events.assert_events_match([{'data': {'a': 2}}], captured_events.events)
        """)
        result = run_inner_suite(pytester, monkeypatch)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            'E       AssertionError: Event [0] does not match expected event [0]:',
            'E         * data.a: 2 != 1 (expected != actual)',
        ])


def test_the_library_has_no_assert_statement_for_pytest_to_rewrite():
    """pytest rewrites the asserts of every module of a distribution that declares a plugin, used or not.

    Without assert statements in the library, that rewriting cannot change how
    the library behaves in other projects' test sessions.
    """
    package = Path(eventtracking.__file__).parent
    found = []
    for path in sorted(package.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
            if isinstance(node, ast.Assert):
                found.append(f'{path.relative_to(package.parent)}:{node.lineno}')
    assert len(list(package.rglob('*.py'))) > 10
    assert found == []
