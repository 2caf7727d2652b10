"""Reading tracking logs, shared by every ``eventtracking`` subcommand.

A tracking log is plain or gzipped (told apart by the gzip magic bytes, not
the file name). Each line holds one event as a JSON object, bare or after a
prefix a log formatter wrote (Tutor's ``2024-01-01 ... [tracking] ... - {...}``):
the event is the first ``{`` from which the rest of the line parses as one
JSON object, among the line's first :data:`MAX_JSON_STARTS` ``{``. A line
longer than :data:`MAX_LINE_BYTES` is reported, never held whole. An event is in this library's native shape (``name``,
``timestamp``, ``data``, ``context``) or in the legacy shape that
:class:`~eventtracking.processors.legacy.LegacyFieldMappingProcessor` writes
(``event_type``, ``time``, ``event``, ``context`` and request fields at the
top level); :func:`to_native` turns either into a native event.

Everything streams: one line in memory at a time.
"""

import gzip
import json
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone

GZIP_MAGIC = b'\x1f\x8b'

LEGACY_REQUEST_FIELDS = ('username', 'session', 'ip', 'agent', 'host', 'referer', 'accept_language')
"""Fields the legacy shape moves from the context to the top level (put back by :func:`to_native`)."""

LEGACY_CONTEXT_FIELDS = ('event_source', 'page')
"""Fields the legacy shape moves from the context to the top level with a default value."""

LEGACY_OWN_FIELDS = LEGACY_REQUEST_FIELDS + LEGACY_CONTEXT_FIELDS + ('event', 'time', 'event_type', 'context')

MAX_JSON_STARTS = 16
"""How many of a line's ``{`` are tried as the start of its event: a log prefix holds few, if any, and trying
every one would take time quadratic in the length of a long line that does not parse."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line read (newline excluded), 16 MiB: a longer one is a malformed line, skipped in chunks."""

CHUNK_BYTES = 64 * 1024
"""How much of a line over the maximum is read at a time while skipping it."""

_DECODER = json.JSONDecoder()

_BLANK_TO_END = re.compile(r'\s*\Z')


class InputError(Exception):
    """A file that cannot be read at all (missing, unreadable, not gzip though it says so): exit status 2."""


class LineError(ValueError):
    """One line that holds no usable event; its message is the reason shown after ``FILE:LINE:``."""


@dataclass
class Line:
    """One line of a tracking log: where it is, its JSON text, and what it holds."""

    path: str
    number: int
    json_text: str
    raw: dict

    @property
    def where(self):
        """``FILE:LINE``, as error messages start."""
        return f'{self.path}:{self.number}'

    def native(self):
        """The event in the native shape (see :func:`to_native`); ``LineError`` when it has no name."""
        return to_native(self.raw)


def is_legacy(raw):
    """True when ``raw`` (an event dict) is in the legacy shape rather than the native one."""
    return 'timestamp' not in raw and ('time' in raw or 'event_type' in raw or 'event' in raw)


def to_native(raw):
    """Return the native event (``name``, ``timestamp``, ``data``, ``context``) a log line's JSON describes.

    A native event is returned with its ``timestamp`` parsed. A legacy one is
    turned back: ``name`` is its ``name``, else its ``event_type`` (an
    ``event_type`` other than the name goes back into the context, where the
    legacy processor found it); ``timestamp`` is ``time``; ``data`` is
    ``event``, parsed when it is a JSON string; ``context`` gets back the
    request fields (``username``, ``session``, ...) and ``event_source`` and
    ``page``. Any other top-level field is kept. Timestamps become aware
    datetimes (UTC when the text has no offset). Raises ``LineError`` for an
    event without a name or with a timestamp that does not parse.
    """
    if not is_legacy(raw):
        event = dict(raw)
        if not isinstance(event.get('name'), str):
            raise LineError('the event has no name')
        if 'timestamp' in event:
            event['timestamp'] = parse_time(event['timestamp'])
        return event
    name = raw.get('name') or raw.get('event_type')
    if not isinstance(name, str) or not name:
        raise LineError('the event has neither a name nor an event_type')
    event = {'name': name}
    if 'time' in raw:
        event['timestamp'] = parse_time(raw['time'])
    event['data'] = _payload(raw.get('event', {}))
    context = dict(raw['context']) if isinstance(raw.get('context'), dict) else {}
    for field in LEGACY_REQUEST_FIELDS + LEGACY_CONTEXT_FIELDS:
        if field in raw:
            context[field] = raw[field]
    if raw.get('event_type', name) != name:
        context['event_type'] = raw['event_type']
    event['context'] = context
    for key, value in raw.items():
        if key not in LEGACY_OWN_FIELDS and key != 'name':
            event[key] = value
    return event


def _payload(value):
    """A legacy ``event`` field: a JSON string that holds an object or array is parsed, anything else kept."""
    if isinstance(value, str) and value[:1] in ('{', '['):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_time(value):
    """An ISO 8601 timestamp (a string, or already a datetime) as an aware datetime; ``LineError`` if it is not one.

    A time that cannot be converted to UTC (year 1 with a positive offset,
    year 9999 with a negative one) is refused too: the tracking log writes UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise LineError(f'the timestamp {value[:40]!r} is not ISO 8601') from None
    else:
        raise LineError(f'the timestamp is a {type(value).__name__}, not an ISO 8601 string')
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        parsed.astimezone(timezone.utc)
    except OverflowError:
        raise LineError(f'the timestamp {str(value)[:40]!r} cannot be converted to UTC') from None
    return parsed


def find_event(text):
    """The JSON text and object of the event on a line (``text``, newline removed); ``LineError`` if there is none.

    The event starts at the first ``{`` (of the first :data:`MAX_JSON_STARTS`)
    from which the rest of the line parses as exactly one JSON object;
    whatever comes before it is a log prefix.
    """
    start = text.find('{')
    if start < 0:
        raise LineError('no JSON object on the line' if text.strip() else 'empty line')
    too_deep = False
    for _ in range(MAX_JSON_STARTS):
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            value, end = None, -1
        except RecursionError:
            value, end, too_deep = None, -1, True
        if isinstance(value, dict) and _BLANK_TO_END.match(text, end):
            return text[start:end], value
        start = text.find('{', start + 1)
        if start < 0:
            break
    raise LineError('the JSON object on the line is nested too deeply' if too_deep
                    else 'the JSON object on the line does not parse')


def open_log(path):
    """Open the tracking log ``path`` for reading text (UTF-8), gunzipping it when it starts with gzip's magic bytes.

    ``-`` is standard input. Raises ``InputError`` when the file cannot be opened.
    """
    if path == '-':
        return _TextReader(sys.stdin.buffer, sys.stdin.buffer, path, owned=False)
    try:
        raw = open(path, 'rb')  # pylint: disable=consider-using-with  # returned to the caller
    except OSError as exc:
        raise InputError(f'{path}: cannot open: {exc.strerror or exc}') from exc
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return _TextReader(gzip.GzipFile(fileobj=raw, mode='rb'), raw, path)
    return _TextReader(raw, raw, path)


class Unreadable:
    """What a tracking log reader returns instead of a line it cannot give: ``reason`` says why."""

    def __init__(self, reason):
        self.reason = reason


class _TextReader:
    """Lines of a binary stream decoded as UTF-8 (bad bytes replaced); ``position`` is the bytes read of the file.

    ``owned`` is false for standard input, which :meth:`close` leaves open.
    """

    def __init__(self, stream, file, path, owned=True, max_line_bytes=MAX_LINE_BYTES):
        self._stream = stream
        self._file = file
        self._path = path
        self._owned = owned
        self.max_line_bytes = max_line_bytes
        self._ended = False

    @property
    def position(self):
        """How far into the file on disk (compressed bytes, for a gzipped log) reading has come."""
        try:
            return self._file.tell()
        except (OSError, ValueError):
            return 0

    def readline(self):
        """The next line as text, ``''`` at the end.

        A line longer than ``max_line_bytes`` is skipped and an
        :class:`Unreadable` returned instead, as it is for a gzip stream cut
        short (the last one: the end follows). Raises ``InputError`` for a
        corrupt gzip stream.
        """
        if self._ended:
            return ''
        try:
            line = self._stream.readline(self.max_line_bytes + 1)
            if len(line) > self.max_line_bytes and not line.endswith(b'\n'):
                while line and not line.endswith(b'\n'):
                    line = self._stream.readline(CHUNK_BYTES)
                return Unreadable(f'line longer than {self.max_line_bytes} bytes')
        except EOFError:
            self._ended = True
            return Unreadable('gzip stream truncated')
        except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise InputError(f'{self._path}: cannot read: {exc}') from exc
        return line.decode('utf-8', errors='replace')

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def close(self):
        """Close the streams (unless they are standard input's)."""
        if not self._owned:
            return
        self._stream.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def read_lines(path, on_error, progress=None, max_line_bytes=MAX_LINE_BYTES):
    """Yield every :class:`Line` of ``path`` that holds a JSON object; call ``on_error(where, reason)`` for the others.

    ``progress``, when given, is called now and then with the bytes read so far.
    A line that is only whitespace is skipped silently; one longer than
    ``max_line_bytes`` is an error.
    """
    with open_log(path) as stream:
        stream.max_line_bytes = max_line_bytes
        for number, text in enumerate(stream, 1):
            if progress is not None and number % 1024 == 0:
                progress(stream.position)
            if isinstance(text, Unreadable):
                on_error(f'{path}:{number}', text.reason)
                continue
            text = text.rstrip('\r\n')
            if not text.strip():
                continue
            line = _parse(path, number, text, on_error)
            if line is not None:
                yield line
        if progress is not None:
            progress(stream.position)


def file_size(path):
    """The size of ``path`` on disk in bytes, or None (standard input, or a file that cannot be stat'ed)."""
    if path == '-':
        return None
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def event_users(event):
    """The ways a native event names its user: ``context.user_id`` and ``context.username``, as text."""
    context = event.get('context')
    if not isinstance(context, dict):
        return set()
    return {str(context[key]) for key in ('user_id', 'username') if context.get(key) not in (None, '')}


def follow_lines(path, on_error, poll_interval=0.25, clock_sleep=time.sleep, max_line_bytes=MAX_LINE_BYTES):
    """Yield the :class:`Line` objects of the plain file ``path`` as they are written, forever.

    Lines already in the file come first. Whenever the end is reached it
    yields ``None`` (the caller may flush its output), then waits
    ``poll_interval`` seconds; a file moved or removed (rotated) is read to
    its end, then ``path`` is reopened when it appears again, and numbering
    starts over; a file that shrinks (truncated in place, as logrotate's
    ``copytruncate`` does) is read again from its start, as ``tail -F`` does.
    A line is read only once its newline is written (the last
    line of a rotated file, once rotation is seen); one longer than
    ``max_line_bytes`` is an error, skipped as it comes. Raises
    ``InputError`` when ``path`` cannot be opened at first, or is gzipped.
    """
    stream = _open_plain(path)
    lines = _Lines(path, on_error, max_line_bytes)
    try:
        while True:
            yield from lines.read(stream)
            yield None
            if _replaced(path, stream):
                yield from lines.read(stream)  # written to the old file before the rotation was seen
                yield from lines.rest()
                stream.close()
                stream = _open_plain(path)
                lines = _Lines(path, on_error, max_line_bytes)
            elif _truncated(stream):
                stream.seek(0)  # a partial line before the truncation is gone with it
                lines = _Lines(path, on_error, max_line_bytes)
            else:
                clock_sleep(poll_interval)
    finally:
        stream.close()


class _Lines:
    """The lines of a file being written, assembled from what is there so far; one too long is dropped as it comes."""

    def __init__(self, path, on_error, max_line_bytes):
        self.path = path
        self.on_error = on_error
        self.max_line_bytes = max_line_bytes
        self.number = 0
        self._pending = []
        self._size = 0
        self._too_long = False

    def read(self, stream):
        """Yield the :class:`Line` of each line ``stream`` now holds whole, up to its end."""
        while True:
            chunk = stream.readline(CHUNK_BYTES)
            if not chunk:
                return
            self._size += len(chunk)
            if not self._too_long:
                self._pending.append(chunk)
                if self._size - chunk.endswith(b'\n') > self.max_line_bytes:
                    self._too_long, self._pending = True, []
            if chunk.endswith(b'\n'):
                line = self._end_line()
                if line is not None:
                    yield line

    def rest(self):
        """Yield the :class:`Line` of what follows the last newline, if anything (the file will grow no more)."""
        if self._size:
            line = self._end_line()
            if line is not None:
                yield line

    def _end_line(self):
        self.number += 1
        text, too_long = b''.join(self._pending), self._too_long
        self._pending, self._size, self._too_long = [], 0, False
        if too_long:
            self.on_error(f'{self.path}:{self.number}', f'line longer than {self.max_line_bytes} bytes')
            return None
        text = text.decode('utf-8', errors='replace').rstrip('\r\n')
        if not text.strip():
            return None
        return _parse(self.path, self.number, text, self.on_error)


def _parse(path, number, text, on_error):
    try:
        json_text, raw = find_event(text)
    except LineError as exc:
        on_error(f'{path}:{number}', str(exc))
        return None
    return Line(path, number, json_text, raw)


def _open_plain(path):
    """``path`` opened for reading bytes; ``InputError`` if it cannot be, or is gzipped (it cannot be followed)."""
    try:
        stream = open(path, 'rb')  # pylint: disable=consider-using-with  # returned to the caller
    except OSError as exc:
        raise InputError(f'{path}: cannot open: {exc.strerror or exc}') from exc
    if stream.peek(2)[:2] == GZIP_MAGIC:
        stream.close()
        raise InputError(f'{path}: a gzipped file cannot be followed')
    return stream


def _truncated(stream):
    """True when the file ``stream`` reads is now shorter than where it has read to (truncated in place)."""
    return os.fstat(stream.fileno()).st_size < stream.tell()


def _replaced(path, stream):
    """True when ``path`` now names another file than ``stream`` (rotated), and that file exists."""
    try:
        current = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(stream.fileno())
    return (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino)
