"""``eventtracking catalog``: the registered event types as Markdown, reStructuredText or JSON.

The same text as ``manage.py eventtracking_catalog``, without Django: the
modules given with ``--module`` are imported first, so that the types they
define are registered (see :mod:`eventtracking.catalog`).
"""

import sys

from eventtracking.cli.common import EXIT_OK, import_catalog

FORMATS = ('markdown', 'rst', 'json')
"""The formats of :func:`eventtracking.catalog.render` (kept here so that ``--help`` needs no registry)."""


def add_parser(subparsers):
    """Add the ``catalog`` subcommand."""
    parser = subparsers.add_parser(
        'catalog', help='print the catalog of the event types that modules register',
        description='Import each MODULE (which registers event types with eventtracking.registry) and print '
                    'the catalog of every registered type: name, description, version, owner, fields, JSON '
                    'Schema and example. The JSON form is the one to keep beside the tracking logs.',
    )
    parser.add_argument('--module', action='append', default=[], metavar='MODULE', required=True,
                        help='a module that registers event types (repeatable)')
    parser.add_argument('--format', choices=FORMATS, default='markdown', help='default: markdown')
    parser.set_defaults(run=run)


def run(args):
    """Print the catalog; exit status 2 (with one line) when a module or the registry cannot be imported."""
    catalog = import_catalog('--module', args.module, registry_module='eventtracking.catalog')
    sys.stdout.write(catalog.render(args.format))
    return EXIT_OK
