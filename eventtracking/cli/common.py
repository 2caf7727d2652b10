"""What the ``eventtracking`` subcommands share: exit statuses, errors, per-line reports and time windows."""

import argparse
import contextlib
import importlib
import os
import sys

from eventtracking.cli.progress import progress_bar
from eventtracking.cli.reader import LineError, file_size, parse_time, read_lines

EXIT_OK = 0
"""All is well."""

EXIT_FAILED = 1
"""A check failed: a malformed line, an invalid event, a line replay skipped."""

EXIT_USAGE = 2
"""Bad arguments, or a file or module that cannot be used at all."""


class UsageError(Exception):
    """Arguments the command cannot work with; its message is the one-line error printed (exit status 2)."""


class Report:
    """Writes ``FILE:LINE: reason`` lines to standard error (``prefix`` before each reason) and counts them."""

    def __init__(self, prefix='', stream=None):
        self.prefix = prefix
        self.stream = sys.stderr if stream is None else stream
        self.count = 0

    def __call__(self, where, reason):
        self.count += 1
        self.stream.write(f'{where}: {self.prefix}{reason}\n')


def shown(text):
    """``text`` (an event name, a user) as written to a terminal: as it is when every character is printable,
    else its ``repr()``, so that a newline or an escape sequence cannot forge lines or drive the terminal."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def integer_at_least(minimum, meaning):
    """An argparse type: an integer, ``minimum`` or more; ``meaning`` ends the error (``'a positive number'``)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f'{text!r} is not {meaning}')
        return value

    return parse


def standard_output():
    """Standard output, set to write what its encoding cannot (a lone surrogate from an escaped ``\\ud800``)
    as a backslash escape instead of raising."""
    reconfigure = getattr(sys.stdout, 'reconfigure', None)
    if reconfigure is not None:
        reconfigure(errors='backslashreplace')
    return sys.stdout


def read_events(paths, report, timed=False):
    """Yield ``(line, native event)`` for every event of the files ``paths``, a progress bar showing each file.

    A line that holds no event (or, ``timed``, an event with no timestamp) is
    given to ``report`` instead.
    """
    for path in paths:
        bar = progress_bar(file_size(path), path)
        try:
            for line in read_lines(path, report, bar.update_to):
                try:
                    event = line.native()
                    if timed and 'timestamp' not in event:
                        raise LineError('the event has no timestamp')
                except LineError as exc:
                    report(line.where, str(exc))
                    continue
                yield line, event
        finally:
            bar.close()


def time_argument(text):
    """An argparse type: an ISO 8601 date or time (``2024-01-31``, ``2024-01-31T08:00:00Z``) as an aware datetime."""
    try:
        return parse_time(text)
    except LineError as exc:
        raise argparse.ArgumentTypeError(f'{text!r} is not an ISO 8601 date or time (UTC unless it says otherwise)') \
            from exc


def add_time_window(parser):
    """Add ``--since T`` and ``--until T`` to a subcommand's parser."""
    parser.add_argument('--since', type=time_argument, metavar='T',
                        help='only events at or after T (ISO 8601, UTC unless an offset is given)')
    parser.add_argument('--until', type=time_argument, metavar='T', help='only events before T')


def in_window(event, args):
    """True when the native ``event``'s timestamp is within ``--since``/``--until`` (always, without them)."""
    if args.since is None and args.until is None:
        return True
    timestamp = event.get('timestamp')
    if timestamp is None:
        return False
    if args.since is not None and timestamp < args.since:
        return False
    return args.until is None or timestamp < args.until


@contextlib.contextmanager
def importable_from_cwd():
    """Within the block, modules in the current folder can be imported (as with ``python -m``), as users expect
    of ``--settings`` and ``--catalog``; the console script alone would not find them."""
    folder = os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


REGISTRY = 'eventtracking.registry'
"""The event-type registry that ``--catalog`` and ``catalog --module`` need (the ``schema`` extra)."""


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
