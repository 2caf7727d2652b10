"""A routing backend whose nested backends run where the Open edX event bus is consumed.

In the web process :class:`EventBusRoutingBackend` only publishes: for an
event named in the setting ``EVENT_BUS_TRACKING_LOGS``, and while the toggle
``SEND_TRACKING_EVENT_EMITTED_SIGNAL`` is on, it sends Open edX's
``TRACKING_EVENT_EMITTED`` signal, which the event bus producer (configured
through ``EVENT_BUS_PRODUCER_CONFIG``) puts on the bus. The bus consumer
re-sends that signal in its own process, where
:func:`eventtracking.handlers.send_tracking_log_to_backends` runs the
processors of every event-bus routing backend of the default tracker and
sends the result to their nested backends::

    EVENT_TRACKING_BACKENDS = {
        'xapi': {
            'ENGINE': 'eventtracking.backends.event_bus.EventBusRoutingBackend',
            'OPTIONS': {
                'backend_name': 'xapi',
                'processors': [...],   # run by the consumer
                'backends': {...},     # run by the consumer
            },
        },
    }
    EVENT_BUS_TRACKING_LOGS = ['edx.course.enrollment.activated']
    SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
"""

import logging
import threading
from datetime import datetime, timezone

from eventtracking._extras import missing_extra

try:
    from django.conf import settings
    from openedx_events.analytics.data import TrackingLogData
    from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED
except ImportError as exc:
    raise missing_extra('eventbus', __name__, exc) from exc

from eventtracking.backends.routing import RoutingBackend
from eventtracking.config import SEND_TRACKING_EVENT_EMITTED_SIGNAL
from eventtracking.encoding import encode_event, standard_encode
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import EventDropped
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import PUBLISH_ERROR

logger = logging.getLogger(__name__)


class InvalidTimestampError(EventDropped, ValueError):
    """The event's ``timestamp`` is neither a datetime nor an ISO 8601 string, so the bus cannot carry it."""

    reason = 'invalid_timestamp'


class EventBusRoutingBackend(RoutingBackend):
    """Publish selected events to the Open edX event bus; their processors and backends run in the consumer.

    ``send`` does nothing unless ``SEND_TRACKING_EVENT_EMITTED_SIGNAL`` is on
    and the event's name is in ``settings.EVENT_BUS_TRACKING_LOGS``. Then it
    sends ``TRACKING_EVENT_EMITTED`` with a ``TrackingLogData`` whose ``data``
    and ``context`` are JSON strings (datetimes in UTC ISO 8601, as in the
    tracking log) and whose ``timestamp`` is a datetime (an ISO 8601 string is
    parsed; one without an offset is taken as UTC).

    The consumer delivers each message to every event-bus routing backend of
    the default tracker, so the first of several sibling event-bus backends
    that receive the same event publishes it and the others do not: each
    consumer-side backend gets the event once.

    An event that cannot be encoded raises an ``EventDropped`` subclass (a
    ``TypeError`` or ``ValueError``), which a routing backend logs and counts.
    A signal receiver (the bus producer) that fails is counted as
    ``publish_error`` and logged at ERROR, at most once a minute per receiver
    after the first line.
    """

    def __init__(self, processors=None, backends=None, backend_name=''):
        self.backend_name = backend_name
        self.publish_log = RateLimitedLog(logger)
        super().__init__(processors=processors, backends=backends)

    def send(self, event):
        """Send ``TRACKING_EVENT_EMITTED`` for ``event`` if the toggle is on and its name is listed."""
        if not SEND_TRACKING_EVENT_EMITTED_SIGNAL.is_enabled():
            return
        name = event.get('name')
        if name not in getattr(settings, 'EVENT_BUS_TRACKING_LOGS', []):
            return
        if _PUBLISHED.by_sibling(event, self):
            logger.debug('Tracking log %s already sent to the event bus by another backend', safe_name(name))
            return

        tracking_log = TrackingLogData(
            name=name,
            timestamp=_timestamp(event),
            data=_to_json(event, 'data'),
            context=_to_json(event, 'context'),
        )
        responses = TRACKING_EVENT_EMITTED.send_event(tracking_log=tracking_log)
        _PUBLISHED.remember(event, self)
        failures = [(receiver, response) for receiver, response in responses or ()
                    if isinstance(response, Exception)]
        if failures:
            self.counters.increment(PUBLISH_ERROR)
            for receiver, response in failures:
                self.publish_log.error((PUBLISH_ERROR, _receiver_name(receiver)),
                                       'Tracking log %s (%s): receiver %s of TRACKING_EVENT_EMITTED failed: %r',
                                       safe_name(name), PUBLISH_ERROR, _receiver_name(receiver), response)
            return
        logger.debug('Tracking log %s emitted to the event bus.', safe_name(name))


EventBusBackend = EventBusRoutingBackend
"""The name the event-tracking README's configuration example uses for :class:`EventBusRoutingBackend`."""


def _timestamp(event):
    value = event.get('timestamp')
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    raise InvalidTimestampError(
        f'event {safe_name(event_name(event))} has a timestamp of type {type(value).__name__}: the event bus '
        'needs a datetime or an ISO 8601 string', event_name(event),
    )


def _to_json(event, field):
    return encode_event(standard_encode, event, event.get(field), field)


def _receiver_name(receiver):
    return getattr(receiver, '__qualname__', None) or repr(receiver)


class _PublishedEvents(threading.local):
    """The last event this thread sent to the bus, and the backend that sent it.

    A routing backend hands the same event object to all its event-bus
    backends in turn; only the first one publishes. Holding the event keeps
    its identity from being reused by a later event.
    """

    def __init__(self):
        super().__init__()
        self.event = None
        self.backend = None

    def by_sibling(self, event, backend):
        return self.event is event and self.backend is not backend

    def remember(self, event, backend):
        self.event = event
        self.backend = backend


_PUBLISHED = _PublishedEvents()
