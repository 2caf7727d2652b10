"""Events posted by web pages: what the ``event`` view accepts, its limits, and how accepted events are emitted.

The view :func:`eventtracking.django.views.browser_event` (served by
:mod:`eventtracking.django.urls`) hands each request to :func:`handle`. A
request carries events in one of two shapes:

* the platform's form, as edx-platform's ``/event`` takes it (GET or POST):
  ``event_type`` (the name), ``event`` (the data: JSON text of an object, or
  any other text, which becomes ``{'event': text}``) and ``page``;
* a batch, ``{"events": [{"name": ..., "data": {...}, "page": ..., "time": ...}, ...]}``,
  as the request body (``application/json``, or ``text/plain``, which a page
  may send without a preflight), or as the form field ``events`` beside
  ``csrfmiddlewaretoken`` (how the JavaScript client's ``sendBeacon`` carries
  the CSRF token).

Each accepted event is emitted through the default tracker inside the
context :data:`CONTEXT_NAME` (``'browser'``): ``event_source`` ``'browser'``,
``page``, ``username`` (``'anonymous'`` without a logged-in user) and the
client's ``time`` as ``client_time``, on top of the request context of
:class:`~eventtracking.django.middleware.TrackMiddleware`.

Names accepted: a registered type marked ``EventType(..., browser=True)``,
or a name no type is registered under that one of the regular expressions of
``EVENT_TRACKING_BROWSER_EVENTS`` matches whole. A registered type without
``browser=True`` is never accepted, so a page cannot forge a server event.

Limits, each answered with its status and a JSON body
``{"accepted": N, "refused": {reason: count}}`` (plus ``"reason"`` when
nothing was accepted) that never repeats a value, and counted by reason in
the default tracker's ``stats``:

================  ======  ================================================================
reason            status  when
================  ======  ================================================================
``oversize``      413     the body (or query string) is over ``EVENT_TRACKING_BROWSER_MAX_BYTES``
                          (65536), or a batch holds more than ``EVENT_TRACKING_BROWSER_MAX_EVENTS``
                          (50) events; an event over ``EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES``
                          (8192, its JSON in UTF-8) is refused and the rest of its batch kept
``malformed``     400     the request or an event cannot be read
``not_allowed``   403     an event's name is not accepted (the rest of its batch is kept)
``rate_limited``  429     the session (or, without one, the address) posted more than
                          ``EVENT_TRACKING_BROWSER_RATE`` events (``'600/m'``; ``None``: no limit)
================  ======  ================================================================

A batch with at least one accepted event is answered 200; with none, the
status of the first refused event's reason. The rate is counted in Django's
default cache, in fixed windows of the rate's period: with a cache shared
by every process (Redis, Memcached) the limit holds for the whole site; with
the per-process default (``LocMemCache``) it holds per process. A cache that
fails lets the events through (logged, rate-limited). Refusals are logged at
WARNING, rate-limited, with the reason (and for ``not_allowed`` the name),
never a value.
"""

import json
import logging
import re
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError

from eventtracking import tracker
from eventtracking.django.middleware import hash_session_key
from eventtracking.events import safe_name
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import MALFORMED, NOT_ALLOWED, OVERSIZE, RATE_LIMITED

LOG = logging.getLogger(__name__)
REFUSAL_LOG = RateLimitedLog(LOG)

CONTEXT_NAME = 'browser'
"""The context every accepted event is emitted in."""
EVENT_SOURCE = 'browser'
"""The ``event_source`` of that context."""
ANONYMOUS = 'anonymous'
"""The ``username`` of that context without a logged-in user."""

EVENTS_SETTING_NAME = 'EVENT_TRACKING_BROWSER_EVENTS'
MAX_BYTES_SETTING_NAME = 'EVENT_TRACKING_BROWSER_MAX_BYTES'
MAX_EVENTS_SETTING_NAME = 'EVENT_TRACKING_BROWSER_MAX_EVENTS'
MAX_EVENT_BYTES_SETTING_NAME = 'EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES'
RATE_SETTING_NAME = 'EVENT_TRACKING_BROWSER_RATE'

DEFAULT_MAX_BYTES = 65536
DEFAULT_MAX_EVENTS = 50
DEFAULT_MAX_EVENT_BYTES = 8192
DEFAULT_RATE = '600/m'

STATUS = {OVERSIZE: 413, MALFORMED: 400, NOT_ALLOWED: 403, RATE_LIMITED: 429}
"""The status of a request whose events are all refused, by the reason."""

RATE_PERIODS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}
"""The periods ``EVENT_TRACKING_BROWSER_RATE`` may name (the first letter: ``'600/m'``, ``'10/second'``)."""

RATE_SHAPE = re.compile(r'([0-9]+)/(s|sec|second|m|min|minute|h|hour|d|day)')
RATE_KEY_PREFIX = 'eventtracking.browser.rate'

FORM_CONTENT_TYPES = ('application/x-www-form-urlencoded', 'multipart/form-data')


class Refused(Exception):
    """A whole request refused for ``reason``: ``count`` events (or the one request) counted as such."""

    def __init__(self, reason, count=1):
        super().__init__(reason)
        self.reason = reason
        self.count = count


class BrowserEvent:
    """One event as a page sent it: the name, the data (a dict), the page and the client's time."""

    __slots__ = ('name', 'data', 'page', 'time', 'size')

    def __init__(self, name, data, page, client_time, size):
        self.name = name
        self.data = data
        self.page = page
        self.time = client_time
        self.size = size


def handle(request):
    """Take the events of ``request``, emit those accepted, and return the JSON response (see the module docs)."""
    limits = Limits.from_settings()
    try:
        events = read_events(request, limits)
        if len(events) > limits.max_events:
            raise Refused(OVERSIZE, len(events))
        if not take_rate(request, len(events), limits):
            raise Refused(RATE_LIMITED, len(events))
    except Refused as refusal:
        refuse(refusal.reason, refusal.count)
        return respond(0, {refusal.reason: refusal.count})
    accepted, refused, first_reason = [], {}, None
    for event in events:
        reason = problem(event, limits)
        if reason is None:
            accepted.append(event)
            continue
        refused[reason] = refused.get(reason, 0) + 1
        first_reason = first_reason or reason
        refuse(reason, 1, event.name if reason == NOT_ALLOWED else None)
    username = browser_username(request)
    for event in accepted:
        emit(event, username)
    return respond(len(accepted), refused, first_reason)


def respond(accepted, refused, first_reason=None):
    """The JSON response: 200 when any event was accepted, else the status of the (first) reason."""
    body = {'accepted': accepted, 'refused': refused}
    if accepted:
        return JsonResponse(body)
    reason = first_reason or next(iter(refused), MALFORMED)
    body['reason'] = reason
    return JsonResponse(body, status=STATUS[reason])


class Limits:
    """The browser settings in force: sizes, counts, the rate and the accepted name patterns."""

    __slots__ = ('max_bytes', 'max_events', 'max_event_bytes', 'rate', 'patterns')

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES, max_events=DEFAULT_MAX_EVENTS,
                 max_event_bytes=DEFAULT_MAX_EVENT_BYTES, rate=DEFAULT_RATE, patterns=()):
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.max_event_bytes = max_event_bytes
        self.rate = parse_rate(rate)
        self.patterns = compile_patterns(tuple(patterns))

    @classmethod
    def from_settings(cls):
        """The limits the Django settings give (a bad value, reported by the checks, falls back to the default)."""
        return cls(
            max_bytes=_positive(MAX_BYTES_SETTING_NAME, DEFAULT_MAX_BYTES),
            max_events=_positive(MAX_EVENTS_SETTING_NAME, DEFAULT_MAX_EVENTS),
            max_event_bytes=_positive(MAX_EVENT_BYTES_SETTING_NAME, DEFAULT_MAX_EVENT_BYTES),
            rate=_rate_setting(),
            patterns=_patterns_setting(),
        )


def _positive(name, default):
    value = getattr(settings, name, default)
    return value if is_positive_int(value) else default


def is_positive_int(value):
    """True for an ``int`` (not a ``bool``) above zero."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _rate_setting():
    value = getattr(settings, RATE_SETTING_NAME, DEFAULT_RATE)
    try:
        parse_rate(value)
    except ValueError:
        return DEFAULT_RATE
    return value


def _patterns_setting():
    value = getattr(settings, EVENTS_SETTING_NAME, ())
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        return ()
    return tuple(value)


def parse_rate(rate):
    """``(events, seconds)`` of a rate such as ``'600/m'``; None for ``None`` (no limit); ``ValueError`` otherwise."""
    if rate is None:
        return None
    if not isinstance(rate, str):
        raise ValueError(_not_a_rate(rate))
    return _parse_rate_text(rate)


@lru_cache(maxsize=32)
def _parse_rate_text(rate):
    shape = RATE_SHAPE.fullmatch(rate)
    if shape is None or int(shape.group(1)) < 1:
        raise ValueError(_not_a_rate(rate))
    return int(shape.group(1)), RATE_PERIODS[shape.group(2)[0]]


def _not_a_rate(rate):
    return (f'{rate!r} is not a rate: write events/period, such as \'600/m\' (period s, m, h or d), '
            'or None for no limit')


@lru_cache(maxsize=32)
def compile_patterns(patterns):
    """The compiled patterns (an entry that does not compile, reported by the checks, is left out)."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError):
            LOG.error('%s: skipping %r, not a regular expression', EVENTS_SETTING_NAME, pattern)
    return tuple(compiled)


def name_accepted(name, patterns):
    """True if events named ``name`` are accepted from a page: a ``browser=True`` type, or an unregistered
    name one of ``patterns`` matches whole."""
    event_type = _registered_type(name)
    if event_type is not None:
        return bool(getattr(event_type, 'browser', False))
    return any(pattern.fullmatch(name) for pattern in patterns)


def _registered_type(name):
    try:
        from eventtracking.registry import get_event_type  # pylint: disable=import-outside-toplevel
    except ImportError:  # without the schema extra no type can be registered
        return None
    return get_event_type(name)


# --- reading a request ------------------------------------------------------------------------------------------

def read_events(request, limits):
    """The :class:`BrowserEvent` list a request carries; :class:`Refused` when the request cannot be taken."""
    if request.method == 'GET':
        if len(request.META.get('QUERY_STRING', '')) > limits.max_bytes:
            raise Refused(OVERSIZE)
        return [form_event(request.GET)]
    if _declared_length(request) > limits.max_bytes:
        raise Refused(OVERSIZE)
    content_type = request.content_type or ''
    if content_type in FORM_CONTENT_TYPES:
        try:
            form = request.POST
        except MultiPartParserError:
            raise Refused(MALFORMED) from None
        if 'events' in form:
            return batch_events(form.get('events'))
        if 'event_type' in form:
            return [form_event(form)]
        raise Refused(MALFORMED)
    body = request.body
    if len(body) > limits.max_bytes:
        raise Refused(OVERSIZE)
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError:
        raise Refused(MALFORMED) from None
    return batch_events(text)


def _declared_length(request):
    try:
        return int(request.META.get('CONTENT_LENGTH') or 0)
    except ValueError:
        raise Refused(MALFORMED) from None


def form_event(form):
    """The event of the platform's form: ``event_type``, ``event`` (JSON text of an object, or any text), ``page``."""
    name = form.get('event_type')
    if not name:
        raise Refused(MALFORMED)
    text = form.get('event', '')
    data = _object_or_none(text) if text else {}
    if data is None:
        data = {'event': text}
    page = form.get('page') or None
    size = len(name.encode('utf-8')) + len(text.encode('utf-8')) + len((page or '').encode('utf-8'))
    return BrowserEvent(name, data, page, None, size)


def _object_or_none(text):
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def batch_events(text):
    """The events of a batch's JSON text; :class:`Refused` (malformed) unless it is ``{"events": [...]}``, not empty.

    An entry that is not a well-formed event is kept as a :class:`BrowserEvent` without a name, refused alone.
    """
    try:
        batch = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise Refused(MALFORMED) from None
    entries = batch.get('events') if isinstance(batch, dict) else None
    if not isinstance(entries, list) or not entries:
        raise Refused(MALFORMED)
    return [batch_event(entry) for entry in entries]


def batch_event(entry):
    """One entry of a batch as a :class:`BrowserEvent`; one with ``name`` None when the entry is malformed."""
    try:
        size = len(json.dumps(entry, ensure_ascii=False, separators=(',', ':')).encode('utf-8'))
    except (ValueError, RecursionError):
        return BrowserEvent(None, None, None, None, 0)
    if not isinstance(entry, dict):
        return BrowserEvent(None, None, None, None, size)
    name, data = entry.get('name'), entry.get('data', {})
    page, client_time = entry.get('page'), entry.get('time')
    data = {} if data is None else data
    well_formed = (isinstance(name, str) and name and isinstance(data, dict)
                   and isinstance(page, (str, type(None))) and isinstance(client_time, (str, int, float, type(None)))
                   and not isinstance(client_time, bool))
    if not well_formed:
        return BrowserEvent(None, None, None, None, size)
    return BrowserEvent(name, data, page, client_time, size)


def problem(event, limits):
    """Why ``event`` is refused (a reason), or None when it is accepted."""
    if event.size > limits.max_event_bytes:
        return OVERSIZE
    if event.name is None:
        return MALFORMED
    if not name_accepted(event.name, limits.patterns):
        return NOT_ALLOWED
    return None


# --- rate ---------------------------------------------------------------------------------------------------------

def rate_identity(request):
    """Whose rate a request counts against: its session (hashed), or its address without one."""
    session_key = getattr(getattr(request, 'session', None), 'session_key', None)
    if session_key:
        return 'session.' + hash_session_key(session_key)
    return 'address.' + str(request.META.get('REMOTE_ADDR', ''))


def take_rate(request, count, limits, now=None):
    """Count ``count`` events against the request's rate; False (and nothing counted) when over it."""
    if limits.rate is None:
        return True
    allowed, period = limits.rate
    window = int((time.time() if now is None else now) // period)
    key = f'{RATE_KEY_PREFIX}.{period}.{rate_identity(request)}.{window}'
    try:
        cache.add(key, 0, timeout=period + 1)
        try:
            total = cache.incr(key, count)
        except ValueError:  # expired between add and incr
            cache.set(key, count, timeout=period + 1)
            total = count
        if total > allowed:
            cache.decr(key, count)
            return False
    except Exception:  # pylint: disable=broad-except
        REFUSAL_LOG.exception(('browser', 'cache'), 'Browser events: the rate could not be counted in the cache; '
                              'the events are let through')
    return True


# --- emitting and counting ---------------------------------------------------------------------------------------

def browser_username(request):
    """The logged-in user's username, or ``'anonymous'``."""
    user = getattr(request, 'user', None)
    if user is None or not getattr(user, 'is_authenticated', False):
        return ANONYMOUS
    return user.get_username() or ANONYMOUS


def emit(event, username):
    """Emit ``event`` through the default tracker inside the ``'browser'`` context."""
    context = {'event_source': EVENT_SOURCE, 'page': event.page, 'username': username, 'client_time': event.time}
    try:
        current = tracker.get_tracker()
    except KeyError:
        tracker.emit(event.name, event.data)  # no default tracker: dropped, counted and logged there
        return
    try:
        current.enter_context(CONTEXT_NAME, context)
    except Exception:  # pylint: disable=broad-except
        LOG.exception('Could not enter the %r context', CONTEXT_NAME)
        current.emit(event.name, event.data)
        return
    try:
        current.emit(event.name, event.data)
    finally:
        try:
            current.exit_context(CONTEXT_NAME)
        except KeyError:
            pass


def refuse(reason, count=1, name=None):
    """Count ``count`` refused events (or requests) as ``reason`` in the default tracker's stats, and log it."""
    try:
        counters = tracker.get_tracker().counters
    except (KeyError, AttributeError):
        counters = tracker.UNROUTED
    counters.increment(reason, count)
    if name is not None:
        REFUSAL_LOG.warning(('browser', reason), 'Refused a browser event %s: %s (not a registered browser=True '
                            'type, nor matched by %s)', safe_name(name), reason, EVENTS_SETTING_NAME)
    else:
        REFUSAL_LOG.warning(('browser', reason), 'Refused %d browser event(s) or request(s): %s', count, reason)
