"""A tracker whose backends and processors are built from Django settings.

::

    EVENT_TRACKING_ENABLED = True
    EVENT_TRACKING_BACKENDS = {
        'tracking_logs': {
            'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
            'OPTIONS': {
                'backends': {
                    'logger': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                               'OPTIONS': {'name': 'tracking', 'max_event_size': 50000}},
                },
                'processors': [
                    {'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                     'OPTIONS': {'filter_type': 'blocklist', 'regular_expressions': [r'^edx\\.internal\\.']}},
                ],
            },
        },
    }
    EVENT_TRACKING_PROCESSORS = []

Any dict with an ``ENGINE`` key, anywhere in these trees (in dicts or lists),
becomes an instance of that class constructed with its ``OPTIONS`` (built the
same way first) as keyword arguments. ``manage.py check`` reports every
mistake in these settings with its setting path (see
:mod:`eventtracking.django.checks`).

Contexts are kept with :class:`~eventtracking.locator.ContextVarLocator` by
default, not with the thread-local locator the original library used: under
ASGI, Django runs every synchronous view of every concurrent request on one
shared thread and the middleware on the event loop's thread, so thread-local
contexts leak from one request's events into another's. A ``ContextVar``
follows each request's asyncio task and is carried into the thread that runs
its synchronous code, and under WSGI it is per thread like a thread-local.
``EVENT_TRACKING_CONTEXT_LOCATOR`` (the dotted path of a locator class) picks
another one, for example ``'eventtracking.locator.ThreadLocalContextLocator'``.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from eventtracking import tracker
from eventtracking.django.settings_tree import TreeBuilder
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.locator import ContextVarLocator
from eventtracking.tracker import Tracker

DJANGO_BACKEND_SETTING_NAME = 'EVENT_TRACKING_BACKENDS'
DJANGO_PROCESSOR_SETTING_NAME = 'EVENT_TRACKING_PROCESSORS'
DJANGO_ENABLED_SETTING_NAME = 'EVENT_TRACKING_ENABLED'
DJANGO_CONTEXT_LOCATOR_SETTING_NAME = 'EVENT_TRACKING_CONTEXT_LOCATOR'

DEFAULT_CONTEXT_LOCATOR = ContextVarLocator


class DjangoTracker(Tracker):
    """A :class:`~eventtracking.tracker.Tracker` built from the Django settings.

    Backends come from the setting named ``backends_settings_name`` (a dict,
    default ``EVENT_TRACKING_BACKENDS``), processors from
    ``processors_settings_name`` (a list, default ``EVENT_TRACKING_PROCESSORS``).
    An ENGINE that cannot be imported raises ``ValueError('Cannot find class <path>')``;
    a constructor's own exception (``TypeError`` for an unknown option,
    ``ImproperlyConfigured`` for a bad regular expression, ...) propagates.
    Both carry a note naming the setting path.

    ``context_locator`` defaults to the one ``EVENT_TRACKING_CONTEXT_LOCATOR``
    names, else :class:`~eventtracking.locator.ContextVarLocator`.
    """

    def __init__(
        self,
        backends_settings_name=DJANGO_BACKEND_SETTING_NAME,
        processors_settings_name=DJANGO_PROCESSOR_SETTING_NAME,
        context_locator=None,
    ):
        backends = self.create_backends_from_settings(backends_settings_name)
        processors = self.create_processors_from_settings(processors_settings_name)
        super().__init__(backends, context_locator or context_locator_from_settings(), processors)
        name_backends_by_path(self.backends)

    def create_backends_from_settings(self, settings_name):
        """Build the backends configured in the setting ``settings_name`` (a dict of name -> ENGINE node)."""
        config = getattr(settings, settings_name, {})
        return TreeBuilder(strict=True).build_backends(config, settings_name)

    def create_processors_from_settings(self, settings_name):
        """Build the processors configured in the setting ``settings_name`` (a list of ENGINE nodes)."""
        config = getattr(settings, settings_name, [])
        return TreeBuilder(strict=True).build_processors(config, settings_name)

    def _instantiate_objects(self, node, path='<settings>'):
        """Return ``node`` with every ENGINE dict in it (or itself) replaced by its instance."""
        return TreeBuilder(strict=True).build(node, path)

    def _instantiate_from_dict(self, values, path='<settings>'):
        """Construct the object an ENGINE dict describes, with its OPTIONS built first."""
        return TreeBuilder(strict=True).build(dict(values), path)


def name_backends_by_path(backends, prefix=''):
    """Give every backend that is found by its path (``named_by_path``) and has no ``backend_name`` its dotted path.

    The path is the names from the root joined by dots (``'analytics.xapi'``),
    as :func:`eventtracking.tasks.find_backend` follows it in a Celery worker.
    """
    for name, backend in backends.items():
        path = f'{prefix}{name}'
        if getattr(backend, 'named_by_path', False) and not getattr(backend, 'backend_name', None):
            backend.backend_name = path
        children = getattr(backend, 'backends', None)
        if hasattr(children, 'items'):
            name_backends_by_path(children, path + '.')


def context_locator_from_settings():
    """A new instance of the locator ``EVENT_TRACKING_CONTEXT_LOCATOR`` names (default :class:`ContextVarLocator`).

    Raises ``ImproperlyConfigured`` when the setting names nothing importable or
    something without a ``get()`` method.
    """
    path = getattr(settings, DJANGO_CONTEXT_LOCATOR_SETTING_NAME, None)
    if path is None:
        return DEFAULT_CONTEXT_LOCATOR()
    try:
        locator_class = import_string(path) if isinstance(path, str) else path
        locator = locator_class()
    except Exception as exc:  # pylint: disable=broad-except
        raise ImproperlyConfigured(
            f'{DJANGO_CONTEXT_LOCATOR_SETTING_NAME} = {path!r}: cannot make a context locator of it: '
            f'{type(exc).__name__}: {exc}'
        ) from exc
    if not callable(getattr(locator, 'get', None)):
        raise ImproperlyConfigured(
            f'{DJANGO_CONTEXT_LOCATOR_SETTING_NAME} = {path!r}: {type(locator).__name__} has no get() method, '
            'so it is not a context locator'
        )
    return locator


def override_default_tracker():
    """Register a :class:`DjangoTracker` as the default tracker when ``EVENT_TRACKING_ENABLED`` is true."""
    if getattr(settings, DJANGO_ENABLED_SETTING_NAME, False):
        tracker.register_tracker(DjangoTracker())
