"""How events become JSON text: the one encoding the tracking log, the processors and the backends share.

With the default ``'json'`` encoder a line is byte for byte what the original
library wrote, ``json.dumps(event, cls=DateTimeJSONEncoder)``; ``'orjson'``
writes the same JSON compactly and much faster (see
:class:`~eventtracking.backends.logger.LoggerBackend`). :func:`encode_event`
turns the encoders' ``TypeError``/``ValueError``/``RecursionError`` (and the
``OverflowError`` of a datetime that cannot be converted to UTC) into the
:class:`~eventtracking.exceptions.EventDropped` errors a routing backend
counts.
"""

import json
import sys
from datetime import date, datetime, timezone
from json.encoder import c_make_encoder, encode_basestring_ascii

from eventtracking._extras import install_command
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import (
    CircularEventError, EventTooDeepError, ImproperlyConfigured, UnserializableEventError,
)

UTC = timezone.utc

ENCODERS = ('json', 'orjson')
"""The values of the ``encoder`` option of LoggerBackend and FileBackend."""


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
"""``standard_encode(value)``: ``json.dumps(value, cls=DateTimeJSONEncoder)``, faster; the same output and errors."""


def orjson_encoder(owner='LoggerBackend'):
    """Return a function that encodes an event with orjson, or with :func:`standard_encode` where orjson refuses.

    Raises ``ImproperlyConfigured`` naming ``owner`` (the class whose option
    asked for it) and the install extra when orjson is not installed.
    """
    try:
        import orjson  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{owner}(encoder='orjson') needs the orjson package: {install_command('orjson')}"
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


def event_encoder(encoder, owner):
    """Return the encode function for the ``encoder`` option (one of :data:`ENCODERS`) of class ``owner``.

    Raises ``ImproperlyConfigured`` for an unknown encoder, or orjson missing.
    """
    if encoder not in ENCODERS:
        raise ImproperlyConfigured(f'{owner} encoder must be one of {", ".join(ENCODERS)}, not {encoder!r}')
    return standard_encode if encoder == 'json' else orjson_encoder(owner)


STACK_ALLOWANCE = 100
"""Levels of the recursion limit left for the caller's frames when deciding that an event is ``too_deep``."""


def serialization_error(event, exc, field=None, value=None):
    """The error to raise for ``exc``, raised while encoding ``event`` (or ``value``, its ``field``): it names the event.

    A ``TypeError``, or an ``OverflowError`` (a datetime near year 1 or 9999
    whose offset takes it out of range in UTC), becomes
    ``UnserializableEventError``, a circular-reference
    ``ValueError`` ``CircularEventError``; any other ``ValueError`` is
    returned as it is. A ``RecursionError`` becomes ``EventTooDeepError``
    only when the value's own nesting reaches the recursion limit less
    :data:`STACK_ALLOWANCE`; otherwise it is the caller's stack that ran out
    (``emit`` called from deep recursion), and the ``RecursionError`` is
    returned as it is (a routing backend counts it as ``backend_error``).
    The event's name is rendered with :func:`~eventtracking.events.safe_name`.
    """
    name = event_name(event)
    shown = safe_name(name)
    what = f'event {shown}' if field is None else f'event {shown}: {field}'
    if isinstance(exc, (TypeError, OverflowError)):
        return UnserializableEventError(f'{what} is not JSON serializable: {exc}', name)
    if isinstance(exc, RecursionError):
        if field is None:
            value = event
        if not _nested_at_least(value, sys.getrecursionlimit() - STACK_ALLOWANCE):
            return exc
        return EventTooDeepError(f'{what} is nested too deeply to serialize', name)
    if 'ircular' in str(exc):
        return CircularEventError(f'{what} refers to itself: {exc}', name)
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


def encode_event(encode, event, value=None, field=None):
    """Return ``encode(value)`` (``value`` defaults to ``event``), raising :func:`serialization_error`'s error.

    ``field`` names the part of ``event`` that ``value`` is, for the message.
    """
    try:
        return encode(event if value is None and field is None else value)
    except (TypeError, ValueError, RecursionError, OverflowError) as exc:
        error = serialization_error(event, exc, field, value)
        if error is exc:
            raise
        raise error from exc
