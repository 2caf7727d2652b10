"""End to end on a real event bus: edx-event-bus-redis producing to and consuming from a real Redis stream.

The web-process half (EventBusRoutingBackend sending TRACKING_EVENT_EMITTED,
the bus producer writing the stream) and the consumer half (the bus consumer
reading the stream and re-sending the signal, the handler delivering to the
backends) run in the same process, as two steps of one test.

The consumer runs in the main thread: edx-event-bus-redis guards some Redis
calls with SIGALRM, which Python only allows there. A watcher thread stops it
once the events arrived, or after a deadline.
"""

import signal
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED
from openedx_events.apps import general_signal_handler
from openedx_events.event_bus import make_single_consumer

import eventtracking.handlers  # noqa: F401  pylint: disable=unused-import  # connects the handler
from eventtracking.backends.event_bus import EventBusRoutingBackend
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend

pytestmark = pytest.mark.server

EVENT_TYPE = 'org.openedx.analytics.tracking.event.emitted.v1'


@pytest.fixture
def event_bus(settings, redis_server, monkeypatch):
    """Settings for a Redis event bus on the session's Redis (database 1), with a topic of its own.

    Yields the topic, the full stream name and a client of that database.
    """
    from edx_event_bus_redis.internal import consumer  # pylint: disable=import-outside-toplevel

    topic = f'tracking-logs-{uuid.uuid4().hex[:8]}'
    settings.EVENT_BUS_PRODUCER = 'edx_event_bus_redis.create_producer'
    settings.EVENT_BUS_CONSUMER = 'edx_event_bus_redis.RedisEventConsumer'
    settings.EVENT_BUS_REDIS_CONNECTION_URL = redis_server.url(1)
    settings.EVENT_BUS_TOPIC_PREFIX = 'eventtracking-tests'
    settings.EVENT_BUS_PRODUCER_CONFIG = {
        EVENT_TYPE: {topic: {'event_key_field': 'tracking_log.name', 'enabled': True}},
    }
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
    settings.EVENT_BUS_TRACKING_LOGS = ['edx.course.enrollment.activated', 'edx.course.enrollment.deactivated']
    monkeypatch.setattr(consumer, 'CONSUMER_POLL_TIMEOUT', 1)
    monkeypatch.setattr(consumer, 'POLL_FAILURE_SLEEP', 0.1)
    # What openedx_events' AppConfig.ready() does for a signal named in EVENT_BUS_PRODUCER_CONFIG.
    TRACKING_EVENT_EMITTED.connect(general_signal_handler)
    yield SimpleNamespace(topic=topic, stream=f'eventtracking-tests-{topic}', redis=redis_server.client(1))
    TRACKING_EVENT_EMITTED.disconnect(general_signal_handler)


def consume_until(topic, done, timeout=20.0):
    """Run the bus consumer in this (main) thread until ``done()`` is true or ``timeout`` seconds passed."""
    bus_consumer = make_single_consumer(topic=topic, group_id='eventtracking-tests', consumer_name='tests',
                                        check_backlog=True)
    assert type(bus_consumer).__name__ == 'RedisEventConsumer', 'the event bus consumer is not configured'
    finished = threading.Event()

    def watch():
        deadline = time.monotonic() + timeout
        while not finished.is_set() and not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        bus_consumer._shut_down()  # pylint: disable=protected-access

    watcher = threading.Thread(target=watch, daemon=True)
    previous_alarm_handler = signal.getsignal(signal.SIGALRM)
    watcher.start()
    try:
        bus_consumer.consume_indefinitely()
    finally:
        finished.set()
        signal.signal(signal.SIGALRM, previous_alarm_handler)
        watcher.join(5)


def test_an_event_travels_through_the_bus_to_the_backends_of_every_event_bus_backend(
        event_bus, register_default_tracker):
    xapi, caliper, web = CollectingBackend(), CollectingBackend(), CollectingBackend()

    def stamp(key):
        def processor(event):
            event['context'][key] = threading.current_thread().name
        return processor

    def enrollments_only(event):
        if not event['name'].endswith('.activated'):
            raise EventEmissionExit()
        return event

    tracker = register_default_tracker(Tracker(backends={
        'xapi': EventBusRoutingBackend(backend_name='xapi', processors=[stamp('xapi')], backends={'sink': xapi}),
        'caliper': EventBusRoutingBackend(backend_name='caliper', processors=[stamp('caliper'), enrollments_only],
                                          backends={'sink': caliper}),
        'web': web,
    }))
    tracker.enter_context('edx.request', {'user_id': 42, 'course_id': 'course-v1:edX+DemoX+Demo'})

    tracker.emit('edx.course.enrollment.activated', {'mode': 'verified'})
    tracker.emit('edx.course.enrollment.deactivated', {'mode': 'audit'})
    tracker.emit('edx.video.played', {'id': 'v1'})

    assert xapi.events == [] and caliper.events == [], 'nothing is delivered before the consumer runs'
    consume_until(event_bus.topic, lambda: len(xapi.events) >= 2 and len(caliper.events) >= 1)

    assert [event['name'] for event in xapi.events] == [
        'edx.course.enrollment.activated', 'edx.course.enrollment.deactivated',
    ]
    assert [event['name'] for event in caliper.events] == ['edx.course.enrollment.activated']
    activated = xapi.events[0]
    assert activated['data'] == {'mode': 'verified'}
    assert activated['context'] == {
        'user_id': 42, 'course_id': 'course-v1:edX+DemoX+Demo', 'xapi': threading.current_thread().name,
    }
    assert 'xapi' not in caliper.events[0]['context'] and 'caliper' in caliper.events[0]['context']
    assert activated['timestamp'] == web.events[0]['timestamp']
    assert tracker.stats.get('filtered') == 1
    assert len(web.events) == 3
    assert event_bus.redis.xlen(event_bus.stream) == 2, 'one message per event, however many event-bus backends'
