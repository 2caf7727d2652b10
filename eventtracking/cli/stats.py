"""``eventtracking stats``: how many events a tracking log holds, by name and by hour; malformed and oversize lines."""

import json
from collections import Counter
from datetime import timezone

from eventtracking.cli.common import EXIT_OK, Report, integer_at_least, read_events, shown, standard_output

DEFAULT_MAX_EVENT_SIZE = 1024
"""Lines whose JSON is longer are oversize: the default max_event_size of LoggerBackend and FileBackend."""


def add_parser(subparsers):
    """Add the ``stats`` subcommand."""
    parser = subparsers.add_parser(
        'stats', help='count events by name and by hour; malformed and oversize lines',
        description='Count the events of tracking logs by name and by hour (UTC), and the lines that are '
                    'malformed (each also reported as FILE:LINE: reason on standard error) or oversize.',
    )
    parser.add_argument('files', nargs='+', metavar='FILE', help='tracking logs, plain or gzipped')
    parser.add_argument('--max-event-size', type=integer_at_least(0, 'a number 0 or more'),
                        default=DEFAULT_MAX_EVENT_SIZE, metavar='N',
                        help='a line whose JSON is longer than N characters is oversize (default %(default)s)')
    parser.add_argument('--json', action='store_true', help='print the counts as one JSON object')
    parser.set_defaults(run=run)


def run(args):
    """Print the counts. Exit status 0: malformed lines are counted (and reported), not a failure."""
    counts = Counts(args.max_event_size)
    report = Report()
    for line, event in read_events(args.files, report):
        counts.add(line, event)
    counts.malformed = report.count
    standard_output().write(counts.as_json() if args.json else counts.as_text())
    return EXIT_OK


class Counts:
    """The figures ``stats`` prints."""

    def __init__(self, max_event_size):
        self.max_event_size = max_event_size
        self.events = 0
        self.malformed = 0
        self.oversize = 0
        self.by_name = Counter()
        self.by_hour = Counter()

    def add(self, line, event):
        """Count the native ``event`` of ``line``."""
        self.events += 1
        self.by_name[event['name']] += 1
        timestamp = event.get('timestamp')
        hour = timestamp.astimezone(timezone.utc).strftime('%Y-%m-%dT%H') if timestamp is not None else 'no time'
        self.by_hour[hour] += 1
        if len(line.json_text) > self.max_event_size:
            self.oversize += 1

    def as_dict(self):
        """The counts as plain data (names and hours most frequent first, then in order)."""
        return {
            'events': self.events,
            'malformed_lines': self.malformed,
            'oversize_lines': self.oversize,
            'max_event_size': self.max_event_size,
            'by_name': dict(sorted(self.by_name.items(), key=lambda item: (-item[1], item[0]))),
            'by_hour': dict(sorted(self.by_hour.items())),
        }

    def as_json(self):
        """The counts as one JSON line."""
        return json.dumps(self.as_dict()) + '\n'

    def as_text(self):
        """The counts as a readable report."""
        figures = self.as_dict()
        lines = [
            f'events:          {self.events}',
            f'malformed lines: {self.malformed}',
            f'oversize lines:  {self.oversize} (JSON longer than {self.max_event_size} characters)',
            '',
            'events by name:',
        ]
        lines += [f'{count:>10}  {shown(name)}' for name, count in figures['by_name'].items()]
        lines += ['', 'events by hour (UTC):']
        lines += [f'{count:>10}  {hour}' for hour, count in figures['by_hour'].items()]
        return '\n'.join(lines) + '\n'
