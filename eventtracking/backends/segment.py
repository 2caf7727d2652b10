"""A backend that sends events to Segment (segment.com) as ``track`` calls.

The module-level name ``analytics`` is the Segment client module:
``segment.analytics`` from ``segment-analytics-python`` (the ``segment``
extra), else the legacy ``analytics`` module of ``analytics-python``, else
None. Configure the client elsewhere (``analytics.write_key = ...``); this
backend calls ``analytics.track``, and watches the client it went to (see
:class:`SegmentBackend`) so that what the client loses later is counted too.
"""

import atexit
import datetime
import json
import logging
import numbers
import queue
import threading
import time
from decimal import Decimal
from enum import Enum
from urllib.parse import urlunsplit

from eventtracking.events import event_name, safe_name
from eventtracking.forking import after_fork_in_child
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.exceptions import UnserializableEventError
from eventtracking.stats import BACKEND_ERROR, FILTERED, OVERSIZE, PUBLISH_ERROR, UNAVAILABLE, EventCounters

try:
    from segment import analytics
except ImportError:
    try:
        import analytics
    except ImportError:
        analytics = None

LOG = logging.getLogger(__name__)
CALLBACK_LOG = RateLimitedLog(LOG)

MAX_MESSAGE_SIZE = 32 << 10
"""The Segment client's limit on one message, in bytes of JSON: it refuses a larger one."""

MESSAGE_OVERHEAD = 400
"""Bytes allowed for what the client adds to the message (type, ids, timestamp, library) when checking the size."""

UNSERIALIZABLE = UnserializableEventError.reason

EXIT_TIMEOUT = 5.0
"""Default seconds the exit handler waits for the client to upload what is still queued."""

_UNAVAILABLE_SAID = []  # non-empty once the missing library was logged: once per process


class SegmentBackend:
    """Send every event that has a name and a ``context.user_id`` to Segment with ``analytics.track``.

    The call is ``analytics.track(user_id, name, event, context=segment_context)``:
    the whole event is the properties, and the Segment context is built from
    the event's context:

    =========================  ====================================================
    Segment context            event context
    =========================  ====================================================
    ``ip``                     ``ip``
    ``userAgent``              ``agent``
    ``Google Analytics``       ``{'clientId': client_id}``
    ``page.path``              ``path``
    ``page.referrer``          ``referer``
    ``page.url``               ``page``, else ``https://<host><path>`` when both are set
    =========================  ====================================================

    Keys whose source is missing (None) are left out. Events without a name or
    a user id are not sent (counted as ``filtered``). An event whose message
    would be over the client's 32 KB limit (:data:`MAX_MESSAGE_SIZE`, less
    :data:`MESSAGE_OVERHEAD` for what the client adds) is not handed over:
    counted as ``oversize`` and logged by its name only (the client would
    raise with the whole message in the error).

    Without the Segment library, the first construction in the process logs
    one WARNING naming the extra to install and ``send`` does nothing but
    count the event as ``unavailable`` (the module stays importable, as the
    original's did; in a Django site check ``eventtracking.W065`` reports it,
    and ``eventtracking.W066`` a client with no write key).

    What the client loses after accepting an event is counted too, as
    ``publish_error``: every event of a batch it reports through its
    ``on_error`` callback (an upload refused or failed after its retries;
    a callback the site set still runs), and the events still queued when
    the process exits: an exit handler waits up to ``exit_timeout`` seconds
    (default :data:`EXIT_TIMEOUT`) for the client to upload them, then
    counts and logs what is left. The client is process-wide: its losses are
    counted by the ``SegmentBackend`` that sent to it last (not by one only
    built, as the system checks build one). The Segment client
    keeps the event in its queue, so this backend gets its own copy of each
    event in a routing tree.
    """

    def __init__(self, exit_timeout=EXIT_TIMEOUT):
        self.counters = EventCounters()
        self.failure_log = RateLimitedLog(LOG)
        self.exit_timeout = exit_timeout
        self._client = None
        if analytics is None:
            if not _UNAVAILABLE_SAID:
                _UNAVAILABLE_SAID.append(True)
                LOG.warning(
                    "SegmentBackend is configured but the Segment library is not installed: no event will reach "
                    "Segment. Install it with pip install 'eventtracking[segment]'."
                )
            return

    @property
    def stats(self):
        """Counts by reason of the events this backend did not send, or the client lost."""
        return self.counters.snapshot()

    def send(self, event):
        """Send ``event`` to Segment with ``analytics.track``, if it has a name and a user id."""
        if analytics is None:
            self.counters.increment(UNAVAILABLE)
            return
        context = event.get('context') or {}
        user_id = context.get('user_id')
        name = event.get('name')
        if name is None or user_id is None:
            self.counters.increment(FILTERED)
            return
        if isinstance(user_id, bool) or not isinstance(user_id, (numbers.Number, str)):
            self._drop(UNSERIALIZABLE, name, f'its user_id is a {type(user_id).__name__}, not a number or a string')
            return
        properties = segment_context(context)
        size = _message_size(user_id, name, event, properties)
        if size is None:
            self._drop(UNSERIALIZABLE, name, 'it holds a value the Segment client cannot send')
            return
        if size > MAX_MESSAGE_SIZE - MESSAGE_OVERHEAD:
            self._drop_oversize(name)
            return
        try:
            result = analytics.track(user_id, name, event, context=properties)
        except RuntimeError as exc:
            if 'exceeds' not in str(exc.args[0] if exc.args else ''):
                raise
            self._drop_oversize(name)  # the client's own check, which the estimate missed: its error holds the event
            return
        client = getattr(analytics, 'default_client', None)
        if client is not self._client or _WATCH.backend is not self:
            self._client = client
            _WATCH.watch(client, self)
        if isinstance(result, tuple) and result and result[0] is False:
            self.counters.increment(BACKEND_ERROR)
            self.failure_log.warning(
                BACKEND_ERROR, 'Dropped event %s (%s): the Segment client did not queue it (its queue is full)',
                safe_name(event_name(event)), BACKEND_ERROR)

    def _drop_oversize(self, name):
        self._drop(OVERSIZE, name, f'its Segment message would be over the client\'s {MAX_MESSAGE_SIZE >> 10} KB limit')

    def _drop(self, reason, name, why):
        """Count the event under ``reason`` and log its name and ``why`` (never a value: the client's own
        lines about such events would hold them)."""
        self.counters.increment(reason)
        self.failure_log.warning(reason, 'Dropped event %s (%s): %s', safe_name(name), reason, why)


def _message_size(user_id, name, event, context):
    """The length in bytes of the JSON of the message the client would build, less its own fields.

    None when the event holds a value the client cannot send (it would log
    the value and leave it out), a key JSON cannot write, a circular or too
    deeply nested structure.
    """
    try:
        return len(json.dumps({'userId': str(user_id), 'event': name, 'properties': event, 'context': context},
                              default=_sendable).encode())
    except (TypeError, ValueError, RecursionError):
        return None


def _sendable(value):
    """What the Segment client's ``clean`` turns ``value`` into, as far as its size goes; ``TypeError`` for what
    it cannot send."""
    if isinstance(value, (Decimal, numbers.Number, datetime.date)):  # a datetime is a date
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    raise TypeError(f'the Segment client cannot send a {type(value).__name__}')


class _ClientWatch:
    """Counts, for the backend that sent to it last, what the Segment client loses after accepting events.

    Once per client, :meth:`watch` wraps its ``on_error`` callback (and its
    consumers', which took a copy) and registers an exit handler. Exit
    handlers run last registered first, so this one runs before the client's
    own, which stops its consumer threads.
    """

    def __init__(self):
        self.backend = None
        self.exited = False
        self._watched = set()
        self._lock = threading.Lock()
        after_fork_in_child(self, _ClientWatch._new_lock)

    def _new_lock(self):
        """In a child after ``fork``: another thread may have held the old lock."""
        self._lock = threading.Lock()

    def watch(self, client, backend):
        """Count the losses of ``client`` for ``backend``, if it is a Segment client with a queue (not a mock)."""
        self.backend = backend
        if not isinstance(getattr(client, 'queue', None), queue.Queue):
            return
        with self._lock:
            if id(client) in self._watched:
                return
            self._watched.add(id(client))
        previous = client.on_error

        def on_error(error, batch):
            self._lost(batch, error)
            if previous is None:
                return
            try:
                previous(error, batch)
            except Exception:  # pylint: disable=broad-except  # raised in the client's consumer, it would end it
                CALLBACK_LOG.exception('on_error', 'The Segment client\'s own on_error callback %r raised', previous)

        client.on_error = on_error
        for consumer in getattr(client, 'consumers', None) or ():
            consumer.on_error = on_error
        atexit.register(self.flush_at_exit, client)

    def _lost(self, batch, error):
        backend = self.backend
        if backend is None or self.exited:
            return
        backend.counters.increment(PUBLISH_ERROR, len(batch))
        backend.failure_log.error(
            PUBLISH_ERROR, '%d event(s) lost (%s): the Segment client could not upload them: %s: %s', len(batch),
            PUBLISH_ERROR, type(error).__name__, error)

    def flush_at_exit(self, client):
        """Wait up to ``exit_timeout`` seconds for ``client`` to upload its queue; count and log what is left.

        No wait without a running consumer thread (nothing would upload).
        """
        backend = self.backend
        timeout = backend.exit_timeout if backend is not None else EXIT_TIMEOUT
        deadline = time.monotonic() + timeout
        pending = client.queue
        consumers = getattr(client, 'consumers', None) or ()
        while pending.unfinished_tasks and time.monotonic() < deadline and any(c.is_alive() for c in consumers):
            time.sleep(0.05)
        left = pending.unfinished_tasks
        self.exited = True  # what the client reports after this is already in ``left``
        if left and backend is not None:
            backend.counters.increment(PUBLISH_ERROR, left)
            LOG.error('Segment client at exit: %d event(s) still queued after waiting up to %.1f s for the upload, '
                      'lost (%s)', left, timeout, PUBLISH_ERROR)


_WATCH = _ClientWatch()


def segment_context(context):
    """Return the Segment ``context`` of a ``track`` call for an event with this eventtracking ``context``."""
    result = {}
    client_id = context.get('client_id')
    if client_id is not None:
        result['Google Analytics'] = {'clientId': client_id}
    ip_address = context.get('ip')
    if ip_address is not None:
        result['ip'] = ip_address
    user_agent = context.get('agent')
    if user_agent is not None:
        result['userAgent'] = user_agent

    path = context.get('path')
    referer = context.get('referer')
    page = context.get('page')
    if path and not page and context.get('host'):
        page = urlunsplit(('https', context['host'], path, '', ''))
    if path is not None or referer is not None or page is not None:
        result['page'] = {}
        if path is not None:
            result['page']['path'] = path
        if referer is not None:
            result['page']['referrer'] = referer
        if page is not None:
            result['page']['url'] = page
    return result
