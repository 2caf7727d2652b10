"""The two-app project plus ``broken``, whose ``tracking_events`` holds a bad definition."""

from tests.django.eventtypes_project.settings import *  # noqa: F401,F403  pylint: disable=wildcard-import

INSTALLED_APPS = INSTALLED_APPS + ['tests.django.eventtypes_project.broken']  # noqa: F405
