"""Shared fixtures: the loopback servers of :mod:`tests.servers`, and an isolated tracker registry for every test."""

import pytest

from eventtracking import ratelimit, tracker
from tests.servers import (  # noqa: F401  pylint: disable=unused-import  # fixtures
    MEASUREMENTS, celery_broker_app, celery_worker_thread, redis_server,
)


@pytest.fixture(autouse=True)
def isolated_trackers():
    """Whatever a test registers, the tracker registry is as it was afterwards."""
    saved = dict(tracker.TRACKERS)
    yield
    tracker.TRACKERS.clear()
    tracker.TRACKERS.update(saved)


@pytest.fixture
def isolated_event_types():
    """Whatever a test registers in :mod:`eventtracking.registry`, the registry is as it was afterwards."""
    from eventtracking import registry  # pylint: disable=import-outside-toplevel  # needs the schema extra
    saved = dict(registry._REGISTRY)  # pylint: disable=protected-access
    yield registry
    registry._REGISTRY.clear()  # pylint: disable=protected-access
    registry._REGISTRY.update(saved)  # pylint: disable=protected-access


@pytest.fixture(autouse=True)
def fresh_rate_limited_logs():
    """Every test sees the first failure line of each kind: none is held back by an earlier test's line."""
    ratelimit.reset_all()


@pytest.fixture
def register_default_tracker():
    """A function that registers a tracker as the default one until the end of the test."""

    def register(instance):
        tracker.register_tracker(instance)
        return instance

    return register


def pytest_terminal_summary(terminalreporter):
    """Print the timings tests recorded with :func:`tests.servers.record_measurement`."""
    if not MEASUREMENTS:
        return
    terminalreporter.section('measured costs (not asserted)')
    for label, seconds in MEASUREMENTS:
        if not seconds:
            continue
        ordered = sorted(seconds)
        median = ordered[len(ordered) // 2]
        terminalreporter.write_line(
            f'{label}: n={len(seconds)} median={median * 1000:.2f} ms max={ordered[-1] * 1000:.2f} ms'
        )
