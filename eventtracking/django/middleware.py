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
    A keyed hash of the session key (BLAKE2b keyed with a key derived from
    ``SECRET_KEY``, 32 hex characters), never the key itself; ``''`` without
    a session.
``user_id``, ``username``
    The user's primary key and username (``''`` when anonymous; ``user_id`` is
    ``None`` for an anonymous user and ``''`` without the authentication middleware).
``ip``, ``host``, ``agent``, ``path``, ``referer``, ``accept_language``
    From the request's ``META`` (``REMOTE_ADDR``, ``SERVER_NAME``,
    ``HTTP_USER_AGENT``, ``PATH_INFO``, ``HTTP_REFERER``,
    ``HTTP_ACCEPT_LANGUAGE``); ``''`` when absent.
``client_id``
    The Google Analytics client id from the ``_ga`` cookie, else None.

``EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES`` lists callables (or their dotted
paths) that take the request and return a dict merged into the context after
these fields, so they may also replace one (``ip`` behind a proxy, say). Under
ASGI an ``async def`` callable is awaited on the event loop; a plain one runs
in Django's thread for synchronous code, where it may use the ORM.

``EVENT_TRACKING_REQUEST_EVENT_ENABLED = True`` (default False) also emits one
event per request, named after its path, with its ``GET`` and ``POST``
parameters (``{'GET': {key: [values]}, 'POST': {...}}``); values under
password-like keys are replaced by ``'********'``. Requests whose path matches
one of the regular expressions in ``TRACKING_IGNORE_URL_PATTERNS`` (with
``re.match``) emit no request event; they still get the context.

The middleware is both sync and async capable: under ASGI it runs on the
event loop without a thread hop (unless synchronous context callables are
configured). Contexts stay per request only with a context locator that
follows asyncio tasks, which :class:`~eventtracking.django.DjangoTracker` uses
by default.
"""

import hashlib
import logging
import re
from functools import lru_cache

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from eventtracking import tracker

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

CENSORED_VALUE = '*' * 8
PASSWORD_LIKE_KEY = re.compile(r'pass(word|wd|phrase)|^pass$|pwd|secret|token|api_?key', re.IGNORECASE)
"""Request parameters whose name this matches (anywhere in it) are censored in the request event."""

_SESSION_HASH_PERSON = b'evtrack.session'
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
        context['client_id'] = google_analytics_client_id(request.COOKIES.get(GOOGLE_ANALYTICS_COOKIE))
        return context

    def track_request(self, current, request):
        """Emit the request event, if enabled and the path is not ignored."""
        if not getattr(settings, REQUEST_EVENT_SETTING_NAME, False):
            return
        path = request.META.get('PATH_INFO', '')
        if is_ignored_path(path):
            return
        try:
            post = _post_parameters(request)
        except _PostReadError as failure:
            current.emit(path, {'GET': censored_parameters(request.GET), 'POST': {}})
            raise failure.error from None
        current.emit(path, {'GET': censored_parameters(request.GET), 'POST': post})


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


def hash_session_key(session_key, secret_key=None):
    """A keyed BLAKE2b hash of ``session_key`` as 32 hex characters; ``''`` for no session.

    The key is derived from ``secret_key`` (default ``settings.SECRET_KEY``),
    so the same session hashes the same way across requests and processes
    of one site, and cannot be turned back into a usable session key.
    """
    if not session_key:
        return ''
    secret = settings.SECRET_KEY if secret_key is None else secret_key
    return hashlib.blake2b(
        session_key.encode('utf-8'), key=_session_hash_key(secret), digest_size=16,
    ).hexdigest()


@lru_cache(maxsize=8)
def _session_hash_key(secret):
    if isinstance(secret, str):
        secret = secret.encode('utf-8')
    return hashlib.blake2b(secret, digest_size=64, person=_SESSION_HASH_PERSON).digest()


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
    """The client id in a Google Analytics ``_ga`` cookie (``GA1.2.1033501218.1368477899`` -> ``1033501218.1368477899``)."""
    if not cookie:
        return None
    parts = cookie.split('.')
    if len(parts) < 4:
        return None
    return '.'.join(parts[2:])


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
    """``{key: [values]}`` of a ``QueryDict``, with the values of password-like keys replaced by ``'********'``."""
    return {
        key: [CENSORED_VALUE] * len(values) if PASSWORD_LIKE_KEY.search(key) else list(values)
        for key, values in query_dict.lists()
    }


def _post_parameters(request):
    """The censored POST parameters; ``{}`` when the body is not a readable form.

    A parse error must reach the view as if this middleware had not read the
    body: when the body can be parsed again, the parse state is reset so the
    view meets the same error; when the stream is spent (a multipart body), the
    error is re-raised after the event is emitted, and Django answers it as it
    answers any malformed form (400 for too many fields).
    """
    try:
        return censored_parameters(request.POST)
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
        LOG.error('Request context callable %r returned %r, not a dict; it is left out', function, fields)
