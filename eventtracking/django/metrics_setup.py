"""``EVENT_TRACKING_METRICS``: turns the metrics export on at start-up, and its system checks (E100-E109).

* ``eventtracking.E100``: ``EVENT_TRACKING_METRICS`` not None, ``'prometheus'`` or ``'opentelemetry'``;
* ``eventtracking.E101``: the library of that kind (its install extra) not installed;
* ``eventtracking.E102``: ``PROMETHEUS_MULTIPROC_DIR`` set but not a writable directory.
"""

import importlib.util
import logging
import os

from django.conf import settings
from django.core import checks

from eventtracking import metrics
from eventtracking._extras import install_command
from eventtracking.django.check_ids import TAG

LOG = logging.getLogger(__name__)

METRICS_SETTING_NAME = 'EVENT_TRACKING_METRICS'
E_METRICS_KIND = 'eventtracking.E100'
E_METRICS_LIBRARY = 'eventtracking.E101'
E_MULTIPROC_DIR = 'eventtracking.E102'

LIBRARIES = {metrics.PROMETHEUS: ('prometheus_client', 'prometheus'),
             metrics.OPENTELEMETRY: ('opentelemetry.metrics', 'opentelemetry')}
"""kind -> (the module it needs, the install extra that brings it)."""


def enable_from_settings():
    """Call :func:`eventtracking.metrics.enable` with ``EVENT_TRACKING_METRICS``; returns the kind, or None.

    With an error the checks report, metrics stay off and the error is logged (the app's ``ready()`` calls it).
    """
    kind = getattr(settings, METRICS_SETTING_NAME, None)
    errors = [message for message in check_metrics() if message.is_serious()]
    if errors:
        LOG.error('Metrics are not exported: %s', '; '.join(message.msg for message in errors))
        return None
    metrics.enable(kind)
    return kind


@checks.register(TAG)
def check_metrics(app_configs=None, **kwargs):  # pylint: disable=unused-argument
    """Django system check of ``EVENT_TRACKING_METRICS`` (and, for Prometheus, of ``PROMETHEUS_MULTIPROC_DIR``)."""
    kind = getattr(settings, METRICS_SETTING_NAME, None)
    if kind not in metrics.KINDS:
        return [checks.Error(f'{METRICS_SETTING_NAME}: must be None, {metrics.PROMETHEUS!r} or '
                             f'{metrics.OPENTELEMETRY!r}, not {kind!r}', id=E_METRICS_KIND)]
    if kind is None:
        return []
    module, extra = LIBRARIES[kind]
    if not _installed(module):
        return [checks.Error(f'{METRICS_SETTING_NAME} is {kind!r} but {module.partition(".")[0]!r} is not installed',
                             hint=install_command(extra), id=E_METRICS_LIBRARY)]
    directory = metrics.multiprocess_directory()
    if kind == metrics.PROMETHEUS and directory and not (os.path.isdir(directory) and
                                                          os.access(directory, os.W_OK | os.X_OK)):
        return [checks.Error(
            f'PROMETHEUS_MULTIPROC_DIR (environment): {directory!r} is not a writable directory, so '
            'prometheus_client cannot record this process\'s metrics',
            hint='Create it (empty) before the workers start, writable by their user.', id=E_MULTIPROC_DIR)]
    return []


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package is missing
        return False
