"""``manage.py eventtracking_catalog``: print the catalog of every registered event type.

The installed apps' ``tracking_events`` modules are imported at start-up, so
the catalog holds every type they define. ``--format`` is ``markdown`` (the
default), ``rst`` or ``json`` (the form to keep beside the tracking logs: see
:mod:`eventtracking.catalog`); ``--module`` imports more modules first and
``--output`` writes to a file instead of standard output.
"""

import importlib

from django.core.management.base import BaseCommand, CommandError

from eventtracking.catalog import FORMATS, render
from eventtracking.django import event_types


class Command(BaseCommand):
    """Print the event type catalog."""

    help = 'Print the catalog of the registered event types (name, description, fields, JSON Schema, example).'

    def add_arguments(self, parser):
        parser.add_argument('--format', choices=FORMATS, default='markdown', help='the output format')
        parser.add_argument('--module', action='append', default=[], metavar='MOD',
                            help='also import this module, so that its event types are registered (repeatable)')
        parser.add_argument('--output', metavar='FILE', help='write the catalog to this file')

    def handle(self, *args, **options):
        if event_types.FAILURES:
            raise CommandError('; '.join(
                f'{module}: the event types cannot be imported: {type(exc).__name__}: {exc}'
                for module, exc in sorted(event_types.FAILURES.items())
            ))
        for module in options['module']:
            try:
                importlib.import_module(module)
            except Exception as exc:
                raise CommandError(f'{module}: cannot be imported: {type(exc).__name__}: {exc}') from exc
        text = render(options['format'])
        if options['output']:
            with open(options['output'], 'w', encoding='utf-8') as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending='')
