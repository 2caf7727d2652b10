"""``manage.py eventtracking_spool``: list the spool files of the ``AsyncRoutingBackend`` nodes; ``--replay`` them.

The spool directories are the ``spool_dir`` options found in
``EVENT_TRACKING_BACKENDS`` at any depth, or those given with ``--spool-dir``.
For each spool file it prints the backend, the events and bytes pending, the
age of the oldest, records quarantined, and whether a running process holds it
(that process publishes it itself). ``--replay`` publishes every file no
process holds, as ``eventtracking.tasks.send_events`` tasks through the
current Celery app (each batch with the id it keeps on every republish), and
removes each file once all of it is published.
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eventtracking.django.async_checks import async_nodes, options_of
from eventtracking.django.django_tracker import DJANGO_BACKEND_SETTING_NAME
from eventtracking.spool import Spool, spool_status

REPLAY_BATCH_SIZE = 100


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
        directories = options['spool_dirs'] or configured_spool_dirs()
        if not directories:
            raise CommandError(f'No AsyncRoutingBackend in {DJANGO_BACKEND_SETTING_NAME} has a spool_dir; '
                               'name a directory with --spool-dir.')
        total = 0
        for directory in directories:
            files = [item for item in spool_status(directory) if item['state'] != 'quarantined']
            self.stdout.write(f'{directory}: {len(files)} spool file(s)')
            for item in files:
                total += item['events']
                age = 'nothing pending' if item['oldest_age'] is None else f"oldest {item['oldest_age']:.0f} s"
                quarantined = f", {item['quarantined']} record(s) quarantined" if item['quarantined'] else ''
                holder = ', held by a running process' if item['state'] == 'live' else ''
                self.stdout.write(f"  {os.path.basename(item['path'])}: backend {item['backend']!r}, "
                                  f"{item['events']} event(s), {age}, {item['bytes']} bytes{quarantined}{holder}")
        if not options['replay']:
            self.stdout.write(f'{total} event(s) wait in the spool')
            return
        published = sum(self._replay(directory, sorted({item['backend'] for item in spool_status(directory)
                                                        if item['state'] != 'quarantined'}))
                        for directory in directories)
        left = sum(item['events'] for directory in directories for item in spool_status(directory)
                   if item['state'] != 'quarantined')
        self.stdout.write(f'Published {published} event(s); {left} event(s) left in the spool')
        if self._failed:
            raise CommandError(f'The spool of {", ".join(map(repr, self._failed))} could not be published: '
                               'the broker failed')

    _failed = ()

    def _replay(self, directory, backends):
        """Publish the files of ``backends`` in ``directory`` that no process holds; return the events published."""
        from eventtracking import tasks  # pylint: disable=import-outside-toplevel

        self._failed = list(self._failed)
        total = 0
        for backend in backends:
            spool = Spool(directory, backend)
            taken = spool.adopt_orphans()
            published = 0
            try:
                batch = spool.next_batch(REPLAY_BATCH_SIZE)
                while batch is not None:
                    if batch.events:
                        tasks.send_events.delay(backend, batch.events, batch_id=batch.id)
                    spool.commit(batch)
                    published += len(batch.events)
                    batch = spool.next_batch(REPLAY_BATCH_SIZE)
            except Exception as exc:  # pylint: disable=broad-except
                self.stderr.write(f'Backend {backend!r}: published {published} of {taken} event(s), '
                                  f'then the broker failed: {exc!r}; the rest stays in the spool')
                self._failed.append(backend)
            else:
                self.stdout.write(f'Backend {backend!r}: published {published} event(s)')
            finally:
                spool.close()
            total += published
        return total


def configured_spool_dirs():
    """The ``spool_dir`` of every AsyncRoutingBackend in ``EVENT_TRACKING_BACKENDS``, at any depth, once each."""
    directories = []
    for _, _, node in async_nodes(getattr(settings, DJANGO_BACKEND_SETTING_NAME, {})):
        spool_dir = options_of(node).get('spool_dir')
        if spool_dir and spool_dir not in directories:
            directories.append(str(spool_dir))
    return directories
