"""The Open edX developer guide's event-waiting examples, on the captured_events pytest fixture."""

import threading

from eventtracking import tracker


def emit_foobar_event():
    tracker.emit('foobar', {'a': 'b', 'old_time': 12})


def emit_several_events():
    tracker.emit('first_event', {'a': 'b'})
    # Events emitted from another thread (or a Celery worker) are captured too.
    thread = threading.Thread(target=tracker.emit, args=('second_event', {'a': 'other'}))
    thread.start()
    thread.join()


def test_foobar_event_emission(captured_events):
    emit_foobar_event()

    # This will wait for the event to be emitted. It will time out if the
    # event is not emitted quickly enough (or not emitted at all).
    actual_events = captured_events.wait_for_events({'name': 'foobar'})

    # This will compare the first event emitted with the first expected
    # event, the second with the second etc.
    captured_events.assert_events_match(
        [
            {'data': {'a': 'b'}}
        ],
        actual_events
    )

    # ``wait_for_events`` also accepts arbitrary callable functions to check
    # to see if an event "matches"
    def some_custom_event_filter(event):
        return event['data']['old_time'] > 10

    # This will return when some_custom_event_filter returns true for at
    # least one event.
    actual_events = captured_events.wait_for_events(some_custom_event_filter)


def test_multiple_events(captured_events):
    emit_several_events()

    def my_event_filter(event):
        return event['name'] in ('first_event', 'second_event')

    # This will wait for 2 events to match the filter defined above. Note
    # that it makes no assertions about their ordering or content.
    actual_events = captured_events.wait_for_events(my_event_filter, number_of_matches=2)

    # This ensures that first_event was emitted before second_event and
    # checks the payload of both events.
    captured_events.assert_events_match(
        [
            {
                'name': 'first_event',
                'data': {'a': 'b'}
            },
            {
                'name': 'second_event',
                'data': {'a': 'other'}
            }
        ],
        actual_events
    )


def test_granular_assertion(captured_events):
    # This foobar event is emitted first, with the "a" field set to "NOT B"
    tracker.emit('foobar', {'a': 'NOT B'})

    # A context manager can be used to ensure that the first "foobar" event
    # is ignored. It only makes assertions about the events that are emitted
    # inside this context.
    with captured_events.assert_events_match_during(
        {'name': 'foobar'},
        [
            {
                'data': {'a': 'b'}
            }
        ]
    ):
        emit_foobar_event()


def test_no_event(captured_events):
    captured_events.assert_no_events_emitted()
