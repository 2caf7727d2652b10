"""System checks: every mistake in the event-tracking settings reported at start-up, with its setting path.

``manage.py check`` (and ``runserver``, ``migrate``, the test runner, which run
the checks first) builds ``EVENT_TRACKING_BACKENDS`` and
``EVENT_TRACKING_PROCESSORS`` in a collecting mode and reports, for example::

    ?: (eventtracking.E001) EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backends']['xapi']['ENGINE']:
        cannot import 'dummy.backend.engine': No module named 'dummy'

Every check id, with its meaning, is in the one table of
:mod:`eventtracking.django.check_ids`. The checks Django runs are registered
beside their functions (``@checks.register(TAG)``, tag
:data:`~eventtracking.django.check_ids.TAG`) when this module is imported,
which the app's ``ready()`` does.

Building means constructing every backend and processor once, as the tracker
will, so a constructor's own validation (a bad regular expression, a bad
option value) is reported here, not at the first event.
"""

import importlib.util
import logging
import re
import sys

from django.conf import settings
from django.core import checks

from eventtracking._extras import install_command
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.django import censoring, middleware
from eventtracking.django import browser_checks  # noqa: F401  # pylint: disable=unused-import  # registers its checks
from eventtracking.django import metrics_setup  # noqa: F401  # pylint: disable=unused-import  # registers its checks
from eventtracking.django.async_checks import check_async_routing
from eventtracking.django.check_ids import TAG
from eventtracking.django.django_tracker import (
    DJANGO_BACKEND_SETTING_NAME, DJANGO_CONTEXT_LOCATOR_SETTING_NAME, DJANGO_ENABLED_SETTING_NAME,
    DJANGO_PROCESSOR_SETTING_NAME, context_locator_from_settings,
)
from eventtracking.django.settings_tree import TreeBuilder, item_path

E_IGNORE_PATTERN = 'eventtracking.E010'
E_CONTEXT_CALLABLE = 'eventtracking.E011'
E_LOCATOR = 'eventtracking.E012'
E_SESSION_HASH = 'eventtracking.E070'
E_CENSORED_KEY = 'eventtracking.E071'
E_EVENT_TYPES_MODULE = 'eventtracking.E030'
W_MIDDLEWARE_ORDER = 'eventtracking.W002'
W_NOT_ENABLED = 'eventtracking.W003'
W_LOGGER_FILTERED = 'eventtracking.W060'
W_LOGGER_NO_HANDLER = 'eventtracking.W061'
W_SEGMENT_NO_LIBRARY = 'eventtracking.W065'
W_SEGMENT_NO_WRITE_KEY = 'eventtracking.W066'
E_CELERY_CONTEXT = 'eventtracking.E040'
E_CELERY_CONTEXT_MAX_BYTES = 'eventtracking.E041'
E_CELERY_MISSING = 'eventtracking.E042'
W_CELERY_CONTEXT_MAX_BYTES_UNUSED = 'eventtracking.W040'

CELERY_CONTEXT_SETTING_NAME = 'EVENT_TRACKING_CELERY_CONTEXT'
CELERY_CONTEXT_MAX_BYTES_SETTING_NAME = 'EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES'
W_NO_BACKENDS = 'eventtracking.W080'
W_EMPTY_ROUTING = 'eventtracking.W081'
W_EMPTY_BACKENDS = 'eventtracking.W082'

TRACK_MIDDLEWARE = 'eventtracking.django.middleware.TrackMiddleware'
MIDDLEWARE_BEFORE_TRACK = (
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
)


@checks.register(TAG)
def check_event_tracking_settings(app_configs=None, **kwargs):  # pylint: disable=unused-argument
    """Django system check: every problem in the event-tracking settings."""
    messages = check_tree_settings()
    messages += check_context_locator()
    messages += check_ignore_url_patterns()
    messages += check_context_callables()
    messages += check_middleware_order()
    messages += check_enabled()
    messages += check_celery_context()
    messages += check_session_hash()
    messages += check_censored_keys()
    messages += check_async_routing()
    return messages


def check_tree_settings(backends_settings_name=DJANGO_BACKEND_SETTING_NAME,
                        processors_settings_name=DJANGO_PROCESSOR_SETTING_NAME):
    """Build the backend and processor trees in collecting mode; one message per problem."""
    builder = TreeBuilder(strict=False)
    builder.build_backends(getattr(settings, backends_settings_name, {}), backends_settings_name)
    builder.build_processors(getattr(settings, processors_settings_name, []), processors_settings_name)
    messages = []
    for problem in builder.problems:
        kind = checks.Warning if problem.is_warning else checks.Error
        messages.append(kind(str(problem), hint=problem.hint, id=problem.check_id))
    messages += check_dead_ends(builder)
    for path, built in builder.built:
        messages += check_logger_backend(path, built) + check_segment_backend(path, built)
    return messages


def check_dead_ends(builder):
    """Warn about settings that build without error but send every event nowhere.

    ``builder`` is the collecting :class:`TreeBuilder` that built the trees.
    """
    messages = []
    enabled = getattr(settings, DJANGO_ENABLED_SETTING_NAME, False)
    if enabled and not hasattr(settings, DJANGO_BACKEND_SETTING_NAME):
        messages.append(checks.Warning(
            f'{DJANGO_ENABLED_SETTING_NAME} is True but {DJANGO_BACKEND_SETTING_NAME} is not set, so the default '
            'tracker has no backend and every event goes nowhere',
            hint=f'Configure a backend in {DJANGO_BACKEND_SETTING_NAME} (a LoggerBackend writes the tracking log), '
                 f'or set {DJANGO_ENABLED_SETTING_NAME} = False.',
            id=W_NO_BACKENDS,
        ))
    elif enabled and getattr(settings, DJANGO_BACKEND_SETTING_NAME) == {}:
        messages.append(checks.Warning(
            f'{DJANGO_ENABLED_SETTING_NAME} is True but {DJANGO_BACKEND_SETTING_NAME} is empty, so the default '
            'tracker has no backend and every event goes nowhere',
            hint=f'Configure a backend in {DJANGO_BACKEND_SETTING_NAME} (a LoggerBackend writes the tracking log), '
                 f"set {DJANGO_ENABLED_SETTING_NAME} = False, or, if sending events nowhere is intended, add "
                 f"'{W_EMPTY_BACKENDS}' to SILENCED_SYSTEM_CHECKS.",
            id=W_EMPTY_BACKENDS,
        ))
    for path, built in builder.built:
        if isinstance(built, RoutingBackend) and not built.backends:
            messages.append(checks.Warning(
                f'{path}: {type(built).__name__} has no backends, so every event it is sent goes nowhere',
                hint="Give it OPTIONS {'backends': {...}}, or remove it.", id=W_EMPTY_ROUTING,
            ))
    return messages


def configuration_errors():
    """The error-level problems of the tree and locator settings, as the checks word them (with setting paths)."""
    messages = check_tree_settings() + check_context_locator()
    return [message.msg for message in messages if message.is_serious()]


def check_logger_backend(path, backend):
    """Warn when a ``LoggerBackend``'s logger would not write its lines (as the backend counts ``disabled``)."""
    if not isinstance(backend, LoggerBackend):
        return []
    logger, level = backend.event_logger, backend.levelno
    level_name = logging.getLevelName(level)
    if not logger.isEnabledFor(level):
        if logger.disabled:
            why = 'is disabled (a logging configuration with disable_existing_loggers?)'
        elif logging.root.manager.disable >= level:
            why = f'is covered by logging.disable({logging.getLevelName(logging.root.manager.disable)})'
        else:
            why = f'has the effective level {logging.getLevelName(logger.getEffectiveLevel())}'
        return [checks.Warning(
            f'{path}: logger {logger.name!r} does not write at the backend\'s level {level_name}: it {why}; every '
            'event is dropped (counted as disabled)',
            hint=f"Set the level of logger {logger.name!r} in LOGGING['loggers'] to {level_name} or lower.",
            id=W_LOGGER_FILTERED,
        )]
    last_resort = logging.lastResort
    if not logger.hasHandlers() and (last_resort is None or level < last_resort.level):
        return [checks.Warning(
            f'{path}: logger {logger.name!r} has no handler, nor has any logger it propagates to: every event '
            'goes nowhere (counted as disabled)',
            hint=f"Give logger {logger.name!r} a handler in LOGGING (a file handler for the tracking log).",
            id=W_LOGGER_NO_HANDLER,
        )]
    handlers = _reachable_handlers(logger)
    if handlers and all(handler.level > level for handler in handlers):
        levels = ', '.join(sorted({logging.getLevelName(handler.level) for handler in handlers}))
        return [checks.Warning(
            f'{path}: every handler of logger {logger.name!r} has a level above the backend\'s level '
            f'{level_name} ({levels}): every event goes nowhere',
            hint=f"Set the level of the handlers of logger {logger.name!r} in LOGGING['handlers'] to {level_name} "
                 'or lower.',
            id=W_LOGGER_FILTERED,
        )]
    return []


def _reachable_handlers(logger):
    """The handlers a record of ``logger`` reaches: its own and those of the loggers it propagates to."""
    handlers = []
    while logger is not None:
        handlers.extend(logger.handlers)
        logger = logger.parent if logger.propagate else None
    return handlers


def check_segment_backend(path, backend):
    """Warn when a ``SegmentBackend`` cannot send: no Segment library, or a client without a write key."""
    segment = sys.modules.get('eventtracking.backends.segment')
    if segment is None or not isinstance(backend, segment.SegmentBackend):
        return []
    analytics = segment.analytics
    if analytics is None:
        return [checks.Warning(
            f'{path}: the Segment library is not installed: no event reaches Segment (each is counted as '
            'unavailable)', hint=install_command('segment'), id=W_SEGMENT_NO_LIBRARY,
        )]
    client = getattr(analytics, 'default_client', None)
    write_key = getattr(client, 'write_key', None) if client is not None else getattr(analytics, 'write_key', None)
    if not write_key:
        return [checks.Warning(
            f'{path}: the Segment client has no write key: every event fails (counted as backend_error)',
            hint='Set analytics.write_key (segment.analytics) in your settings or app start-up, before any event.',
            id=W_SEGMENT_NO_WRITE_KEY,
        )]
    return []


def check_context_locator():
    """``EVENT_TRACKING_CONTEXT_LOCATOR`` must name a class whose instances have ``get()``."""
    if getattr(settings, DJANGO_CONTEXT_LOCATOR_SETTING_NAME, None) is None:
        return []
    try:
        context_locator_from_settings()
    except Exception as exc:  # pylint: disable=broad-except
        return [checks.Error(str(exc), hint='For example eventtracking.locator.ContextVarLocator', id=E_LOCATOR)]
    return []


def check_ignore_url_patterns():
    """Every entry of ``TRACKING_IGNORE_URL_PATTERNS`` must be a regular expression that compiles."""
    def invalid(pattern):
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            return f'{pattern!r} is not a valid regular expression: {exc}'
        return None

    return _check_each_entry(middleware.IGNORE_URL_PATTERNS_SETTING_NAME, 'regular expressions', E_IGNORE_PATTERN,
                             invalid)


def check_context_callables():
    """Every entry of ``EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES`` must be (or name) a callable."""
    def invalid(entry):
        try:
            middleware.resolve_callable(entry)
        except (ImportError, TypeError) as exc:
            return str(exc)
        return None

    return _check_each_entry(middleware.CONTEXT_CALLABLES_SETTING_NAME, 'callables or their dotted paths',
                             E_CONTEXT_CALLABLE, invalid,
                             hint='Each entry is a function taking the request and returning a dict.')


def _check_each_entry(name, kind, check_id, invalid, hint=None):
    """Errors for the list setting ``name``: not a list, or entries for which ``invalid`` returns a reason."""
    entries = getattr(settings, name, ())
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        return [checks.Error(f'{name}: must be a list of {kind}, not {type(entries).__name__}', id=check_id)]
    messages = []
    for index, entry in enumerate(entries):
        reason = invalid(entry)
        if reason is not None:
            messages.append(checks.Error(f'{item_path(name, index)}: {reason}', id=check_id, hint=hint))
    return messages


def check_middleware_order():
    """``TrackMiddleware`` must come after the session and authentication middleware it reads from."""
    stack = list(getattr(settings, 'MIDDLEWARE', None) or ())
    if TRACK_MIDDLEWARE not in stack:
        return []
    position = stack.index(TRACK_MIDDLEWARE)
    return [
        checks.Warning(
            f'MIDDLEWARE: {TRACK_MIDDLEWARE} comes before {earlier}, so the tracking context of every request '
            'misses what it sets (the session or the user)',
            hint=f'Move {TRACK_MIDDLEWARE} after {earlier}.', id=W_MIDDLEWARE_ORDER,
        )
        for earlier in MIDDLEWARE_BEFORE_TRACK
        if earlier in stack and stack.index(earlier) > position
    ]


def check_enabled():
    """Warn when backends are configured but the Django tracker is not enabled (events would go nowhere)."""
    if hasattr(settings, DJANGO_BACKEND_SETTING_NAME) and not hasattr(settings, DJANGO_ENABLED_SETTING_NAME):
        return [checks.Warning(
            f'{DJANGO_BACKEND_SETTING_NAME} is set but {DJANGO_ENABLED_SETTING_NAME} is not, so no tracker is '
            'built from it and events emitted through eventtracking.tracker are dropped',
            hint=f'Set {DJANGO_ENABLED_SETTING_NAME} = True (or False to silence this).', id=W_NOT_ENABLED,
        )]
    return []


def check_celery_context():
    """``EVENT_TRACKING_CELERY_CONTEXT`` must be a bool, needs Celery when True; the size limit a positive int."""
    messages = []
    enabled = getattr(settings, CELERY_CONTEXT_SETTING_NAME, False)
    if not isinstance(enabled, bool):
        messages.append(checks.Error(
            f'{CELERY_CONTEXT_SETTING_NAME}: must be True or False, not {enabled!r}', id=E_CELERY_CONTEXT))
    elif enabled and importlib.util.find_spec('celery') is None:
        messages.append(checks.Error(
            f'{CELERY_CONTEXT_SETTING_NAME} is True but Celery is not installed, so no context reaches the tasks',
            hint=install_command('celery'), id=E_CELERY_MISSING))
    if not hasattr(settings, CELERY_CONTEXT_MAX_BYTES_SETTING_NAME):
        return messages
    max_bytes = getattr(settings, CELERY_CONTEXT_MAX_BYTES_SETTING_NAME)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        messages.append(checks.Error(
            f'{CELERY_CONTEXT_MAX_BYTES_SETTING_NAME}: must be a positive integer (bytes), not {max_bytes!r}',
            hint='The default is 8192.', id=E_CELERY_CONTEXT_MAX_BYTES))
    elif enabled is not True:
        messages.append(checks.Warning(
            f'{CELERY_CONTEXT_MAX_BYTES_SETTING_NAME} is set but {CELERY_CONTEXT_SETTING_NAME} is not True, '
            'so contexts are not sent with tasks and the limit has no effect',
            hint=f'Set {CELERY_CONTEXT_SETTING_NAME} = True.', id=W_CELERY_CONTEXT_MAX_BYTES_UNUSED))
    return messages


def check_session_hash():
    """``EVENT_TRACKING_SESSION_HASH`` must name one of the session hashes of the middleware."""
    name = middleware.SESSION_HASH_SETTING_NAME
    method = getattr(settings, name, middleware.SESSION_HASH_BLAKE2B)
    if isinstance(method, str) and method in middleware.SESSION_HASHES:
        return []
    return [checks.Error(
        f'{name}: unknown session hash {method!r}; sessions would be hashed with {middleware.SESSION_HASH_BLAKE2B!r}',
        hint='One of ' + ', '.join(map(repr, middleware.SESSION_HASHES)) + '.', id=E_SESSION_HASH,
    )]


def check_censored_keys():
    """Every entry of ``EVENT_TRACKING_CENSORED_KEYS`` must be a key to censor (``'nhs_number'``, ``'*voucher*'``)."""
    def invalid(entry):
        try:
            censoring.normalized_entry(entry)
        except ValueError as exc:
            return str(exc)
        return None

    return _check_each_entry(censoring.CENSORED_KEYS_SETTING_NAME, 'parameter keys', E_CENSORED_KEY, invalid,
                             hint="A key such as 'nhs_number', or '*voucher*' to match it anywhere in a key.")


@checks.register(TAG)
def check_event_types(app_configs=None, **kwargs):  # pylint: disable=unused-argument
    """Django system check: each ``tracking_events`` module that failed to import at start-up, with its error."""
    from eventtracking.django import event_types  # pylint: disable=import-outside-toplevel
    return [
        checks.Error(
            f'{module}: the event types cannot be imported: {type(exc).__name__}: {exc}',
            hint='Fix the definition (see eventtracking.registry); an ImportError naming an extra means: '
                 f"{install_command('schema')}.",
            obj=module, id=E_EVENT_TYPES_MODULE,
        )
        for module, exc in sorted(event_types.FAILURES.items())
    ]
