"""``eventtracking tail``: print the events of a tracking log, filtered by name, user and time; optionally follow it."""

import argparse
import json
import re
from collections import deque

from eventtracking.cli.common import (
    EXIT_FAILED, EXIT_OK, Report, add_time_window, in_window, integer_at_least, shown, standard_output,
)
from eventtracking.cli.reader import LineError, event_users, follow_lines, read_lines


def add_parser(subparsers):
    """Add the ``tail`` subcommand."""
    parser = subparsers.add_parser(
        'tail', help='print the events of a tracking log, filtered',
        description='Print the events of FILE, one a line: time, name, user and data; with --json each '
                    "event's JSON as the file holds it (without its log prefix).",
    )
    parser.add_argument('file', metavar='FILE', help='a tracking log, plain or gzipped (- for standard input)')
    parser.add_argument('-f', '--follow', action='store_true',
                        help='keep printing events as they are written, across rotations (plain files only)')
    parser.add_argument('--name', type=_regex, metavar='REGEX', help='only events whose name REGEX matches (re.search)')
    parser.add_argument('--user', metavar='ID', help='only events of this user (context user_id or username)')
    add_time_window(parser)
    parser.add_argument('--json', action='store_true', help="print each event's JSON line")
    parser.add_argument('-n', '--lines', type=integer_at_least(1, 'a positive number'), metavar='N',
                        help='only the last N matching events')
    parser.set_defaults(run=run)


def run(args):
    """Print the matching events; exit status 1 when a line was malformed."""
    report = Report()
    out = standard_output()
    if args.follow:
        lines = follow_lines(args.file, report)
    else:
        lines = read_lines(args.file, report)
    last = deque(maxlen=args.lines) if args.lines else None
    for line in lines:
        if line is None:  # the followed file's end, for now
            if last is not None:
                out.writelines(last)
                last = None
            out.flush()
            continue
        try:
            event = line.native()
        except LineError as exc:
            report(line.where, str(exc))
            continue
        if not _matches(event, args):
            continue
        text = line.json_text + '\n' if args.json else _summary(event)
        if last is not None:
            last.append(text)
        else:
            out.write(text)
    if last is not None:
        out.writelines(last)
    out.flush()
    return EXIT_FAILED if report.count else EXIT_OK


def _matches(event, args):
    if args.name is not None and not args.name.search(event['name']):
        return False
    if args.user is not None and args.user not in event_users(event):
        return False
    return in_window(event, args)


def _summary(event):
    """One readable line: time, name, user and the data as compact JSON."""
    timestamp = event.get('timestamp')
    when = timestamp.isoformat() if timestamp is not None else '-'
    context = event.get('context') if isinstance(event.get('context'), dict) else {}
    who = context.get('username') or context.get('user_id') or '-'
    data = json.dumps(event.get('data', {}), separators=(',', ':'), ensure_ascii=False)
    if not data.isprintable():  # JSON escapes C0 controls, not C1 ones nor lone surrogates: ASCII does
        data = json.dumps(event.get('data', {}), separators=(',', ':'))
    return f'{when}  {shown(event["name"])}  user={shown(who)}  {data}\n'


def _regex(text):
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f'{text!r} is not a regular expression: {exc}') from exc
