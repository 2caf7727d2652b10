"""wait_for_events with events that a real Celery worker (a thread consuming from Redis on loopback) delivers."""

import threading
import time

import pytest
from celery import shared_task

from eventtracking import tracker
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.testing import EventWaitTimeout, InMemoryBackend

pytestmark = pytest.mark.server

DELIVERIES = 'deliveries'


@shared_task(name='tests.testing.emit_in_worker')
def emit_in_worker(name, data):
    """Application code that runs in the worker and emits an event there, as Open edX tasks do."""
    data = dict(data, thread=threading.current_thread().name)
    tracker.emit(name, data)


class AcknowledgingBackend:
    """A backend the worker runs: reports each delivery as a ``delivered`` event of the ``deliveries`` tracker."""

    def send(self, event):
        tracker.get_tracker(DELIVERIES).emit('delivered', {
            'name': event['name'],
            'data': event['data'],
            'thread': threading.current_thread().name,
        })


def async_tracker(nested, backend_name):
    """A tracker whose only backend is an AsyncRoutingBackend; a name of its own per test, so that a task
    left over from another test's tracker cannot deliver into this one."""
    return tracker.Tracker(backends={backend_name: AsyncRoutingBackend(backend_name=backend_name, backends=nested)})


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'condition not met within {timeout} s')
        time.sleep(0.01)


def test_an_event_a_celery_task_emits_in_the_worker(celery_worker_thread, register_default_tracker,
                                                     captured_events):
    captured_events.passthrough()  # the events must also go through async routing to the worker and back
    delivered = InMemoryBackend()
    register_default_tracker(async_tracker({'mem': delivered}, 'testing_task_emits'))

    emit_in_worker.delay('edx.grades.subsection.grade_calculated', {'grade': 0.9})

    actual_events = captured_events.wait_for_events({'name': 'edx.grades.subsection.grade_calculated'}, timeout=30)
    captured_events.assert_events_match([{'data': {'grade': 0.9}}], actual_events)
    assert actual_events[0]['data']['thread'] != threading.current_thread().name
    wait_until(lambda: len(delivered.events) == 1)
    assert delivered.events[0]['data']['grade'] == 0.9


def test_an_event_the_worker_delivers_through_async_routing(celery_worker_thread, register_default_tracker,
                                                            captured_events):
    captured_events.passthrough()
    register_default_tracker(async_tracker({'ack': AcknowledgingBackend()}, 'testing_delivers'))
    tracker.register_tracker(tracker.Tracker(), DELIVERIES)

    with captured_events.assert_events_match_during(
            {'name': 'delivered'},
            [{'data': {'name': 'edx.course.enrollment.activated', 'data': {'mode': 'audit'}}}],
            timeout=30):
        tracker.emit('edx.course.enrollment.activated', {'mode': 'audit'})
        assert captured_events.get_event(0)['name'] == 'edx.course.enrollment.activated'

    delivery = captured_events.wait_for_events({'name': 'delivered'})[0]
    assert delivery['data']['thread'] != threading.current_thread().name


def test_a_delivery_that_never_comes_times_out_showing_what_arrived(celery_worker_thread, register_default_tracker,
                                                                    captured_events):
    captured_events.passthrough()
    delivered = InMemoryBackend()
    register_default_tracker(async_tracker({'mem': delivered}, 'testing_times_out'))
    emit_in_worker.delay('edx.worker.event', {})
    captured_events.wait_for_events({'name': 'edx.worker.event'}, timeout=30)
    wait_until(lambda: len(delivered.events) == 1)
    with pytest.raises(EventWaitTimeout) as raised:
        captured_events.wait_for_events({'name': 'delivered'}, timeout=0.5)
    message = str(raised.value)
    assert message.startswith("Timed out after 0.5 s waiting for 1 event matching {'name': 'delivered'}: 0 arrived.")
    assert "'name': 'edx.worker.event'" in message
