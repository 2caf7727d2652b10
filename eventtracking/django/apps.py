"""The Django app of eventtracking: builds the default tracker from settings and registers the system checks."""

import importlib.util
import logging
import os
import sys

from django.apps import AppConfig
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV

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
        connect the event-bus handler when ``openedx-events`` is installed, carry the contexts into Celery
        tasks when ``EVENT_TRACKING_CELERY_CONTEXT`` is True, export metrics as ``EVENT_TRACKING_METRICS``
        says (:mod:`eventtracking.django.metrics_setup`), and import every installed app's
        ``tracking_events`` module (:func:`eventtracking.django.event_types.autodiscover`).

        A configuration error does not stop Django from starting: it is logged
        here, in one line naming each problem's setting path (as ``manage.py
        check``, run by ``runserver``, ``migrate`` and the test runner too,
        reports them), once per start (under ``runserver``'s autoreloader, by
        the process that serves). Until it is fixed no tracker is registered,
        and each emitted event is dropped with a WARNING and counted in
        ``eventtracking.tracker.UNROUTED``.
        """
        super().ready()
        # pylint: disable=import-outside-toplevel
        from eventtracking.django import checks, event_types, metrics_setup  # importing checks registers them
        from eventtracking.django.django_tracker import override_default_tracker

        metrics_setup.enable_from_settings()
        try:
            override_default_tracker()
        except (ValueError, TypeError, ImproperlyConfigured) as exc:
            if not _is_autoreloader_parent():
                LOG.error('%s; %s', _start_up_line(exc, checks.configuration_errors()), _consequence())
        except Exception:  # pylint: disable=broad-except
            if not _is_autoreloader_parent():
                LOG.exception('The event-tracking settings could not be built; %s', _consequence())
        connect_event_bus_handler()
        propagate_celery_context()
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


def propagate_celery_context():
    """Call :func:`eventtracking.celery.propagate_context` when ``EVENT_TRACKING_CELERY_CONTEXT`` is True.

    Its size limit is ``EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES``. With a bad
    value, or without Celery, nothing is connected: the error is logged here
    and reported by ``manage.py check`` (``eventtracking.E040`` to ``E042``).
    Returns whether the contexts are propagated.
    """
    # pylint: disable=import-outside-toplevel
    from django.conf import settings

    from eventtracking.django import checks

    if getattr(settings, checks.CELERY_CONTEXT_SETTING_NAME, False) is not True:
        return False
    errors = [message for message in checks.check_celery_context() if message.is_serious()]
    if errors:
        LOG.error('Contexts are not sent with Celery tasks: %s', '; '.join(message.msg for message in errors))
        return False
    from eventtracking.celery import DEFAULT_MAX_BYTES, propagate_context

    propagate_context(max_bytes=getattr(settings, checks.CELERY_CONTEXT_MAX_BYTES_SETTING_NAME, DEFAULT_MAX_BYTES))
    return True


def _consequence():
    """What the failure means, and (unless the user is running it now) to run ``manage.py check``."""
    consequence = 'no default tracker is registered and events are dropped'
    if _command() == 'check':
        return consequence
    return (f'{consequence}. Run "manage.py check" to see every problem in the event-tracking settings '
            'with its setting path and a hint')


def _start_up_line(exc, errors):
    """One line for a failed start: the settings' errors with their paths (as the checks word them), then ``exc``.

    The checks name the setting path of every problem and, for a backend
    whose extra is not installed, the extra; ``exc`` is what building the
    tracker raised, with its cause.
    """
    raised = f'{type(exc).__name__}: {exc}'
    notes = ' '.join(getattr(exc, '__notes__', ()))
    if notes:
        raised += f' ({notes})'
    if exc.__cause__ is not None and not errors:
        raised += f': {exc.__cause__}'
    if not errors:
        return f'Event tracking is not set up: {raised}'
    listed = '; '.join(errors)
    return f'Event tracking is not set up: {len(errors)} error(s) in the settings: {listed} (at start-up: {raised})'


def _command():
    """The ``manage.py`` (or ``django-admin``) subcommand this process runs, or None."""
    return sys.argv[1] if len(sys.argv) > 1 else None


def _is_autoreloader_parent():
    """True in the process of ``runserver`` that only watches files: its child, which serves, logs instead."""
    return (_command() == 'runserver' and '--noreload' not in sys.argv
            and os.environ.get(DJANGO_AUTORELOAD_ENV) != 'true')
