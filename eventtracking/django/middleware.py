"""Request-context middleware: every event emitted while a request is handled carries details of that request.

Add it after the session and authentication middleware::

    MIDDLEWARE = [
        ...
        'django.contrib.sessions.middleware.SessionMiddleware',
        'django.contrib.auth.middleware.AuthenticationMiddleware',
        'eventtracking.django.middleware.TrackMiddleware',
        ...
    ]

For every request it enters the context ``'edx.request'`` in the default
tracker, and exits it once the response is ready (also when the view raises).
The context holds:

``session``
    A keyed hash of the session key (32 hex characters), never the key
    itself; ``''`` without a session. ``EVENT_TRACKING_SESSION_HASH`` selects
    the hash: ``'blake2b'`` (the default: BLAKE2b keyed with a key derived
    from ``SECRET_KEY``) or ``'edx-platform'`` (the HMAC-MD5 of edx-platform's
    own ``TrackMiddleware``, so that session joins survive a migration).
``user_id``, ``username``
    The user's primary key and username (``''`` when anonymous; ``user_id`` is
    ``None`` for an anonymous user and ``''`` without the authentication middleware).
``ip``, ``host``, ``agent``, ``path``, ``referer``, ``accept_language``
    From the request's ``META`` (``REMOTE_ADDR``, ``SERVER_NAME``,
    ``HTTP_USER_AGENT``, ``PATH_INFO``, ``HTTP_REFERER``,
    ``HTTP_ACCEPT_LANGUAGE``); ``''`` when absent. In ``referer`` the values of
    censored keys (see below) in the query string are replaced by ``'********'``.
``client_id``
    The Google Analytics client id from a ``_ga`` cookie of the shape
    ``GA1.<n>.<digits>.<digits>`` (the last two parts), else None.

``EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES`` lists callables (or their dotted
paths) that take the request and return a dict merged into the context after
these fields, so they may also replace one (``ip`` behind a proxy, say). Under
ASGI an ``async def`` callable is awaited on the event loop; a plain one runs
in Django's thread for synchronous code, where it may use the ORM.

``EVENT_TRACKING_REQUEST_EVENT_ENABLED = True`` (default False) also emits one
event per request, named after its path, with its ``GET`` and ``POST``
parameters (``{'GET': {key: [values]}, 'POST': {...}}``); values under
password-like keys (:data:`eventtracking.django.censoring.CENSORED_KEYS`, plus
those listed in ``EVENT_TRACKING_CENSORED_KEYS``) are replaced by ``'********'``. Requests whose path matches
one of the regular expressions in ``TRACKING_IGNORE_URL_PATTERNS`` (with
``re.match``) emit no request event; they still get the context.

The middleware is both sync and async capable: under ASGI it runs on the
event loop without a thread hop (unless synchronous context callables are
configured). Contexts stay per request only with a context locator that
follows asyncio tasks, which :class:`~eventtracking.django.DjangoTracker` uses
by default.
"""

import hashlib
import hmac
import logging
import re
from functools import lru_cache

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from eventtracking import tracker
from eventtracking.django.censoring import CENSORED_VALUE, key_censor  # pylint: disable=unused-import

LOG = logging.getLogger(__name__)

CONTEXT_NAME = 'edx.request'
META_KEY_TO_CONTEXT_KEY = {
    'REMOTE_ADDR': 'ip',
    'SERVER_NAME': 'host',
    'HTTP_USER_AGENT': 'agent',
    'PATH_INFO': 'path',
    'HTTP_REFERER': 'referer',
    'HTTP_ACCEPT_LANGUAGE': 'accept_language',
}
GOOGLE_ANALYTICS_COOKIE = '_ga'

CONTEXT_CALLABLES_SETTING_NAME = 'EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES'
REQUEST_EVENT_SETTING_NAME = 'EVENT_TRACKING_REQUEST_EVENT_ENABLED'
IGNORE_URL_PATTERNS_SETTING_NAME = 'TRACKING_IGNORE_URL_PATTERNS'
SESSION_HASH_SETTING_NAME = 'EVENT_TRACKING_SESSION_HASH'

SESSION_HASH_BLAKE2B = 'blake2b'
SESSION_HASH_EDX_PLATFORM = 'edx-platform'
SESSION_HASHES = (SESSION_HASH_BLAKE2B, SESSION_HASH_EDX_PLATFORM)
"""The values ``EVENT_TRACKING_SESSION_HASH`` accepts; the first is the default."""

GOOGLE_ANALYTICS_COOKIE_SHAPE = re.compile(r'GA1\.[0-9]{1,3}\.([0-9]{1,20}\.[0-9]{1,20})')
"""A ``_ga`` cookie as Google Analytics documents it; the group is the client id."""

_SESSION_HASH_PERSON = b'evtrack.session'
_EDX_PLATFORM_SESSION_SALT = b'common.djangoapps.track' + b'TrackMiddleware'
_ABSENT = object()


class TrackMiddleware:
    """Enter the ``'edx.request'`` context for the duration of every request (see the module documentation)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        current = _default_tracker()
        if current is None:
            return self.get_response(request)
        context = self.get_request_context(request)
        previous = enter_request_context(current, context)
        try:
            self.track_request(current, request)
            return self.get_response(request)
        finally:
            exit_request_context(current, previous)

    async def __acall__(self, request):
        current = _default_tracker()
        if current is None:
            return await self.get_response(request)
        context = await self.aget_request_context(request)
        previous = enter_request_context(current, context)
        try:
            self.track_request(current, request)
            return await self.get_response(request)
        finally:
            exit_request_context(current, previous)

    def get_request_context(self, request):
        """The ``'edx.request'`` context of ``request`` (synchronous: may load the user)."""
        user_id, username = user_fields(getattr(request, 'user', None))
        context = self._base_context(request, user_id, username)
        for function in context_callables():
            if iscoroutinefunction(function):
                _merge(context, _call(async_to_sync(function), request, function), function)
            else:
                _merge(context, _call(function, request), function)
        return context

    async def aget_request_context(self, request):
        """The ``'edx.request'`` context of ``request``, from async code."""
        user_id, username = await auser_fields(request)
        context = self._base_context(request, user_id, username)
        callables = context_callables()
        synchronous = [function for function in callables if not iscoroutinefunction(function)]
        sync_results = iter(await sync_to_async(_call_each)(synchronous, request) if synchronous else ())
        for function in callables:
            if iscoroutinefunction(function):
                try:
                    result = await function(request)
                except Exception:  # pylint: disable=broad-except
                    LOG.exception('Request context callable %r failed; its fields are left out', function)
                    continue
            else:
                result = next(sync_results)
            _merge(context, result, function)
        return context

    @staticmethod
    def _base_context(request, user_id, username):
        meta = request.META
        context = {
            'session': hash_session_key(getattr(getattr(request, 'session', None), 'session_key', None)),
            'user_id': user_id,
            'username': username,
        }
        for meta_key, context_key in META_KEY_TO_CONTEXT_KEY.items():
            context[context_key] = meta.get(meta_key, '')
        context['referer'] = key_censor().url(context['referer'])
        context['client_id'] = google_analytics_client_id(request.COOKIES.get(GOOGLE_ANALYTICS_COOKIE))
        return context

    def track_request(self, current, request):
        """Emit the request event, if enabled and the path is not ignored."""
        if not getattr(settings, REQUEST_EVENT_SETTING_NAME, False):
            return
        path = request.META.get('PATH_INFO', '')
        if is_ignored_path(path):
            return
        censor = key_censor()
        try:
            post = _post_parameters(request, censor)
        except _PostReadError as failure:
            current.emit(path, {'GET': censor.parameters(request.GET), 'POST': {}})
            raise failure.error from None
        current.emit(path, {'GET': censor.parameters(request.GET), 'POST': post})


def enter_request_context(current, context):
    """Enter ``context`` as ``'edx.request'``; return what it replaces, for :func:`exit_request_context`."""
    previous = current.located_context.get(CONTEXT_NAME, _ABSENT)
    current.enter_context(CONTEXT_NAME, context)
    return previous


def exit_request_context(current, previous):
    """Exit ``'edx.request'``, putting back the context it replaced (a request handled inside another)."""
    try:
        if previous is _ABSENT:
            current.exit_context(CONTEXT_NAME)
        else:
            current.enter_context(CONTEXT_NAME, previous)
    except KeyError:
        LOG.warning(
            'The %r context was exited by something else before its request finished: %s shares contexts '
            'between concurrent requests, so their events carry each other\'s context',
            CONTEXT_NAME, type(current.context_locator).__name__,
        )


def hash_session_key(session_key, secret_key=None, method=None):
    """A keyed hash of ``session_key`` as 32 hex characters; ``''`` for no session.

    The key is derived from ``secret_key`` (default ``settings.SECRET_KEY``),
    so the same session hashes the same way across requests and processes
    of one site, and cannot be turned back into a usable session key.
    ``method`` (default ``EVENT_TRACKING_SESSION_HASH``, else ``'blake2b'``)
    is one of :data:`SESSION_HASHES`: ``'blake2b'`` is BLAKE2b keyed with a
    BLAKE2b digest of the secret; ``'edx-platform'`` is the HMAC-MD5 of
    edx-platform's ``TrackMiddleware``, keyed with the MD5 digest of
    ``'common.djangoapps.track' + 'TrackMiddleware' + SECRET_KEY``. An unknown
    method (reported by check ``eventtracking.E070``) is logged and hashed as
    ``'blake2b'``.
    """
    if not session_key:
        return ''
    secret = settings.SECRET_KEY if secret_key is None else secret_key
    if _session_hash_method(method) == SESSION_HASH_EDX_PLATFORM:
        return hmac.new(_edx_platform_session_hash_key(secret), _utf8(session_key), hashlib.md5).hexdigest()
    return hashlib.blake2b(_utf8(session_key), key=_session_hash_key(secret), digest_size=16).hexdigest()


def _session_hash_method(method):
    if method is None:
        method = getattr(settings, SESSION_HASH_SETTING_NAME, SESSION_HASH_BLAKE2B)
    if method in SESSION_HASHES:
        return method
    _log_unknown_session_hash(repr(method))
    return SESSION_HASH_BLAKE2B


@lru_cache(maxsize=8)
def _log_unknown_session_hash(method):
    LOG.error('%s: unknown session hash %s (expected one of %s); hashing sessions with %r',
              SESSION_HASH_SETTING_NAME, method, ', '.join(map(repr, SESSION_HASHES)), SESSION_HASH_BLAKE2B)


def _utf8(text):
    return text if isinstance(text, bytes) else text.encode('utf-8')


@lru_cache(maxsize=8)
def _edx_platform_session_hash_key(secret):
    return hashlib.md5(_EDX_PLATFORM_SESSION_SALT + _utf8(secret)).digest()


@lru_cache(maxsize=8)
def _session_hash_key(secret):
    return hashlib.blake2b(_utf8(secret), digest_size=64, person=_SESSION_HASH_PERSON).digest()


def user_fields(user):
    """``(user_id, username)`` of a Django user; ``('', '')`` when there is no user at all."""
    if user is None:
        return '', ''
    try:
        user_id = getattr(user, 'pk', '')
        get_username = getattr(user, 'get_username', None)
        username = get_username() if callable(get_username) else getattr(user, 'username', '')
    except Exception:  # pylint: disable=broad-except
        LOG.exception('Could not load the request\'s user; user_id and username are left empty')
        return '', ''
    return user_id, username or ''


async def auser_fields(request):
    """:func:`user_fields` of the request's user, loaded without blocking the event loop."""
    auser = getattr(request, 'auser', None)
    if auser is not None:
        try:
            user = await auser()
        except Exception:  # pylint: disable=broad-except
            LOG.exception('Could not load the request\'s user; user_id and username are left empty')
            return '', ''
        return user_fields(user)
    if not hasattr(request, 'user'):
        return '', ''
    return await sync_to_async(lambda: user_fields(request.user))()


def google_analytics_client_id(cookie):
    """The client id in a Google Analytics ``_ga`` cookie (``GA1.2.1033501218.1368477899`` -> ``1033501218.1368477899``).

    None unless the cookie has the documented shape ``GA1.<n>.<digits>.<digits>``
    (:data:`GOOGLE_ANALYTICS_COOKIE_SHAPE`), so that no other text a client
    sends in it reaches the events.
    """
    if not isinstance(cookie, str):
        return None
    shape = GOOGLE_ANALYTICS_COOKIE_SHAPE.fullmatch(cookie)
    return shape.group(1) if shape else None


def context_callables():
    """The request context callables the setting lists, imported (entries that cannot be are logged and skipped)."""
    entries = getattr(settings, CONTEXT_CALLABLES_SETTING_NAME, ())
    try:
        return _resolve_callables(tuple(entries))
    except TypeError:
        return _resolve_callables.__wrapped__(tuple(entries))


@lru_cache(maxsize=16)
def _resolve_callables(entries):
    resolved = []
    for entry in entries:
        try:
            resolved.append(resolve_callable(entry))
        except (ImportError, TypeError) as exc:
            LOG.error('%s: skipping %r: %s', CONTEXT_CALLABLES_SETTING_NAME, entry, exc)
    return tuple(resolved)


def resolve_callable(entry):
    """The callable ``entry`` is, or names with a dotted path; ``ImportError``/``TypeError`` otherwise."""
    function = import_string(entry) if isinstance(entry, str) else entry
    if not callable(function):
        raise TypeError(f'{entry!r} is not callable')
    return function


def is_ignored_path(path):
    """True if ``path`` matches one of ``TRACKING_IGNORE_URL_PATTERNS`` (``re.match``)."""
    for pattern in getattr(settings, IGNORE_URL_PATTERNS_SETTING_NAME, ()):
        try:
            if re.match(pattern, path):
                return True
        except (re.error, TypeError) as exc:
            LOG.error('%s: skipping the pattern %r: %s', IGNORE_URL_PATTERNS_SETTING_NAME, pattern, exc)
    return False


def censored_parameters(query_dict):
    """``{key: [values]}`` of a ``QueryDict``, with the values of censored keys replaced by ``'********'``.

    The censored keys are :data:`eventtracking.django.censoring.CENSORED_KEYS`
    plus those of ``EVENT_TRACKING_CENSORED_KEYS``.
    """
    return key_censor().parameters(query_dict)


def _post_parameters(request, censor):
    """The censored POST parameters; ``{}`` when the body is not a readable form.

    A parse error must reach the view as if this middleware had not read the
    body: when the body can be parsed again, the parse state is reset so the
    view meets the same error; when the stream is spent (a multipart body), the
    error is re-raised after the event is emitted, and Django answers it as it
    answers any malformed form (400 for too many fields).
    """
    try:
        return censor.parameters(request.POST)
    except Exception as exc:  # pylint: disable=broad-except
        LOG.warning('Request event for %r: the POST data could not be read (%s: %s); it is left out',
                    request.META.get('PATH_INFO', ''), type(exc).__name__, exc)
        # pylint: disable=protected-access
        if hasattr(request, '_body') or not getattr(request, '_read_started', False):
            for attribute in ('_post', '_files'):
                request.__dict__.pop(attribute, None)
            return {}
        raise _PostReadError(exc) from exc


class _PostReadError(Exception):
    """Carries a POST parse error past the request event, to be re-raised for Django to answer."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _default_tracker():
    try:
        return tracker.get_tracker()
    except KeyError:
        return None


def _call(function, request, name=None):
    try:
        return function(request)
    except Exception:  # pylint: disable=broad-except
        LOG.exception('Request context callable %r failed; its fields are left out', name or function)
        return None


def _call_each(functions, request):
    return [_call(function, request) for function in functions]


def _merge(context, fields, function):
    if fields is None:
        return
    try:
        context.update(fields)
    except (TypeError, ValueError):
        LOG.error('Request context callable %r returned a %s, not a dict; it is left out', function,
                  type(fields).__name__)
