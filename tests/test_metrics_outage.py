"""A real Redis stopped and started under a batching, spooling AsyncRoutingBackend: what the metrics show
(spooled, published, the pending gauges back to 0) and the one recovery line."""

import logging
import time

import pytest
from celery import Celery
from prometheus_client import REGISTRY

from eventtracking import metrics
from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.tracker import Tracker
from tests.backends.test_async_routing_durable import emit_range
from tests.servers import default_app, start_redis

pytestmark = pytest.mark.server

BACKEND = 'recovery'


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def outage(tmp_path, during, batch_size=10, spool=True):
    """30 events before, 30 while Redis is down, 30 after it is back; ``during(backend)`` is called while down.

    ``batch_size=1`` is the default mode (each event published by its caller); without ``spool`` the events of
    the outage are lost. Returns the backend's tracker stats once everything is published.
    """
    server = start_redis()
    app = Celery('eventtracking-recovery', broker=server.url(0), set_as_current=False)
    app.conf.task_default_queue = 'recovery-test'
    app.finalize()
    backend = AsyncRoutingBackend(backend_name=BACKEND, batch_size=batch_size, batch_interval=0.05,
                                  spool_dir=str(tmp_path) if spool else None, publish_timeout=2.0)
    tracker = Tracker(backends={BACKEND: backend})
    try:
        with default_app(app):
            emit_range(tracker, range(0, 30))
            assert backend.flush(timeout=10)
            port = server.port
            server.stop()
            emit_range(tracker, range(30, 60))
            backend.flush(timeout=10)
            during(backend)
            server = start_redis(port)
            emit_range(tracker, range(60, 90))
            deadline = time.monotonic() + 30
            while backend.delivery['published'] < 31 and time.monotonic() < deadline:  # past the back-off
                emit_range(tracker, range(90, 91), pause=0.05)
            while time.monotonic() < deadline:
                backend.flush(timeout=5)
                if backend.delivery['queued'] == 0 and backend.delivery['spooled_pending'] == 0:
                    break
    finally:
        backend.shutdown(timeout=5)
        app.close()
        server.stop()
    return tracker.stats


@pytest.fixture
def prometheus():
    metrics.enable('prometheus')
    yield
    metrics.enable(None)


def test_an_outage_in_the_metrics_spooled_then_published_and_the_gauges_back_to_zero(tmp_path, prometheus):  # pylint: disable=unused-argument,redefined-outer-name
    published_before = value('eventtracking_events_published_total', backend=BACKEND)
    spooled_before = value('eventtracking_events_dropped_total', reason='spooled', backend=BACKEND)
    seen = {}

    def during(backend):  # pylint: disable=unused-argument
        seen['pending'] = value('eventtracking_spool_pending_events', backend=BACKEND)
        seen['age'] = value('eventtracking_oldest_pending_age_seconds', backend=BACKEND)

    stats = outage(tmp_path, during)
    assert seen['pending'] >= 30 and seen['age'] > 0, seen
    assert value('eventtracking_events_dropped_total', reason='spooled', backend=BACKEND) - spooled_before == \
        stats.get('spooled', 0) > 0
    assert value('eventtracking_events_published_total', backend=BACKEND) - published_before >= 90
    assert value('eventtracking_spool_pending_events', backend=BACKEND) == 0
    assert value('eventtracking_events_queued', backend=BACKEND) == 0
    assert value('eventtracking_oldest_pending_age_seconds', backend=BACKEND) == 0


def test_one_recovery_line_per_outage(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    outage(tmp_path, lambda backend: None)
    lines = [record for record in caplog.records
             if record.getMessage().startswith(f"Delivery to backend '{BACKEND}' recovered: ")]
    assert len(lines) == 1, [record.getMessage() for record in lines]
    assert lines[0].levelno == logging.INFO


@pytest.mark.parametrize('spool', [True, False], ids=['spool', 'no-spool'])
def test_the_default_mode_counts_its_publishes_and_logs_one_recovery_line(tmp_path, caplog, prometheus, spool):  # pylint: disable=unused-argument,redefined-outer-name
    """Each event published by its caller (batch_size=1) is in ``published`` and the latency histogram, and a
    recovery after failures is logged once, as in the batching mode."""
    caplog.set_level(logging.INFO)
    published = value('eventtracking_events_published_total', backend=BACKEND)
    timed = value('eventtracking_publish_duration_seconds_count', backend=BACKEND)
    delivered = {}

    def during(backend):
        delivered['before'] = backend.delivery['published']

    outage(tmp_path, during, batch_size=1, spool=spool)
    assert value('eventtracking_events_published_total', backend=BACKEND) - published >= 31 + (30 if spool else 0)
    assert value('eventtracking_publish_duration_seconds_count', backend=BACKEND) - timed >= 31
    lines = [record for record in caplog.records
             if record.getMessage().startswith(f"Delivery to backend '{BACKEND}' recovered: ")]
    assert len(lines) == 1, [record.getMessage() for record in lines]
