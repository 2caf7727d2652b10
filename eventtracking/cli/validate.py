"""``eventtracking validate``: every line of tracking logs holds an event; with a catalog, a registered, valid one."""

import sys

from eventtracking.cli.common import EXIT_FAILED, EXIT_OK, Report, import_catalog, read_events, shown


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
            for problem in check(event):
                report(line.where, f'{shown(event["name"])}: {problem}')
    sys.stdout.write(f'{events} events checked in {len(args.files)} file{"s" if len(args.files) != 1 else ""}: '
                     f'{report.count} problem{"s" if report.count != 1 else ""}\n')
    return EXIT_FAILED if report.count else EXIT_OK


def catalog_check(module):
    """Import the event-type registry and ``module``; return a function giving the problems of an event as text.

    The text of each of :func:`eventtracking.registry.event_problems`, the
    name left out of an unregistered event's (the line shows the name first).
    Raises ``UsageError`` when the registry or ``module`` cannot be imported.
    """
    registry = import_catalog('--catalog', [module])

    def problems(event):
        return [problem.message if problem.message == registry.NOT_REGISTERED else str(problem)
                for problem in registry.event_problems(event)]
    return problems
