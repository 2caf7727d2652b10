"""``manage.py eventtracking_status``: what waits to be delivered, per backend and spool directory; a health check.

The backends are the ``AsyncRoutingBackend`` nodes of ``EVENT_TRACKING_BACKENDS``
that have a ``spool_dir`` (each listed even when nothing of theirs waits),
plus the directories given with ``--spool-dir``. Prints, per backend, the
events and bytes pending, the age of the oldest, each spool file's owner (a
live process, or orphaned) and quarantined records; with ``prometheus_client``'s
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``), the library's metrics summed
over every process. ``--json`` prints one JSON object. Exits 1 when a file is
orphaned, records are quarantined, or the oldest pending event is older than
``--max-age`` seconds (see :mod:`eventtracking.status`), 2 for a usage error.
"""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eventtracking.django.async_checks import async_nodes, options_of
from eventtracking.django.django_tracker import DJANGO_BACKEND_SETTING_NAME
from eventtracking.metrics import multiprocess_directory
from eventtracking.status import collect, render

USAGE_ERROR = 2
"""The exit status of a usage error (as ``eventtracking status``'s): 1 means that the spools need an operator."""


class Command(BaseCommand):
    """Show the delivery status of the asynchronous routing backends; exit 1 when it needs an operator."""

    help = ('Events waiting in the spools of the AsyncRoutingBackend nodes: per backend, pending events and bytes, '
            'the oldest age, owners (live or orphaned), quarantined records. Exit status 1 when anything is '
            'orphaned, quarantined or older than --max-age.')

    def add_arguments(self, parser):
        parser.add_argument('--spool-dir', action='append', dest='spool_dirs', default=[],
                            help='Another spool directory to look in (repeatable).')
        parser.add_argument('--max-age', type=float, default=None,
                            help='Seconds: a pending event older than this is a problem (exit status 1).')
        parser.add_argument('--prometheus-dir', default=None,
                            help='prometheus_client multiprocess files to sum (default: $PROMETHEUS_MULTIPROC_DIR).')
        parser.add_argument('--json', action='store_true', help='Print the status as one JSON object.')

    def handle(self, *args, **options):
        backends = configured_spools()
        if not backends and not options['spool_dirs']:
            raise CommandError(f'No AsyncRoutingBackend in {DJANGO_BACKEND_SETTING_NAME} has a spool_dir; '
                               'name a directory with --spool-dir.', returncode=USAGE_ERROR)
        if options['max_age'] is not None and not options['max_age'] >= 0:
            raise CommandError('--max-age must be a number of seconds, 0 or more', returncode=USAGE_ERROR)
        status = collect(options['spool_dirs'], max_age=options['max_age'], backends=backends,
                         prometheus_dir=options['prometheus_dir'] or multiprocess_directory())
        if options['json']:
            self.stdout.write(json.dumps(status, indent=2, sort_keys=True))
        else:
            for line in render(status):
                self.stdout.write(line)
        if not status['healthy']:
            sys.exit(1)


def configured_spools():
    """``{backend name: spool_dir}`` of every AsyncRoutingBackend with a ``spool_dir`` in ``EVENT_TRACKING_BACKENDS``.

    The backend name is its ``backend_name`` option, or its dotted path (as
    the :class:`~eventtracking.django.django_tracker.DjangoTracker` names it).
    """
    found = {}
    for names, _, node in async_nodes(getattr(settings, DJANGO_BACKEND_SETTING_NAME, {})):
        options = options_of(node)
        if options.get('spool_dir'):
            found[options.get('backend_name') or '.'.join(names)] = str(options['spool_dir'])
    return found
