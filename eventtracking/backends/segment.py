"""A backend that sends events to Segment (segment.com) as ``track`` calls.

The module-level name ``analytics`` is the Segment client module:
``segment.analytics`` from ``segment-analytics-python`` (the ``segment``
extra), else the legacy ``analytics`` module of ``analytics-python``, else
None. Configure the client elsewhere (``analytics.write_key = ...``); this
backend calls ``analytics.track``, and watches the client it went to (see
:class:`SegmentBackend`) so that what the client loses later is counted too.

What the client refuses is found out from the call itself, not predicted:
it raises for an argument it does not take (a ``user_id`` that is not a
number or a string, a name that is not a string, no write key) and for a
message over its 32 KB limit, and it logs, on its ``segment`` logger, a
value it cannot send before leaving it out. While this backend calls it,
a filter on that logger (``_ClientLogGuard``) withholds the values of
the client's lines and turns "a value left out" into a refusal, so the event
is not sent with a hole in it; each refusal is counted under a reason and
logged with the event's name only (the client's errors hold the values).
"""

import atexit
import logging
import queue
import threading
import time
from urllib.parse import urlunsplit

from eventtracking.events import event_name, safe_name
from eventtracking.forking import after_fork_in_child
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.exceptions import UnserializableEventError
from eventtracking.stats import BACKEND_ERROR, FILTERED, OVERSIZE, PUBLISH_ERROR, UNAVAILABLE, EventCounters

CLIENT_LOGGER = 'segment'
"""The logger of the Segment client (both libraries)."""

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
    a user id are not sent (counted as ``filtered``). What the client
    refuses is counted and logged by the event's name only, never with the
    client's error (which holds the values): a message over its 32 KB limit
    (:data:`MAX_MESSAGE_SIZE`) as ``oversize``; a ``user_id`` or name of a
    type it does not take, or a value it cannot send (it would leave it out
    and log it), as ``unserializable``; no write key, or any other error of
    the client, as ``backend_error``. ``send`` never raises.

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
        """Send ``event`` to Segment with ``analytics.track``, if it has a name and a user id; never raises."""
        if analytics is None:
            self.counters.increment(UNAVAILABLE)
            return
        context = event.get('context') or {}
        user_id = context.get('user_id')
        name = event.get('name')
        if name is None or user_id is None:
            self.counters.increment(FILTERED)
            return
        try:
            with _GUARD:
                result = analytics.track(user_id, name, event, context=segment_context(context))
        except Exception as exc:  # pylint: disable=broad-except  # the client's refusals; its errors hold values
            self._refused(name, exc)
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

    def _refused(self, name, exc):
        """Count and log, by the event's name and the error's type only, what ``analytics.track`` raised."""
        if isinstance(exc, _ValueLeftOut):
            self._drop(UNSERIALIZABLE, name, 'it holds a value the Segment client cannot send')
        elif isinstance(exc, RuntimeError) and 'exceeds' in str(exc.args[0] if exc.args else ''):
            self._drop(OVERSIZE, name, f"its Segment message is over the client's {MAX_MESSAGE_SIZE >> 10} KB limit")
        elif isinstance(exc, AssertionError):  # the client's require(): '<argument> must have <type>, got: <value>'
            argument = _refused_argument(exc)
            if argument == 'write_key':
                self._drop(BACKEND_ERROR, name, 'the Segment client has no write key')
            else:
                self._drop(UNSERIALIZABLE, name, f'the Segment client does not take its {argument}')
        elif isinstance(exc, (TypeError, ValueError, RecursionError)):
            self._drop(UNSERIALIZABLE, name, f'the Segment client could not serialize it ({type(exc).__name__})')
        else:
            self._drop(BACKEND_ERROR, name, f'the Segment client raised {type(exc).__name__}')

    def _drop(self, reason, name, why):
        """Count the event under ``reason`` and log its name and ``why`` (never a value)."""
        self.counters.increment(reason)
        self.failure_log.warning(reason, 'Dropped event %s (%s): %s', safe_name(name), reason, why)


_CLIENT_ARGUMENTS = {
    'user_id or anonymous_id': 'user_id',
    'event': 'name',
    'properties': 'event',
    'context': 'Segment context',
    'write_key': 'write_key',
}
"""The client's names of the arguments it checks, and ours."""


def _refused_argument(exc):
    """Which argument the client's ``require`` refused, read from the start of its message (the value at its end
    is never read); 'arguments' when the message is not the one expected."""
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ''
    argument, separator, _ = message.partition(' must have ')
    return _CLIENT_ARGUMENTS.get(argument, 'arguments') if separator else 'arguments'


class _ValueLeftOut(Exception):
    """Raised through the Segment client's own log call when it is about to leave a value out of a message."""


class _ClientLogGuard(logging.Filter):
    """A filter on the client's logger, active in a thread while that thread is inside ``analytics.track``.

    It withholds the arguments of every line the client logs during the call
    (``queueing: {the whole message}`` at DEBUG, the value it cannot send at
    WARNING), and raises :class:`_ValueLeftOut` out of the client's "value
    ... is unsupported" line, which ends the call before the message is
    queued. The client logs that line only when its logger lets WARNING
    through: with the ``segment`` logger above WARNING, the client leaves
    such a value out silently and sends the rest. Used as a context manager
    around the call; installed on the logger at the first call.
    """

    WITHHELD = '<withheld by eventtracking>'

    def __init__(self):
        super().__init__()
        self._local = threading.local()
        self._installed = False

    def __enter__(self):
        if not self._installed:
            self._installed = True
            logging.getLogger(CLIENT_LOGGER).addFilter(self)
        self._local.active = True
        return self

    def __exit__(self, *exc_info):
        self._local.active = False

    def filter(self, record):
        if not getattr(self._local, 'active', False):
            return True
        if isinstance(record.args, dict):
            record.args = dict.fromkeys(record.args, self.WITHHELD)
        elif record.args:
            record.args = (self.WITHHELD,) * len(record.args)
        if record.levelno >= logging.WARNING and isinstance(record.msg, str) and 'unsupported' in record.msg:
            raise _ValueLeftOut()
        return True


_GUARD = _ClientLogGuard()


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
