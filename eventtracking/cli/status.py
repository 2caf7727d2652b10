"""``eventtracking status``: what waits in spool directories, who holds it, what was quarantined; a health check."""

import argparse
import json
import os

from eventtracking.cli.common import EXIT_FAILED, EXIT_OK, UsageError, standard_output
from eventtracking.metrics import multiprocess_directory
from eventtracking.status import collect, render


def add_parser(subparsers):
    """Add the ``status`` subcommand."""
    parser = subparsers.add_parser(
        'status', help='events waiting in spool directories; exit 1 when orphaned, quarantined or too old',
        description='Per spool directory and backend: the events and bytes waiting, the age of the oldest, each '
                    "spool file's owner (a live process, or orphaned) and the quarantined records; with "
                    "prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR), the library's metrics "
                    'summed over processes. Exit status 1 when a file is orphaned, records are quarantined, or the '
                    'oldest pending event is older than --max-age: usable as a health check.',
    )
    parser.add_argument('--spool-dir', dest='spool_dirs', action='append', required=True, metavar='DIR',
                        help='a spool directory (an AsyncRoutingBackend spool_dir); repeat for several')
    parser.add_argument('--max-age', type=_seconds, metavar='SECONDS',
                        help='a pending event older than this is a problem (exit 1)')
    parser.add_argument('--prometheus-dir', metavar='DIR',
                        help='prometheus_client multiprocess files to sum (default: $PROMETHEUS_MULTIPROC_DIR)')
    parser.add_argument('--json', action='store_true', help='print the status as one JSON object')
    parser.set_defaults(run=run)


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number of seconds, 0 or more')
    return value


def run(args):
    """Print the status; 1 when something needs an operator (see :func:`eventtracking.status.collect`)."""
    for directory in args.spool_dirs:
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise UsageError(f'{directory} is not a directory')
    status = collect(args.spool_dirs, max_age=args.max_age,
                     prometheus_dir=args.prometheus_dir or multiprocess_directory())
    output = standard_output()
    if args.json:
        output.write(json.dumps(status, indent=2, sort_keys=True) + '\n')
    else:
        output.write(''.join(f'{line}\n' for line in render(status)))
    return EXIT_OK if status['healthy'] else EXIT_FAILED
