"""Every path that routes an event reaches the capture, and by default stops there; passthrough goes on."""

import os
from contextlib import contextmanager

import pytest
from celery import Celery
from django.db import transaction

from eventtracking import tracker
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.backends.event_bus import EventBusRoutingBackend
from eventtracking.backends.file import FileBackend
from eventtracking.cli import main
from eventtracking.testing import EventCapture, InMemoryBackend
from tests.cli.helpers import sample_events, write_log
from tests.servers import default_app, free_port
from tests.test_handlers import from_the_bus, tracking_log

HOLD, PASS = False, True


def names(events):
    return [event['name'] for event in events]


@pytest.fixture(name='memory')
def fixture_memory(register_default_tracker):
    """A default tracker whose only backend keeps what it gets; returns that backend."""
    backend = InMemoryBackend()
    register_default_tracker(tracker.Tracker(backends={'memory': backend}))
    return backend


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_module_level_and_tracker_emit(memory, passthrough):
    with EventCapture(passthrough=passthrough) as captured:
        tracker.emit('edx.module')
        tracker.get_tracker().emit('edx.method')
    assert names(captured.events) == ['edx.module', 'edx.method']
    assert names(memory.events) == (['edx.module', 'edx.method'] if passthrough else [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_emit_on_commit_after_the_commit(memory, passthrough):
    with EventCapture(passthrough=passthrough) as captured:
        with transaction.atomic():
            tracker.emit_on_commit('edx.committed', {'a': 1})
            assert captured.events == [], 'nothing before the commit'
        with pytest.raises(RuntimeError), transaction.atomic():
            tracker.emit_on_commit('edx.rolled_back')
            raise RuntimeError('roll back')
        tracker.get_tracker().emit_on_commit('edx.outside_a_transaction')
    assert names(captured.events) == ['edx.committed', 'edx.outside_a_transaction']
    assert names(memory.events) == (['edx.committed', 'edx.outside_a_transaction'] if passthrough else [])


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_event_type_emit(memory, isolated_event_types, passthrough):
    registry = isolated_event_types
    answered = registry.register(registry.EventType('tests.capture.answered', 'A learner answered.'))
    with EventCapture(passthrough=passthrough) as captured:
        answered.emit({'grade': 1.0})
    assert names(captured.events) == ['tests.capture.answered']
    assert captured.get_event()['data'] == {'grade': 1.0}
    assert len(memory.events) == (1 if passthrough else 0)


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_the_event_bus_handler(register_default_tracker, passthrough):
    sink, plain = InMemoryBackend(), InMemoryBackend()
    register_default_tracker(tracker.Tracker(
        backends={'bus': EventBusRoutingBackend(backends={'sink': sink}), 'plain': plain},
        processors=[lambda event: dict(event, name='changed.by.a.root.processor')],
    ))
    with EventCapture(passthrough=passthrough) as captured:
        from_the_bus(tracking_log('edx.from.the.bus'))
    assert names(captured.events) == ['edx.from.the.bus'], 'root processors do not run on events from the bus'
    assert captured.get_event()['data'] == {'mode': 'verified'}
    assert names(sink.events) == (['edx.from.the.bus'] if passthrough else [])
    assert plain.events == []


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_eventtracking_replay(tmp_path, memory, passthrough):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3))
    with EventCapture(passthrough=passthrough) as captured:
        assert main(['replay', str(path)]) == 0
    assert captured.events == sample_events(3)
    assert memory.events == (sample_events(3) if passthrough else [])


def test_an_observer_of_one_tracker_sees_only_that_tracker(memory):
    other = InMemoryBackend()
    mine = tracker.Tracker(backends={'other': other})
    seen = []
    with mine.observe(seen.append) as observation:
        mine.emit('mine')
        tracker.emit('default')
        assert observation.active
    assert not observation.active
    mine.emit('after')
    assert names(seen) == ['mine']
    assert names(memory.events) == ['default']
    assert names(other.events) == ['after']


def test_an_observer_that_raises_is_logged_by_event_name_and_does_not_stop_the_event(memory, caplog):
    def broken(event):
        raise ValueError(f'cannot handle {event["data"]}')

    with tracker.observe(broken, passthrough=True):
        tracker.emit('edx.observed', {'secret': 'value'})
    assert names(memory.events) == ['edx.observed']
    assert "Observer" in caplog.text and "failed on event 'edx.observed'" in caplog.text


def test_observe_refuses_what_is_not_callable():
    with pytest.raises(TypeError, match='needs a callable'):
        tracker.observe('not callable')
    with pytest.raises(TypeError, match='must be a Tracker'):
        tracker.observe(print, tracker='default')


# --- the real backends of a site are left alone by default -------------------------------------------------------

@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_a_real_tracking_log(tmp_path, register_default_tracker, captured_events, passthrough):
    log = tmp_path / 'tracking.log'
    register_default_tracker(tracker.Tracker(backends={'tracking_logs': FileBackend(str(log))}))
    captured_events.passthrough(passthrough)
    tracker.emit('edx.course.enrollment.activated', {'mode': 'audit'})
    captured_events.wait_for_events({'name': 'edx.course.enrollment.activated'})
    lines = log.read_text().splitlines() if log.exists() else []
    assert len(lines) == (1 if passthrough else 0)


@contextmanager
def current_celery_app(**config):
    """A Celery app made current and default for every thread inside the block."""
    app = Celery('eventtracking-capture', set_as_current=False)
    app.conf.update(config)
    app.finalize()
    try:
        with default_app(app):
            yield app
    finally:
        app.close()


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_a_real_spool_dir_while_the_broker_is_down(tmp_path, register_default_tracker, passthrough):
    spool_dir = tmp_path / 'spool'
    spool_dir.mkdir()
    backend = AsyncRoutingBackend(backend_name='capture_spool', batch_size=10, batch_interval=0.05,
                                  spool_dir=str(spool_dir), publish_timeout=0.5)
    register_default_tracker(tracker.Tracker(backends={'capture_spool': backend}))
    try:
        with current_celery_app(broker_url=f'redis://127.0.0.1:{free_port()}/0',
                                broker_connection_retry=False, broker_connection_max_retries=0):
            with EventCapture(passthrough=passthrough) as captured:
                tracker.emit('edx.spooled.or.not')
            backend.flush(timeout=10)
            spooled = os.listdir(spool_dir)
    finally:
        backend.shutdown(timeout=5)
    assert names(captured.events) == ['edx.spooled.or.not']
    if passthrough:
        assert spooled, 'with passthrough the event goes to the real backend, which spools it'
    else:
        assert spooled == []
        assert backend.delivery['spooled_pending'] == 0


@pytest.mark.parametrize('passthrough', [HOLD, PASS])
def test_no_celery_task(register_default_tracker, passthrough):
    delivered = InMemoryBackend()
    backend = AsyncRoutingBackend(backend_name='capture_task', backends={'delivered': delivered})
    register_default_tracker(tracker.Tracker(backends={'capture_task': backend}))
    with current_celery_app(task_always_eager=True):
        with EventCapture(passthrough=passthrough) as captured:
            tracker.emit('edx.task.or.not')
        backend.flush(timeout=10)
    assert names(captured.events) == ['edx.task.or.not']
    assert names(delivered.events) == (['edx.task.or.not'] if passthrough else [])
