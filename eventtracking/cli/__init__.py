"""The ``eventtracking`` command: read, count, check and replay tracking logs.

Each subcommand is a module of this package with ``add_parser(subparsers)``
(which sets ``run``) and ``run(args)`` returning the exit status: 0 when all is
well, 1 when a check failed, 2 for bad arguments. Malformed input is reported
as one line, ``FILE:LINE: reason``, never as a traceback.
"""

import argparse
import importlib
import os
import sys

from eventtracking import __version__
from eventtracking.cli.common import EXIT_OK, EXIT_USAGE, UsageError
from eventtracking.cli.reader import InputError

EXIT_INTERRUPTED = 130
"""Stopped with Ctrl-C (128 + SIGINT, as shells report it), except ``tail --follow``, which exits 0."""

SUBCOMMANDS = ('tail', 'stats', 'validate', 'replay', 'catalog', 'status')
"""The modules of this package that are subcommands, in the order ``--help`` lists them."""


def build_parser():
    """The argument parser of the ``eventtracking`` command, with every subcommand's."""
    parser = argparse.ArgumentParser(
        prog='eventtracking',
        description='Read, count, check and replay Open edX tracking logs (plain or gzipped, native or legacy '
                    'lines, bare or after a log prefix).',
    )
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f'{__name__}.{name}').add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the command with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, InputError) as exc:
        sys.stderr.write(f'eventtracking {args.command}: {exc}\n')
        return EXIT_USAGE
    except KeyboardInterrupt:  # how `tail --follow` is stopped; anything else was cut short
        return EXIT_OK if getattr(args, 'follow', False) else EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (| head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
