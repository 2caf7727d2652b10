"""Settings of the two-app project (``courses`` and ``videos``); kept apart from ``tests/settings.py``."""

SECRET_KEY = 'eventtracking-autodiscovery-tests-not-a-secret'
USE_TZ = True
DATABASES = {}
INSTALLED_APPS = [
    'eventtracking.django',
    'tests.django.eventtypes_project.courses',
    'tests.django.eventtypes_project.videos',
]
EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {'mem': {'ENGINE': 'eventtracking.testing.backends.InMemoryBackend'}}
EVENT_TRACKING_PROCESSORS = [
    {'ENGINE': 'eventtracking.processors.schema.EventTypeValidator', 'OPTIONS': {'invalid': 'drop'}},
]
