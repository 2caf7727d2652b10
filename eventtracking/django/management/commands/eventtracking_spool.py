"""``manage.py eventtracking_spool``: list the spool files of the ``AsyncRoutingBackend`` nodes; ``--replay`` them.

The spool directories are the ``spool_dir`` options found in
``EVENT_TRACKING_BACKENDS`` at any depth, or those given with ``--spool-dir``.
For each spool file it prints the backend, the events and batches it holds,
its age, its size, and whether a running process holds it (that process
publishes it itself). ``--replay`` publishes every file no process holds, as
``eventtracking.tasks.send_events`` tasks through the current Celery app, and
removes each file once all of it is published.
"""

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eventtracking.django.async_checks import async_nodes, options_of
from eventtracking.django.django_tracker import DJANGO_BACKEND_SETTING_NAME
from eventtracking.spool import Spool, created_at, describe, spool_files


class Command(BaseCommand):
    """List (and with ``--replay`` publish) the spool files of the asynchronous routing backends."""

    help = ('List the spool files of the AsyncRoutingBackend nodes (events, age, size); '
            '--replay publishes those no running process holds.')

    def add_arguments(self, parser):
        parser.add_argument('--replay', action='store_true',
                            help='Publish the spooled events now (files held by a running process are skipped).')
        parser.add_argument('--spool-dir', action='append', dest='spool_dirs', default=None,
                            help='A spool directory to look in (repeatable); default: every spool_dir in '
                                 f'{DJANGO_BACKEND_SETTING_NAME}.')

    def handle(self, *args, **options):
        from kombu.utils.json import dumps, loads  # pylint: disable=import-outside-toplevel

        directories = options['spool_dirs'] or configured_spool_dirs()
        if not directories:
            raise CommandError(f'No AsyncRoutingBackend in {DJANGO_BACKEND_SETTING_NAME} has a spool_dir; '
                               'name a directory with --spool-dir.')
        now = time.time()
        total = 0
        for directory in directories:
            files = spool_files(directory)
            self.stdout.write(f'{directory}: {len(files)} spool file(s)')
            for path, backend in files:
                info = describe(path, loads)
                total += info['events']
                created = created_at(os.path.basename(path))
                age = f'{now - created:.0f} s' if created is not None else 'unknown age'
                holder = ', held by a running process' if info['held'] else ''
                self.stdout.write(f"  {os.path.basename(path)}: backend {backend!r}, {info['events']} event(s) in "
                                  f"{info['batches']} batch(es), {age}, {info['size']} bytes{holder}")
            if options['replay']:
                self._replay(directory, files, dumps, loads)
        self.stdout.write(f'{total} spooled event(s) in all')

    def _replay(self, directory, files, dumps, loads):
        from eventtracking import tasks  # pylint: disable=import-outside-toplevel

        failed = []
        for backend in sorted({backend for _, backend in files}):
            spool = Spool(directory, backend, dumps, loads)
            taken = spool.adopt_orphans()
            published = []

            def publish(events, backend=backend, published=published):
                tasks.send_events.delay(backend, events)
                published.append(len(events))

            try:
                spool.replay(publish)
            except Exception as exc:  # pylint: disable=broad-except
                self.stderr.write(f'Backend {backend!r}: published {sum(published)} of {taken} event(s), '
                                  f'then the broker failed: {exc!r}; the rest stays in the spool')
                failed.append(backend)
            else:
                self.stdout.write(f'Backend {backend!r}: published {sum(published)} event(s)')
            finally:
                spool.close()
        if failed:
            raise CommandError(f'The spool of {", ".join(map(repr, failed))} could not be published: the broker failed')


def configured_spool_dirs():
    """The ``spool_dir`` of every AsyncRoutingBackend in ``EVENT_TRACKING_BACKENDS``, at any depth, once each."""
    directories = []
    for _, _, node in async_nodes(getattr(settings, DJANGO_BACKEND_SETTING_NAME, {})):
        spool_dir = options_of(node).get('spool_dir')
        if spool_dir and spool_dir not in directories:
            directories.append(str(spool_dir))
    return directories
