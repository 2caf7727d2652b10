"""A backend that writes each event as one JSON line to a standard :mod:`logging` logger.

This is how the tracking log is written: point a handler of the named logger
at a file. With the default options each line is byte for byte what the
original library wrote: ``json.dumps(event, cls=DateTimeJSONEncoder)``.
"""

import json
import logging
from datetime import date, datetime, timezone

from eventtracking.events import event_name
from eventtracking.exceptions import CircularEventError, EventTooDeepError, ImproperlyConfigured, UnserializableEventError
from eventtracking.stats import OVERSIZE, EventCounters

MAX_EVENT_SIZE = 1024  # characters of the JSON line

LEVELS = ('debug', 'info', 'warning', 'error', 'critical')

LOG = logging.getLogger(__name__)


class DateTimeJSONEncoder(json.JSONEncoder):
    """JSON encoder that writes datetimes in UTC and dates with ``isoformat()``.

    Aware datetimes are converted to UTC; naive ones are taken to be UTC
    already. Either way the result reads like ``2013-10-03T08:24:55.123456+00:00``.
    """

    def default(self, o):
        if isinstance(o, datetime):
            if o.tzinfo is None:
                o = o.replace(tzinfo=timezone.utc)
            else:
                o = o.astimezone(timezone.utc)
            return o.isoformat()
        if isinstance(o, date):
            return o.isoformat()
        return super().default(o)


_ENCODER = DateTimeJSONEncoder()


class LoggerBackend:
    """Write every event as one JSON line to the :mod:`logging` logger ``name`` at ``level``.

    Options:

    ``name``
        The logger to write to (``None``: the root logger).
    ``max_event_size``
        The longest line written, in characters (default 1024); a longer event
        is dropped with a WARNING and counted as ``oversize``. ``None``: no limit.
    ``level``
        ``'debug'``, ``'info'`` (default), ``'warning'``, ``'error'`` or ``'critical'``.

    Called directly, :meth:`send` raises ``TypeError`` for a value it cannot
    serialize and ``ValueError`` for a circular structure; inside a routing tree
    these are logged as one WARNING line and counted.
    """

    mutates_events = False
    OPTIONS = ('name', 'max_event_size', 'level')

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self.OPTIONS))
        if unknown:
            raise TypeError(
                f'LoggerBackend got unexpected option(s) {", ".join(unknown)}; it accepts {", ".join(self.OPTIONS)}'
            )
        name = kwargs.get('name', None)
        self.max_event_size = kwargs.get('max_event_size', MAX_EVENT_SIZE)
        if self.max_event_size is not None and (
            isinstance(self.max_event_size, bool) or not isinstance(self.max_event_size, int)
            or self.max_event_size < 0
        ):
            raise ImproperlyConfigured(
                f'LoggerBackend max_event_size must be a non-negative integer or None, not {self.max_event_size!r}'
            )
        level = kwargs.get('level', 'info')
        if not isinstance(level, str) or level.lower() not in LEVELS:
            raise ImproperlyConfigured(f'LoggerBackend level must be one of {", ".join(LEVELS)}, not {level!r}')
        self.event_logger = logging.getLogger(name)
        self.log = getattr(self.event_logger, level.lower())
        self.counters = EventCounters()

    @property
    def stats(self):
        """Counts by reason of the events this backend dropped (``oversize``)."""
        return self.counters.snapshot()

    def send(self, event):
        """Write ``event`` as one JSON line, unless it is longer than ``max_event_size``."""
        event_str = _serialize(event)
        if self.max_event_size is None or len(event_str) <= self.max_event_size:
            self.log(event_str)
            return
        self.counters.increment(OVERSIZE)
        LOG.warning(
            'Dropped event %r (%s): its JSON is %d characters long, over the max_event_size of %d of logger %r',
            event_name(event), OVERSIZE, len(event_str), self.max_event_size, self.event_logger.name,
        )


def _serialize(event):
    try:
        return _ENCODER.encode(event)
    except TypeError as exc:
        raise UnserializableEventError(
            f'event {event_name(event)!r} is not JSON serializable: {exc}', event_name(event)
        ) from exc
    except RecursionError as exc:
        raise EventTooDeepError(f'event {event_name(event)!r} is nested too deeply to serialize', event_name(event)) from exc
    except ValueError as exc:
        if 'ircular' in str(exc):
            raise CircularEventError(f'event {event_name(event)!r} refers to itself: {exc}', event_name(event)) from exc
        raise
