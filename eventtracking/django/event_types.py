"""Autodiscovery of event types: each installed app's ``tracking_events`` module, imported at start-up.

Like the admin's ``admin`` modules: an app that defines its event types in
``<app>/tracking_events.py`` has them registered (see :mod:`eventtracking.registry`)
before the first request, without importing the module itself. A module that
fails to import (a bad definition raises ``ImproperlyConfigured``) does not
stop Django: the failure is logged here, kept in :data:`FAILURES`, and the
system check ``eventtracking.E030`` reports it with the module's name.
"""

import logging
from importlib import import_module

from django.apps import apps
from django.utils.module_loading import module_has_submodule

MODULE_NAME = 'tracking_events'
"""The module of each installed app that is imported at start-up."""

FAILURES = {}
"""Dotted module name -> the exception its import raised, from the last :func:`autodiscover`."""

LOG = logging.getLogger(__name__)


def autodiscover():
    """Import every installed app's ``tracking_events`` module; return the names of those imported.

    Each failure is logged at ERROR and recorded in :data:`FAILURES` (for the
    system check); the other apps' modules are imported all the same.
    """
    FAILURES.clear()
    imported = []
    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, MODULE_NAME):
            continue
        module_name = f'{app_config.name}.{MODULE_NAME}'
        try:
            import_module(module_name)
        except Exception as exc:  # pylint: disable=broad-except  # reported by the system check
            FAILURES[module_name] = exc
            LOG.error('Could not import the event types of %s: %s: %s', module_name, type(exc).__name__, exc)
        else:
            imported.append(module_name)
    return imported
