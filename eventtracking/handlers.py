"""The consumer half of the event bus: delivers tracking logs that came from the bus to event-bus backends.

Importing this module connects :func:`send_tracking_log_to_backends` to
Open edX's ``TRACKING_EVENT_EMITTED`` signal (the Django app
``eventtracking.django`` imports it when it is ready).
"""

import json
import logging

from eventtracking._extras import missing_extra

try:
    from django.dispatch import receiver
    from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED
    from openedx_events.tooling import SIGNAL_PROCESSED_FROM_EVENT_BUS
except ImportError as exc:
    raise missing_extra('eventbus', __name__, exc) from exc

from eventtracking.backends.event_bus import EventBusRoutingBackend
from eventtracking.events import safe_name
from eventtracking.exceptions import UncopyableEventError
from eventtracking.isolation import copy_event, mutates_events
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import FILTERED, NO_TRACKER, EventCounters
from eventtracking.tracker import get_tracker

logger = logging.getLogger(__name__)

UNREADABLE = 'unreadable'

COUNTERS = EventCounters()
"""Tracking logs from the bus that no backend could get: ``no_tracker`` or ``unreadable`` (bad JSON)."""

FAILURE_LOG = RateLimitedLog(logger)
"""The failure lines of this module: at most one a minute per reason (and backend) after the first."""


@receiver(TRACKING_EVENT_EMITTED, dispatch_uid='eventtracking.handlers.send_tracking_log_to_backends')
def send_tracking_log_to_backends(sender, signal, **kwargs):  # pylint: disable=unused-argument
    """Deliver a tracking log received from the event bus to every event-bus backend of the default tracker.

    Signals that did not come from the event bus are ignored (in the web
    process they are the ones being published). The event is rebuilt from the
    ``TrackingLogData`` (``data`` and ``context`` decoded from JSON); then,
    it is routed by the tracker (``Tracker.route``, where test captures see it)
    to every top-level :class:`EventBusRoutingBackend`: its processors run on
    a private copy (``EventEmissionExit`` skips that backend) and the result
    goes to its nested backends. Failures are counted, logged through
    :data:`FAILURE_LOG` with the event's name only, never raised.
    """
    if not kwargs.get(SIGNAL_PROCESSED_FROM_EVENT_BUS, False):
        logger.debug('Event received from a non-event bus backend, skipping...')
        return
    tracking_log = kwargs.get('tracking_log')
    name = getattr(tracking_log, 'name', None)
    shown = safe_name(name)
    try:
        event = {
            'name': name,
            'timestamp': tracking_log.timestamp,
            'data': json.loads(tracking_log.data),
            'context': json.loads(tracking_log.context),
        }
    except (AttributeError, TypeError, ValueError) as exc:
        COUNTERS.increment(UNREADABLE)
        FAILURE_LOG.error(UNREADABLE, 'Dropped tracking log %s from the event bus (%s): %s', shown, UNREADABLE,
                          type(exc).__name__)
        return

    try:
        tracker = get_tracker()
    except KeyError:
        COUNTERS.increment(NO_TRACKER)
        FAILURE_LOG.error(NO_TRACKER, 'Dropped tracking log %s from the event bus (%s): no default tracker is '
                          'registered', shown, NO_TRACKER)
        return

    tracker.route(event, deliver=lambda routed: _send_to_event_bus_backends(tracker, routed))


def _send_to_event_bus_backends(tracker, event):
    """Run ``event`` through each top-level event-bus backend's processors (on a private copy when they may
    change it) and send the result to its backends."""
    name = event['name']
    shown = safe_name(name)
    engines = [(key, engine) for key, engine in tracker.backends.items() if isinstance(engine, EventBusRoutingBackend)]
    for key, engine in engines:
        try:
            own_copy = copy_event(event) if any(mutates_events(p) for p in engine.processors) else event
            processed_event = engine.process_event(own_copy)
        except UncopyableEventError as exc:
            engine.counters.increment(exc.reason)
            FAILURE_LOG.warning((exc.reason, key), 'Dropped event %s for backend %s (%s): %s', shown, key,
                                exc.reason, exc)
            continue
        except EventEmissionExit:
            engine.counters.increment(FILTERED)
            # the original's exact call, one formatted string: tests that patch this module's logger match it
            logger.info(f'[EventEmissionExit] skipping event {name if isinstance(name, str) else shown}')
            continue
        logger.debug('Successfully processed event %s for backend %s', shown, key)
        engine.send_to_backends(processed_event)
