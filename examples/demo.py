"""The nested-context example of the event-tracking package description, run for real.

A tracker routes every event through two branches:

* ``tracking_logs``: a logger backend writing one JSON line per event to a
  tracking log file (what Open edX calls ``tracking.log``);
* ``navigation``: a routing backend whose ``RegexFilter`` lets through only
  ``navigation.*`` events, to a backend that keeps what it receives.

Run it with ``make demo``: the tracking log is written to a temporary
directory, printed, and removed when the demo ends. To keep it, give a path:
``python examples/demo.py tracking.log``.
"""

import json
import logging
import os
import sys
import tempfile

from eventtracking import tracker
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors.regex_filter import RegexFilter


class KeepingBackend:
    """A backend that keeps every event it is sent, in order."""

    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)


def open_tracking_log(path):
    """Send the 'tracking' logger's lines, and nothing else, to the file at ``path``."""
    handler = logging.FileHandler(path, encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(message)s'))
    tracking_logger = logging.getLogger('tracking')
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.addHandler(handler)
    tracking_logger.propagate = False
    return handler


def main(argv):
    """Run the demo, writing the tracking log to ``argv[0]`` if given, else to a temporary file removed at the end."""
    if argv:
        run(argv[0])
        return
    with tempfile.TemporaryDirectory(prefix='eventtracking-demo-') as directory:
        run(os.path.join(directory, 'tracking.log'))
    print('(The tracking log was a temporary file, now removed; python examples/demo.py PATH keeps it at PATH.)')


def run(log_path):
    """Emit the example's events through a real tracker into the tracking log at ``log_path``; print what went where."""
    handler = open_tracking_log(log_path)
    navigation = KeepingBackend()

    tracker.register_tracker(tracker.Tracker(backends={
        'tracking_logs': RoutingBackend(backends={
            'logger': LoggerBackend(name='tracking', max_event_size=50000),
        }),
        'navigation': RoutingBackend(
            processors=[RegexFilter(filter_type='allowlist', regular_expressions=[r'navigation\.'])],
            backends={'keep': navigation},
        ),
    }))

    # The example, as the package description gives it.
    default_tracker = tracker.get_tracker()
    default_tracker.enter_context('outer', {'user_id': 10938})
    default_tracker.emit('navigation.request', {'url': 'http://www.edx.org/some/path/1'})
    with default_tracker.context('inner', {'user_id': 11111, 'session_id': '2987lkjdyoioey'}):
        default_tracker.emit('navigation.request', {'url': 'http://www.edx.org/some/path/2'})
    default_tracker.emit(
        'address.create',
        {
            'name': 'foo',
            'address': {
                'postal_code': '90210',
                'country': 'United States',
            },
        },
    )
    default_tracker.exit_context('outer')
    handler.close()

    print(f'The tracking log, {log_path}:')
    with open(log_path, encoding='utf-8') as log_file:
        for line in log_file:
            print('  ' + line.rstrip('\n'))

    print()
    print('What the navigation branch (RegexFilter allowlist "navigation\\.") received:')
    for event in navigation.events:
        print(f"  {event['name']}  context={json.dumps(event['context'])}  data={json.dumps(event['data'])}")

    print()
    print(f'Events dropped or failed, by reason: {default_tracker.stats}')


if __name__ == '__main__':
    main(sys.argv[1:])
