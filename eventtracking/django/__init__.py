"""Django integration: a tracker built from settings, request-context middleware and system checks.

Add ``'eventtracking.django'`` to ``INSTALLED_APPS`` (its app config,
:class:`eventtracking.django.apps.EventTrackingConfig`, registers a
:class:`DjangoTracker` as the default tracker when ``EVENT_TRACKING_ENABLED``
is true, and the system checks) and
``'eventtracking.django.middleware.TrackMiddleware'`` to ``MIDDLEWARE``.
Needs Django: ``pip install './eventtracking[django]'``.
"""

from eventtracking._extras import missing_extra

try:
    import django  # noqa: F401  pylint: disable=unused-import
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise missing_extra('django', __name__, exc) from exc

from eventtracking.django.django_tracker import DjangoTracker  # noqa: E402

__all__ = ['DjangoTracker']
