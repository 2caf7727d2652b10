"""The Django app of eventtracking: builds the default tracker from settings and registers the system checks."""

import importlib.util
import logging

from django.apps import AppConfig

from eventtracking.exceptions import ImproperlyConfigured

LOG = logging.getLogger(__name__)


class EventTrackingConfig(AppConfig):
    """``INSTALLED_APPS`` entry ``'eventtracking.django'`` (label ``eventtracking_django``).

    The label spells out the project so that it is not the bare, ambiguous ``django``.
    """

    name = 'eventtracking.django'
    label = 'eventtracking_django'
    verbose_name = 'Event tracking'

    def ready(self):
        """Register the system checks, make a :class:`~eventtracking.django.DjangoTracker` the default tracker,
        connect the event-bus handler when ``openedx-events`` is installed, and import every installed
        app's ``tracking_events`` module (:func:`eventtracking.django.event_types.autodiscover`).

        A configuration error does not stop Django from starting: it is logged
        here and ``manage.py check`` (run by ``runserver``, ``migrate`` and the
        test runner too) reports each problem with its setting path. Until it
        is fixed no tracker is registered, and each emitted event is dropped
        with a WARNING and counted in ``eventtracking.tracker.UNROUTED``.
        """
        super().ready()
        # pylint: disable=import-outside-toplevel
        from eventtracking.django import checks, event_types
        from eventtracking.django.django_tracker import override_default_tracker

        checks.register()
        try:
            override_default_tracker()
        except (ValueError, TypeError, ImproperlyConfigured) as exc:
            LOG.error('%s; %s', _one_line(exc), _CONSEQUENCE)
        except Exception:  # pylint: disable=broad-except
            LOG.exception('The event-tracking settings could not be built; %s', _CONSEQUENCE)
        connect_event_bus_handler()
        event_types.autodiscover()


def connect_event_bus_handler():
    """Connect :func:`eventtracking.handlers.send_tracking_log_to_backends` to ``TRACKING_EVENT_EMITTED``.

    Importing the handlers module connects it; without ``openedx-events`` (the
    ``eventbus`` extra) there is no event bus to listen to, and nothing is done.
    Returns whether the handler is connected.
    """
    if importlib.util.find_spec('openedx_events') is None:
        return False
    import eventtracking.handlers  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    return True


_CONSEQUENCE = (
    'no default tracker is registered and events are dropped. Run "manage.py check" to see every problem '
    'in the event-tracking settings with its setting path'
)


def _one_line(exc):
    notes = ' '.join(getattr(exc, '__notes__', ()))
    return f'Event tracking is not set up: {type(exc).__name__}: {exc}' + (f' ({notes})' if notes else '')
