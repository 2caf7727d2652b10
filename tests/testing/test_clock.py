"""Frozen tracker time: events stamped with a fixed, aware UTC instant."""

from datetime import datetime, timedelta, timezone

import pytest

from eventtracking import tracker
from eventtracking.testing import FROZEN_TIME, InMemoryBackend, frozen_tracker_time
from eventtracking.testing.clock import frozen_datetime


def test_frozen_time_is_2013_10_03_08_24_55_utc():
    assert FROZEN_TIME == datetime(2013, 10, 3, 8, 24, 55, tzinfo=timezone.utc)
    assert FROZEN_TIME.utcoffset() == timedelta(0)


def test_events_are_stamped_with_the_frozen_instant_then_the_clock_runs_again():
    backend = InMemoryBackend()
    emitter = tracker.Tracker(backends={'mem': backend})
    with frozen_tracker_time() as instant:
        emitter.emit('frozen')
        emitter.emit('still.frozen')
    emitter.emit('running')
    first, second, third = (event['timestamp'] for event in backend.events)
    assert instant == FROZEN_TIME
    assert first == second == FROZEN_TIME
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    assert type(first) is datetime  # pylint: disable=unidiomatic-typecheck
    assert third.year >= 2024
    assert tracker.datetime is datetime


def test_another_instant_in_another_zone_is_stamped_in_utc():
    backend = InMemoryBackend()
    paris = timezone(timedelta(hours=2))
    with frozen_tracker_time(datetime(2020, 1, 1, 12, 0, tzinfo=paris)):
        tracker.Tracker(backends={'mem': backend}).emit('x')
    stamped = backend.events[0]['timestamp']
    assert stamped == datetime(2020, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert stamped.utcoffset() == timedelta(0)


def test_naive_now_and_utcnow():
    frozen = frozen_datetime(FROZEN_TIME)
    assert frozen.now().tzinfo is None
    assert frozen.now() == FROZEN_TIME.astimezone().replace(tzinfo=None)
    assert frozen.utcnow() == datetime(2013, 10, 3, 8, 24, 55)
    assert frozen.frozen_at == FROZEN_TIME


def test_a_naive_instant_is_rejected():
    with pytest.raises(ValueError, match='must be an aware datetime'):
        frozen_datetime(datetime(2013, 10, 3, 8, 24, 55))
