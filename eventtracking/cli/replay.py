"""``eventtracking replay``: route the events of tracking logs through the Django-configured tracker again.

Each line becomes a native event (legacy lines are turned back, see
:func:`eventtracking.cli.reader.to_native`) with its original timestamp and
context, and is routed by the default tracker (``Tracker.route``), so it goes
through the configured processors and backends as when it was emitted. Lines
are read one at a time: memory stays flat whatever the size of the logs.
"""

import os
import sys

from eventtracking.cli.common import (
    EXIT_FAILED, EXIT_OK, Report, UsageError, add_time_window, importable_from_cwd, in_window, read_events,
)
from eventtracking.cli.reader import open_log
from eventtracking.stats import FILTERED, SKIPPED, SPOOLED

NOT_LOST = (FILTERED, SKIPPED, SPOOLED)
"""Reasons in the tree's stats that do not make the exit status 1: left out on purpose, or only delayed."""


def add_parser(subparsers):
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        'replay', help="send the events of tracking logs through the Django-configured tracker's backends",
        description="Send every event of the tracking logs to the routing backend of the default tracker that "
                    "the Django settings configure, with its original timestamp and context. Lines that hold "
                    "no event are skipped and reported as FILE:LINE: reason; the exit status is then 1, as it is "
                    "when the tree dropped or failed to deliver any event (its stats counted it; events filtered, "
                    "skipped by a backend or spooled do not count).",
    )
    parser.add_argument('files', nargs='+', metavar='FILE', help='tracking logs, plain or gzipped')
    parser.add_argument('--settings', metavar='MODULE',
                        help='the Django settings module (default: the DJANGO_SETTINGS_MODULE variable)')
    add_time_window(parser)
    parser.set_defaults(run=run)


def run(args):
    """Replay every event in the window; exit status 1 when a line was skipped or the tree lost an event."""
    for path in args.files:  # a missing file is found before anything is replayed, not half-way
        if path != '-':
            open_log(path).close()
    tracker = configured_tracker(args.settings)
    before = tracker.stats
    report = Report(prefix='skipped: ')
    replayed = 0
    for _, event in read_events(args.files, report, timed=True):
        if in_window(event, args):
            tracker.route(event)
            replayed += 1
    counted = {reason: count - before.get(reason, 0) for reason, count in tracker.stats.items()
               if count != before.get(reason, 0)}
    kept = {reason: count for reason, count in counted.items() if reason in NOT_LOST}
    lost = {reason: count for reason, count in counted.items() if reason not in NOT_LOST}
    sys.stderr.write(f'replayed {replayed} event{"s" if replayed != 1 else ""}, skipped {report.count} '
                     f'line{"s" if report.count != 1 else ""}'
                     + (f'; dropped or failed in the tree: {lost}' if lost else '')
                     + (f'; not lost (filtered on purpose, skipped by a backend or spooled): {kept}' if kept else '')
                     + '\n')
    return EXIT_FAILED if report.count or lost else EXIT_OK


def configured_tracker(settings_module):
    """Set Django up with ``settings_module`` (or ``DJANGO_SETTINGS_MODULE``) and return the default tracker.

    Raises ``UsageError`` when there are no settings, Django is missing or
    fails to start, or the settings register no default tracker.
    """
    if settings_module:
        os.environ['DJANGO_SETTINGS_MODULE'] = settings_module
    module = os.environ.get('DJANGO_SETTINGS_MODULE')
    if not module:
        raise UsageError('needs Django settings: give --settings MODULE or set DJANGO_SETTINGS_MODULE')
    try:
        import django  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise UsageError("needs Django: pip install 'eventtracking[django]'") from exc
    try:
        with importable_from_cwd():
            django.setup()
    except Exception as exc:  # pylint: disable=broad-except  # bad settings are bad arguments, not a traceback
        raise UsageError(f'cannot set Django up with the settings {module}: {type(exc).__name__}: {exc}') from exc
    from eventtracking.tracker import get_tracker  # pylint: disable=import-outside-toplevel
    try:
        return get_tracker()
    except KeyError:
        raise UsageError(
            f'the settings {module} register no default tracker: add eventtracking.django to INSTALLED_APPS '
            'and set EVENT_TRACKING_ENABLED = True'
        ) from None
