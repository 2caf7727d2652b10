"""``eventtracking validate``: every line of tracking logs holds an event; with a catalog, a registered, valid one."""

import importlib
import sys

from eventtracking.cli.common import (
    EXIT_FAILED, EXIT_OK, Report, UsageError, importable_from_cwd, read_events, shown,
)

REGISTRY = 'eventtracking.registry'


def add_parser(subparsers):
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        'validate', help='check that every line holds an event (and, with --catalog, a registered valid one)',
        description='Check that every line of the tracking logs holds one event with a name and an ISO 8601 '
                    'time. Each problem is printed as FILE:LINE: reason on standard error; the exit status '
                    'is 1 when there is any.',
    )
    parser.add_argument('files', nargs='+', metavar='FILE', help='tracking logs, plain or gzipped')
    parser.add_argument('--catalog', metavar='MODULE',
                        help='import MODULE (which registers event types) and check every event against '
                             'the registered types')
    parser.set_defaults(run=run)


def run(args):
    """Check every line; exit status 1 when any line failed."""
    check = catalog_check(args.catalog) if args.catalog else None
    report = Report()
    events = 0
    for line, event in read_events(args.files, report, timed=True):
        events += 1
        if check is not None:
            name = event['name']
            for problem in check(event):
                if problem.startswith(f'{name}:'):
                    problem = problem[len(name) + 1:].lstrip()
                report(line.where, f'{shown(name)}: {problem}')
    sys.stdout.write(f'{events} events checked in {len(args.files)} file{"s" if len(args.files) != 1 else ""}: '
                     f'{report.count} problem{"s" if report.count != 1 else ""}\n')
    return EXIT_FAILED if report.count else EXIT_OK


def import_catalog(option, modules, registry_module=REGISTRY):
    """Import ``registry_module`` (the event-type registry by default), then ``modules``, which register types.

    Returns the first. ``option`` (``'--catalog'``, ``'--module'``) names the
    argument in the ``UsageError`` raised when anything cannot be imported
    (the registry needs the ``schema`` extra).
    """
    try:
        registry = importlib.import_module(registry_module)
    except ImportError as exc:
        raise UsageError(f'{option}: cannot import {registry_module}: {exc}') from exc
    for module in modules:
        try:
            with importable_from_cwd():
                importlib.import_module(module)
        except Exception as exc:  # pylint: disable=broad-except  # any failure of the user's module is a bad argument
            raise UsageError(f'{option} {module}: cannot import it: {type(exc).__name__}: {exc}') from exc
    return registry


def catalog_check(module):
    """Import the event-type registry and ``module``; return ``eventtracking.registry.event_problems``.

    Raises ``UsageError`` when the registry or ``module`` cannot be imported.
    """
    return import_catalog('--catalog', [module]).event_problems
