"""A processor that checks each event against its registered event type (see :mod:`eventtracking.registry`).

Put it first in the root processors to watch every event, or in one branch
to keep what that branch writes clean::

    EVENT_TRACKING_PROCESSORS = [
        {'ENGINE': 'eventtracking.processors.schema.EventTypeValidator',
         'OPTIONS': {'unregistered': 'warn', 'invalid': 'drop'}},
    ]
"""

import logging

from eventtracking.events import safe_name
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.registry import NOT_REGISTERED, get_event_type
from eventtracking.stats import INVALID, UNREGISTERED, EventCounters

IGNORE = 'ignore'
WARN = 'warn'
DROP = 'drop'
MODES = (IGNORE, WARN, DROP)

LOG = RateLimitedLog(logging.getLogger(__name__), max_lines=20)
"""One line per name and problem a minute, and at most 20 lines a minute in all (event names are unbounded)."""


class EventTypeValidator:
    """Check each event's name against the registry and its ``data`` against its type's schema.

    ``unregistered`` says what to do with an event whose name no registered
    type has, ``invalid`` with one whose ``data`` fails its type's schema:

    * ``'ignore'``: let it through, neither counted nor logged;
    * ``'warn'``: let it through, count it (``unregistered`` or ``invalid``
      in :attr:`stats`) and log a WARNING naming the event and the problems
      (never the values), at most once a minute per name and problems, for
      example ``Event 'x' is invalid, sent on to the backends all the same
      (EventTypeValidator invalid='warn'): data.n: expected integer, got str``;
    * ``'drop'``: the same, and stop it (``EventEmissionExit``: the routing
      backend counts it ``filtered`` as well).

    The counts appear in the ``stats`` of the routing backend that runs this
    processor, and so in the tracker's. Never changes an event.
    """

    mutates_events = False

    def __init__(self, unregistered=WARN, invalid=WARN):
        for option, mode in (('unregistered', unregistered), ('invalid', invalid)):
            if mode not in MODES:
                raise ImproperlyConfigured(
                    f'EventTypeValidator {option}={mode!r}: use one of {", ".join(repr(m) for m in MODES)}'
                )
        self.unregistered = unregistered
        self.invalid = invalid
        self.counters = EventCounters()

    @property
    def stats(self):
        """Counts of the events found ``unregistered`` or ``invalid`` (a new dict)."""
        return self.counters.snapshot()

    def __call__(self, event):
        name = event.get('name')
        event_type = get_event_type(name)
        if event_type is None:
            if self.unregistered != IGNORE:
                self._report(self.unregistered, UNREGISTERED, name, (NOT_REGISTERED,))
            return event
        if self.invalid != IGNORE:
            problems = event_type.validate(event.get('data', {}))
            if problems:
                self._report(self.invalid, INVALID, name, problems)
        return event

    def _report(self, mode, reason, name, problems):
        self.counters.increment(reason)
        problems = tuple(problems)
        LOG.warning((reason, safe_name(name), problems),
                    'Event %s is %s, %s (EventTypeValidator %s=%r): %s', safe_name(name), reason,
                    'dropped' if mode == DROP else 'sent on to the backends all the same', reason, mode,
                    '; '.join(problems))
        if mode == DROP:
            raise EventEmissionExit()

    def __repr__(self):
        return f'EventTypeValidator(unregistered={self.unregistered!r}, invalid={self.invalid!r})'
