"""Fixtures for the Django integration tests: a test site and a recording tracker."""

import pytest

from eventtracking import tracker
from eventtracking.django import DjangoTracker

TRACK_MIDDLEWARE = 'eventtracking.django.middleware.TrackMiddleware'
SITE_MIDDLEWARE = [
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    TRACK_MIDDLEWARE,
]
RECORDING_BACKENDS = {'recorder': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}


@pytest.fixture
def site(settings):
    """The test URLs behind session, authentication and tracking middleware; cookie sessions (no database)."""
    settings.ROOT_URLCONF = 'tests.django.urls'
    settings.MIDDLEWARE = list(SITE_MIDDLEWARE)
    settings.SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
    settings.EVENT_TRACKING_BACKENDS = RECORDING_BACKENDS
    settings.EVENT_TRACKING_PROCESSORS = []
    return settings


@pytest.fixture
def recorder(site):
    """A DjangoTracker built from the settings, registered as the default; returns its recording backend."""
    django_tracker = DjangoTracker()
    tracker.register_tracker(django_tracker)
    return django_tracker.get_backend('recorder')
