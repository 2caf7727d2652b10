"""Freeze the time trackers stamp on events, so tests can compare timestamps exactly."""

from contextlib import contextmanager
from datetime import datetime, timezone
from unittest import mock

FROZEN_TIME = datetime(2013, 10, 3, 8, 24, 55, tzinfo=timezone.utc)
"""The instant :class:`~eventtracking.testing.EventTrackingTestCase` freezes: 2013-10-03 08:24:55 UTC."""


def frozen_datetime(instant=FROZEN_TIME):
    """Return a ``datetime`` subclass whose ``now()`` and ``utcnow()`` always give ``instant``.

    ``instant`` must be an aware datetime. ``now(tz)`` returns it in ``tz``;
    ``now()`` without a zone returns it as naive local time, as ``datetime.now()`` would.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f'The frozen instant must be an aware datetime, got {instant!r}')

    class FrozenDatetime(datetime):
        """``datetime`` with the clock stopped at a fixed instant."""

        @classmethod
        def now(cls, tz=None):
            if tz is None:
                return instant.astimezone().replace(tzinfo=None)
            return instant.astimezone(tz)

        @classmethod
        def utcnow(cls):
            return instant.astimezone(timezone.utc).replace(tzinfo=None)

    FrozenDatetime.frozen_at = instant
    return FrozenDatetime


@contextmanager
def frozen_tracker_time(instant=FROZEN_TIME):
    """Within the block, every tracker stamps its events with ``instant`` (an aware datetime).

    Patches ``eventtracking.tracker.datetime``, the name the tracker reads the clock through.
    """
    with mock.patch('eventtracking.tracker.datetime', frozen_datetime(instant)):
        yield instant
