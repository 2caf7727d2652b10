"""send_tracking_log_to_backends: the consumer half of the event bus, driven through the real signal."""

import logging
from datetime import datetime, timezone
from unittest import mock

import pytest
from openedx_events.analytics.data import TrackingLogData
from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED
from openedx_events.tooling import SIGNAL_PROCESSED_FROM_EVENT_BUS

from eventtracking import handlers
from eventtracking.backends.event_bus import EventBusRoutingBackend
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend

WHEN = datetime(2023, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc)


def tracking_log(name='edx.course.enrollment.activated', data='{"mode": "verified"}',
                 context='{"user_id": 42, "at": "2023-10-03T08:24:55+00:00"}'):
    return TrackingLogData(name=name, timestamp=WHEN, data=data, context=context)


def from_the_bus(log):
    """Send TRACKING_EVENT_EMITTED as the event bus consumer does."""
    metadata = TRACKING_EVENT_EMITTED.generate_signal_metadata()
    return TRACKING_EVENT_EMITTED.send_event_with_custom_metadata(metadata, tracking_log=log)


def add(key, value):
    def processor(event):
        event['context'][key] = value
        return event
    return processor


def test_a_tracking_log_from_the_bus_reaches_every_event_bus_backend_after_its_processors(register_default_tracker):
    first, second, plain = CollectingBackend(), CollectingBackend(), CollectingBackend()
    register_default_tracker(Tracker(backends={
        'first': EventBusRoutingBackend(processors=[add('seen_by', 'first')], backends={'sink': first}),
        'second': EventBusRoutingBackend(processors=[add('seen_by', 'second')], backends={'sink': second}),
        'plain': plain,
    }))

    responses = from_the_bus(tracking_log())

    assert not [response for _, response in responses if isinstance(response, Exception)]
    expected = {
        'name': 'edx.course.enrollment.activated',
        'timestamp': WHEN,
        'data': {'mode': 'verified'},
        'context': {'user_id': 42, 'at': '2023-10-03T08:24:55+00:00'},
    }
    assert first.events == [dict(expected, context=dict(expected['context'], seen_by='first'))]
    assert second.events == [dict(expected, context=dict(expected['context'], seen_by='second'))]
    assert plain.events == []


def test_signals_that_did_not_come_from_the_bus_are_ignored(register_default_tracker):
    sink = CollectingBackend()
    register_default_tracker(Tracker(backends={'bus': EventBusRoutingBackend(backends={'sink': sink})}))

    TRACKING_EVENT_EMITTED.send_event(tracking_log=tracking_log())
    handlers.send_tracking_log_to_backends(sender=None, signal=TRACKING_EVENT_EMITTED, tracking_log=tracking_log())

    assert sink.events == []


def test_event_emission_exit_skips_only_that_backend(register_default_tracker, caplog):
    def refuse(event):
        raise EventEmissionExit()

    skipped, delivered = CollectingBackend(), CollectingBackend()
    tracker = register_default_tracker(Tracker(backends={
        'a': EventBusRoutingBackend(processors=[refuse], backends={'sink': skipped}),
        'b': EventBusRoutingBackend(backends={'sink': delivered}),
    }))

    with caplog.at_level(logging.INFO, logger='eventtracking.handlers'):
        from_the_bus(tracking_log())

    assert skipped.events == []
    assert len(delivered.events) == 1
    assert tracker.stats == {'filtered': 1}
    assert any('[EventEmissionExit] skipping event edx.course.enrollment.activated' in record.getMessage()
               for record in caplog.records)


def test_event_emission_exit_is_logged_with_the_originals_exact_call(register_default_tracker):
    """Tests written for the original patch ``eventtracking.handlers.logger`` and match the call itself."""
    def refuse(event):
        raise EventEmissionExit()

    register_default_tracker(Tracker(backends={'a': EventBusRoutingBackend(processors=[refuse])}))
    with mock.patch('eventtracking.handlers.logger') as logger:
        from_the_bus(tracking_log())
    logger.info.assert_called_once_with('[EventEmissionExit] skipping event edx.course.enrollment.activated')


def test_the_processors_of_one_backend_do_not_change_what_another_one_gets(register_default_tracker):
    def rewrite(event):
        event['data']['mode'] = 'rewritten'
        event['context'].clear()

    one, two = CollectingBackend(), CollectingBackend()
    register_default_tracker(Tracker(backends={
        'a': EventBusRoutingBackend(processors=[rewrite], backends={'sink': one}),
        'b': EventBusRoutingBackend(backends={'sink': two}),
    }))

    from_the_bus(tracking_log())

    assert one.events[0]['data'] == {'mode': 'rewritten'} and one.events[0]['context'] == {}
    assert two.events[0]['data'] == {'mode': 'verified'} and two.events[0]['context']['user_id'] == 42


def test_without_a_default_tracker_the_log_is_dropped_logged_and_counted(caplog):
    before = handlers.COUNTERS['no_tracker']
    with mock.patch('eventtracking.handlers.get_tracker', side_effect=KeyError('default')), \
            caplog.at_level(logging.ERROR, logger='eventtracking.handlers'):
        from_the_bus(tracking_log())

    assert handlers.COUNTERS['no_tracker'] == before + 1
    assert 'no default tracker' in caplog.records[-1].getMessage()


@pytest.mark.parametrize('data, context', [('{not json', '{}'), ('{}', None)])
def test_an_unreadable_tracking_log_is_dropped_logged_and_counted(register_default_tracker, caplog, data, context):
    sink = CollectingBackend()
    register_default_tracker(Tracker(backends={'bus': EventBusRoutingBackend(backends={'sink': sink})}))
    before = handlers.COUNTERS['unreadable']

    with caplog.at_level(logging.ERROR, logger='eventtracking.handlers'):
        handlers.send_tracking_log_to_backends(
            sender=None, signal=TRACKING_EVENT_EMITTED,
            tracking_log=TrackingLogData(name='edx.bad', timestamp=WHEN, data=data, context=context),
            **{SIGNAL_PROCESSED_FROM_EVENT_BUS: True},
        )

    assert sink.events == []
    assert handlers.COUNTERS['unreadable'] == before + 1
    assert "'edx.bad'" in caplog.records[-1].getMessage()


def test_it_looks_the_tracker_up_through_get_tracker_in_the_handlers_module():
    backend = EventBusRoutingBackend()
    backend.send_to_backends = mock.Mock()
    with mock.patch('eventtracking.handlers.get_tracker', return_value=Tracker(backends={'bus': backend})):
        handlers.send_tracking_log_to_backends(
            sender=None, signal=None, tracking_log=tracking_log(data='{}', context='{}'),
            **{SIGNAL_PROCESSED_FROM_EVENT_BUS: True},
        )
    backend.send_to_backends.assert_called_once_with(
        {'name': 'edx.course.enrollment.activated', 'timestamp': WHEN, 'data': {}, 'context': {}}
    )


def test_the_handler_is_connected_once_by_importing_the_module():
    uid = 'eventtracking.handlers.send_tracking_log_to_backends'
    assert [entry for entry in TRACKING_EVENT_EMITTED.receivers if entry[0][0] == uid] != []
    assert len([entry for entry in TRACKING_EVENT_EMITTED.receivers if entry[0][0] == uid]) == 1
