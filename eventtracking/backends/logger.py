"""A backend that writes each event as one JSON line to a standard :mod:`logging` logger.

This is how the tracking log is written: point a handler of the named logger
at a file. With the default options each line is byte for byte what the
original library wrote: ``json.dumps(event, cls=DateTimeJSONEncoder)``.
"""

import json
import logging
import sys
from datetime import date, datetime, timezone
from json.encoder import c_make_encoder, encode_basestring_ascii

from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import CircularEventError, EventTooDeepError, ImproperlyConfigured, UnserializableEventError
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import DISABLED, OVERSIZE, EventCounters

MAX_EVENT_SIZE = 1024  # characters of the JSON line

LEVELS = ('debug', 'info', 'warning', 'error', 'critical')

LOG = logging.getLogger(__name__)


UTC = timezone.utc

ENCODERS = ('json', 'orjson')
"""The values of LoggerBackend's ``encoder`` option."""


def utc_isoformat(value):
    """``value`` (a datetime or a date) as the tracking log writes it: datetimes in UTC.

    Aware datetimes are converted to UTC; naive ones are taken to be UTC
    already. Either way the result reads like ``2013-10-03T08:24:55.123456+00:00``.
    Raises ``TypeError`` for anything else.
    """
    if isinstance(value, datetime):
        tzinfo = value.tzinfo
        if tzinfo is None:
            value = value.replace(tzinfo=UTC)
        elif tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f'Object of type {type(value).__name__} is not JSON serializable')


class DateTimeJSONEncoder(json.JSONEncoder):
    """JSON encoder that writes datetimes in UTC and dates with ``isoformat()`` (see :func:`utc_isoformat`)."""

    def default(self, o):
        if isinstance(o, date):
            return utc_isoformat(o)
        return super().default(o)


_ENCODER = DateTimeJSONEncoder()


def _standard_encoder():
    """Return a function with the output and errors of ``DateTimeJSONEncoder().encode``, made faster.

    ``JSONEncoder.encode`` builds a new C encoder for every call. This one is
    built once, without the circular-reference check (whose bookkeeping is
    per call); an event on which it runs out of recursion is encoded again
    with the checking encoder, which tells a circular event (``ValueError``)
    from one nested too deeply (``RecursionError``).
    """
    if c_make_encoder is None:
        return _ENCODER.encode
    encode_once = c_make_encoder(
        None, _ENCODER.default, encode_basestring_ascii, None,
        _ENCODER.key_separator, _ENCODER.item_separator, False, False, True,
    )

    def encode(event):
        try:
            return ''.join(encode_once(event, 0))
        except RecursionError:
            return _ENCODER.encode(event)

    return encode


standard_encode = _standard_encoder()


def _orjson_encoder():
    """Return a function that encodes an event with orjson, or with :func:`standard_encode` where orjson refuses."""
    try:
        import orjson  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ImproperlyConfigured(
            "LoggerBackend(encoder='orjson') needs the orjson package: pip install 'eventtracking[orjson]'"
        ) from exc
    dumps = orjson.dumps
    options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    refused = orjson.JSONEncodeError
    fragment = getattr(orjson, 'Fragment', None)  # orjson 3.9+
    naive_utc = orjson.OPT_NAIVE_UTC

    def default(value):
        # orjson writes a UTC datetime exactly as isoformat() does, and faster; other offsets it would keep.
        if fragment is not None and value.__class__ is datetime:
            tzinfo = value.tzinfo
            if tzinfo is None:
                return fragment(dumps(value, option=naive_utc))
            if tzinfo is not UTC:
                value = value.astimezone(UTC)
            return fragment(dumps(value))
        if value.__class__ is date:
            return value.isoformat()
        return utc_isoformat(value)

    def encode(event):
        try:
            return dumps(event, default=default, option=options).decode()
        except refused:
            return standard_encode(event)

    return encode


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
        'eventtracking[orjson]'``). A line then parses to the same JSON, with the
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
            return
        self.counters.increment(OVERSIZE)
        self.failure_log.warning(
            OVERSIZE, 'Dropped event %s (%s): its JSON is %d characters long, over the max_event_size of %d of '
            'logger %r', safe_name(event_name(event)), OVERSIZE, len(event_str), self.max_event_size,
            self.event_logger.name,
        )


STACK_ALLOWANCE = 100
"""Levels of the recursion limit left for the caller's frames when deciding that an event is ``too_deep``."""


def _serialization_error(event, exc):
    """The error to raise for ``exc``, raised while encoding ``event``: it names the event and the reason.

    A ``RecursionError`` means ``too_deep`` only when the event's own nesting
    reaches the recursion limit less :data:`STACK_ALLOWANCE`; otherwise it is
    the caller's stack that ran out (``emit`` called from deep recursion), and
    the ``RecursionError`` is raised as it is (a routing backend counts it as
    ``backend_error``).
    """
    name = event_name(event)
    shown = safe_name(name)
    if isinstance(exc, TypeError):
        return UnserializableEventError(f'event {shown} is not JSON serializable: {exc}', name)
    if isinstance(exc, RecursionError):
        if not _nested_at_least(event, sys.getrecursionlimit() - STACK_ALLOWANCE):
            return exc
        return EventTooDeepError(f'event {shown} is nested too deeply to serialize', name)
    if 'ircular' in str(exc):
        return CircularEventError(f'event {shown} refers to itself: {exc}', name)
    return exc


def _nested_at_least(value, depth):
    """True if dicts, lists and tuples are nested ``depth`` levels deep in ``value``; uses no recursion."""
    pending = [(value, 1)]
    seen = set()
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if level >= depth:
            return True
        if id(item) in seen:
            continue
        seen.add(id(item))
        pending.extend((child, level + 1) for child in children)
    return False
