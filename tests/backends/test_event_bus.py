"""EventBusRoutingBackend: what it sends as TRACKING_EVENT_EMITTED, and when it sends nothing."""

import importlib
import json
import logging
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from openedx_events.analytics.data import TrackingLogData
from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED

from eventtracking.backends import event_bus
from eventtracking.backends.event_bus import EventBusBackend, EventBusRoutingBackend, InvalidTimestampError
from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import UnserializableEventError

UTC = timezone.utc
WHEN = datetime(2023, 10, 3, 8, 24, 55, 123456, tzinfo=UTC)


class SignalRecorder:
    """Keeps what a receiver of TRACKING_EVENT_EMITTED is sent.

    The receiver is a plain function: openedx-events formats its receivers' names
    with ``__name__``, which a callable object does not have.
    """

    def __init__(self):
        self.calls = []

        def receive(sender, signal, **kwargs):  # pylint: disable=unused-argument
            self.calls.append(kwargs)

        self.receiver = receive

    @property
    def tracking_logs(self):
        return [call['tracking_log'] for call in self.calls]


@pytest.fixture
def received():
    recorder = SignalRecorder()
    TRACKING_EVENT_EMITTED.connect(recorder.receiver, weak=False)
    yield recorder
    TRACKING_EVENT_EMITTED.disconnect(recorder.receiver)


@pytest.fixture
def bus_on(settings):
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
    settings.EVENT_BUS_TRACKING_LOGS = ['edx.course.enrollment.activated']
    return settings


def enrollment(**fields):
    event = {
        'name': 'edx.course.enrollment.activated',
        'timestamp': WHEN,
        'data': {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'verified'},
        'context': {'user_id': 42, 'path': '/enroll'},
    }
    event.update(fields)
    return event


def test_nothing_is_sent_while_the_toggle_is_off(settings, received):
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = False
    settings.EVENT_BUS_TRACKING_LOGS = ['edx.course.enrollment.activated']

    EventBusRoutingBackend().send(enrollment())

    assert received.calls == []


def test_the_toggle_is_off_by_default(settings, received):
    del settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL
    settings.EVENT_BUS_TRACKING_LOGS = ['edx.course.enrollment.activated']

    EventBusRoutingBackend().send(enrollment())

    assert received.calls == []


@pytest.mark.parametrize('listed', [None, [], ['edx.course.enrollment.deactivated', 'edx.course.enrollment']])
def test_an_event_whose_name_is_not_listed_is_not_sent(settings, received, listed):
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
    if listed is None:
        del settings.EVENT_BUS_TRACKING_LOGS
    else:
        settings.EVENT_BUS_TRACKING_LOGS = listed

    EventBusRoutingBackend().send(enrollment())

    assert received.calls == []


def test_a_listed_event_is_sent_with_json_data_and_context(bus_on, received):
    india = timezone(timedelta(hours=5, minutes=30))
    event = enrollment(
        data={'at': datetime(2024, 1, 1, 12, 0, tzinfo=india), 'naive': datetime(2024, 1, 1, 12, 0),
              'due': date(2024, 2, 1), 'n': [1, 2.5, None, True]},
        context={'user_id': 42, 'entered': datetime(2023, 1, 1, tzinfo=UTC)},
    )

    EventBusRoutingBackend(backend_name='xapi').send(event)

    [tracking_log] = received.tracking_logs
    assert isinstance(tracking_log, TrackingLogData)
    assert tracking_log.name == 'edx.course.enrollment.activated'
    assert tracking_log.timestamp == WHEN
    assert json.loads(tracking_log.data) == {
        'at': '2024-01-01T06:30:00+00:00', 'naive': '2024-01-01T12:00:00+00:00', 'due': '2024-02-01',
        'n': [1, 2.5, None, True],
    }
    assert json.loads(tracking_log.context) == {'user_id': 42, 'entered': '2023-01-01T00:00:00+00:00'}
    assert received.calls[0]['from_event_bus'] is False


@pytest.mark.parametrize('text, expected', [
    ('2023-10-03T08:24:55.123456+00:00', WHEN),
    ('2023-10-03T08:24:55.123456Z', WHEN),
    ('2023-10-03T08:24:55+00:00', WHEN.replace(microsecond=0)),
    ('2023-10-03T10:24:55.123456+02:00', WHEN),
    ('2023-10-03T08:24:55.123456', WHEN),
])
def test_a_string_timestamp_is_parsed_into_a_datetime(bus_on, received, text, expected):
    EventBusRoutingBackend().send(enrollment(timestamp=text))

    [tracking_log] = received.tracking_logs
    assert tracking_log.timestamp == expected
    assert tracking_log.timestamp.tzinfo is not None


@pytest.mark.parametrize('timestamp', ['yesterday', None, 1696321495])
def test_a_timestamp_the_bus_cannot_carry_is_an_error_naming_the_event(bus_on, received, timestamp):
    with pytest.raises(InvalidTimestampError, match='edx.course.enrollment.activated') as raised:
        EventBusRoutingBackend().send(enrollment(timestamp=timestamp))
    assert isinstance(raised.value, ValueError)
    assert received.calls == []


def test_in_a_routing_tree_a_bad_event_is_logged_and_counted(bus_on, received, caplog):
    root = RoutingBackend(backends={'bus': EventBusRoutingBackend()})

    with caplog.at_level(logging.WARNING):
        root.send(enrollment(timestamp='not a time'))
        root.send(enrollment(data={'tags': {'a'}}))

    assert received.calls == []
    assert root.stats == {'invalid_timestamp': 1, 'unserializable': 1}
    assert len([record for record in caplog.records if 'edx.course.enrollment.activated' in record.getMessage()]) == 2


def test_unserializable_data_called_directly_raises_type_error(bus_on, received):
    with pytest.raises(UnserializableEventError) as raised:
        EventBusRoutingBackend().send(enrollment(data={'amount': object()}))
    assert isinstance(raised.value, TypeError)


def test_sibling_event_bus_backends_put_one_event_on_the_bus(bus_on, received):
    root = RoutingBackend(backends={
        'a': EventBusRoutingBackend(backend_name='a'),
        'b': EventBusRoutingBackend(backend_name='b'),
        'c': EventBusRoutingBackend(backend_name='c'),
    })

    root.send(enrollment())
    root.send(enrollment())

    assert len(received.calls) == 2


def test_one_backend_sent_the_same_event_twice_sends_it_twice(bus_on, received):
    backend = EventBusRoutingBackend()
    event = enrollment()

    backend.send(event)
    backend.send(event)

    assert len(received.calls) == 2


def test_a_receiver_that_fails_is_logged_and_counted(bus_on, caplog):
    def broken_producer(sender, signal, **kwargs):
        raise ConnectionError('bus unreachable')

    TRACKING_EVENT_EMITTED.connect(broken_producer, weak=False)
    backend = EventBusRoutingBackend()
    try:
        with caplog.at_level(logging.ERROR, logger='eventtracking.backends.event_bus'):
            backend.send(enrollment())
    finally:
        TRACKING_EVENT_EMITTED.disconnect(broken_producer)

    assert backend.stats == {'publish_error': 1}
    [record] = [r for r in caplog.records if r.name == 'eventtracking.backends.event_bus']
    assert 'broken_producer' in record.getMessage() and 'bus unreachable' in record.getMessage()


def test_the_processors_and_backends_do_not_run_in_the_web_process(bus_on, received):
    class Sink:
        events = []

        def send(self, event):
            self.events.append(event)

    def stop(event):
        raise AssertionError('processors run in the consumer')

    backend = EventBusRoutingBackend(processors=[stop], backends={'sink': Sink()})
    backend.send(enrollment())

    assert len(received.calls) == 1
    assert Sink.events == []


def test_the_readme_name_of_the_class_works():
    assert EventBusBackend is EventBusRoutingBackend
    assert EventBusRoutingBackend(backend_name='xapi').backend_name == 'xapi'


def test_the_module_level_names_users_patch():
    assert event_bus.TRACKING_EVENT_EMITTED is TRACKING_EVENT_EMITTED
    assert event_bus.SEND_TRACKING_EVENT_EMITTED_SIGNAL.name == 'SEND_TRACKING_EVENT_EMITTED_SIGNAL'
    assert event_bus.logger.name == 'eventtracking.backends.event_bus'


@pytest.mark.parametrize('module', ['eventtracking.backends.event_bus', 'eventtracking.handlers'])
def test_without_openedx_events_the_import_error_names_the_extra(module, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openedx_events.analytics.signals', None)
    monkeypatch.delitem(sys.modules, 'eventtracking.backends.event_bus', raising=False)
    monkeypatch.delitem(sys.modules, 'eventtracking.handlers', raising=False)

    with pytest.raises(ImportError, match=r"pip install '<eventtracking checkout or wheel>\[eventbus\]'"):
        importlib.import_module(module)
