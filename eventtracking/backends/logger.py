"""A backend that writes each event as one JSON line to a standard :mod:`logging` logger.

This is how the tracking log is written: point a handler of the named logger
at a file. With the default options each line is byte for byte what the
original library wrote: ``json.dumps(event, cls=DateTimeJSONEncoder)``.
"""

import logging

from eventtracking.encoding import (  # pylint: disable=unused-import  # names this module has always offered
    ENCODERS, UTC, DateTimeJSONEncoder, orjson_encoder as _orjson_encoder, serialization_error as _serialization_error,
    standard_encode, utc_isoformat,
)
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import DISABLED, OVERSIZE, EventCounters

MAX_EVENT_SIZE = 1024  # characters of the JSON line

LEVELS = ('debug', 'info', 'warning', 'error', 'critical')

LOG = logging.getLogger(__name__)


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
    ``encoder``
        ``'json'`` (default): the standard library's encoder; each line is byte
        for byte the original library's. ``'orjson'``: the much faster
        `orjson <https://pypi.org/project/orjson/>`_ (``pip install
        './eventtracking[orjson]'``). A line then parses to the same JSON, with the
        same keys, values and datetime strings, but is written compactly:
        no space after ``,`` and ``:``, and non-ASCII characters as UTF-8
        rather than ``\\uXXXX`` escapes. So it is shorter, and
        ``max_event_size`` counts the characters of the compact line. What
        orjson refuses (integers beyond 64 bits, dict keys that are not
        strings, nesting deeper than 254 levels, lone surrogates) is written
        by the standard encoder, with its spacing; what it cannot serialize
        either fails as with ``'json'``. Differences: float NaN and infinities
        are written as ``null`` (the standard encoder writes the non-standard
        ``NaN``/``Infinity``), and UUIDs and enums, which the standard encoder
        refuses, are written as their values.

    Called directly, :meth:`send` raises ``TypeError`` for a value it cannot
    serialize and ``ValueError`` for a circular structure; inside a routing tree
    these are logged as one WARNING line and counted.

    A line the logger would not write is counted as ``disabled`` (and said,
    at most once a minute, on this module's logger), deciding as
    ``logging`` does at the time of the event: not written when
    ``isEnabledFor(level)`` is false (the logger is ``disabled``,
    ``logging.disable`` covers the level, or the effective level is above
    it), nor when no handler exists on the logger or its ancestors
    (following ``propagate``) unless ``logging.lastResort`` takes it
    (WARNING and above). A handler's own level or filters are not looked
    at: logging counts such a handler as found.
    """

    mutates_events = False
    OPTIONS = ('name', 'max_event_size', 'level', 'encoder')

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
        self.encoder = kwargs.get('encoder', 'json')
        if self.encoder not in ENCODERS:
            raise ImproperlyConfigured(
                f'LoggerBackend encoder must be one of {", ".join(ENCODERS)}, not {self.encoder!r}'
            )
        self._encode = standard_encode if self.encoder == 'json' else _orjson_encoder()
        self.event_logger = logging.getLogger(name)
        self.log = getattr(self.event_logger, level.lower())
        self.levelno = logging.getLevelName(level.upper())
        self.counters = EventCounters()
        self.failure_log = RateLimitedLog(LOG)

    @property
    def stats(self):
        """Counts by reason of the events this backend dropped (``oversize``, ``disabled``)."""
        return self.counters.snapshot()

    def writes(self):
        """True if the logger writes a line at this backend's level now (see the class docstring)."""
        logger = self.event_logger
        if not logger.isEnabledFor(self.levelno):  # cached by logging until its configuration changes
            return False
        if logger.handlers:
            return True
        last_resort = logging.lastResort
        return logger.hasHandlers() or (last_resort is not None and self.levelno >= last_resort.level)

    def send(self, event):
        """Write ``event`` as one JSON line, unless it is longer than ``max_event_size``."""
        try:
            event_str = self._encode(event)
        except (TypeError, ValueError, RecursionError) as exc:
            error = _serialization_error(event, exc)
            if error is exc:
                raise
            raise error from exc
        if self.max_event_size is None or len(event_str) <= self.max_event_size:
            logger = self.event_logger
            if (logger.handlers and logger.isEnabledFor(self.levelno)) or self.writes():  # the usual case first
                self.log(event_str)
                return
            self.counters.increment(DISABLED)
            self.failure_log.warning(
                DISABLED, 'Dropped event %s (%s): logger %r does not write at level %s (its level, disabled, or '
                'no handler)', safe_name(event_name(event)), DISABLED, self.event_logger.name,
                logging.getLevelName(self.levelno))
            self.log(event_str)  # as the original always did (tests patch it); logging drops the line
            return
        self.counters.increment(OVERSIZE)
        self.failure_log.warning(
            OVERSIZE, 'Dropped event %s (%s): its JSON is %d characters long, over the max_event_size of %d of '
            'logger %r', safe_name(event_name(event)), OVERSIZE, len(event_str), self.max_event_size,
            self.event_logger.name,
        )

