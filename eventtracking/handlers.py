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
from eventtracking.exceptions import UncopyableEventError
from eventtracking.isolation import copy_event, mutates_events
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.stats import FILTERED, NO_TRACKER, EventCounters
from eventtracking.tracker import get_tracker

logger = logging.getLogger(__name__)

UNREADABLE = 'unreadable'

COUNTERS = EventCounters()
"""Tracking logs from the bus that no backend could get: ``no_tracker`` or ``unreadable`` (bad JSON)."""


@receiver(TRACKING_EVENT_EMITTED, dispatch_uid='eventtracking.handlers.send_tracking_log_to_backends')
def send_tracking_log_to_backends(sender, signal, **kwargs):  # pylint: disable=unused-argument
    """Deliver a tracking log received from the event bus to every event-bus backend of the default tracker.

    Signals that did not come from the event bus are ignored (in the web
    process they are the ones being published). The event is rebuilt from the
    ``TrackingLogData`` (``data`` and ``context`` decoded from JSON); then,
    for every top-level :class:`EventBusRoutingBackend`, its processors run on
    a private copy (``EventEmissionExit`` skips that backend) and the result
    goes to its nested backends. Failures are logged and counted, never raised.
    """
    if not kwargs.get(SIGNAL_PROCESSED_FROM_EVENT_BUS, False):
        logger.debug('Event received from a non-event bus backend, skipping...')
        return
    tracking_log = kwargs.get('tracking_log')
    name = getattr(tracking_log, 'name', None)
    try:
        event = {
            'name': name,
            'timestamp': tracking_log.timestamp,
            'data': json.loads(tracking_log.data),
            'context': json.loads(tracking_log.context),
        }
    except (AttributeError, TypeError, ValueError) as exc:
        COUNTERS.increment(UNREADABLE)
        logger.error('Dropped tracking log %r from the event bus (%s): %r', name, UNREADABLE, exc)
        return

    try:
        tracker = get_tracker()
    except KeyError:
        COUNTERS.increment(NO_TRACKER)
        logger.error('Dropped tracking log %r from the event bus (%s): no default tracker is registered',
                     name, NO_TRACKER)
        return

    engines = [(key, engine) for key, engine in tracker.backends.items() if isinstance(engine, EventBusRoutingBackend)]
    for key, engine in engines:
        try:
            own_copy = copy_event(event) if any(mutates_events(p) for p in engine.processors) else event
            processed_event = engine.process_event(own_copy)
        except UncopyableEventError as exc:
            engine.counters.increment(exc.reason)
            logger.warning('Dropped event %r for backend %s (%s): %s', name, key, exc.reason, exc)
            continue
        except EventEmissionExit:
            engine.counters.increment(FILTERED)
            logger.info(f'[EventEmissionExit] skipping event {name}')  # the original's exact text: tests match it
            continue
        logger.debug('Successfully processed event %r for backend %s', name, key)
        engine.send_to_backends(processed_event)
