"""A routing backend whose nested backends run in a Celery worker.

Configure it as a top-level backend of the default tracker, with
``backend_name`` equal to its own key in ``EVENT_TRACKING_BACKENDS``::

    EVENT_TRACKING_BACKENDS = {
        'caliper': {
            'ENGINE': 'eventtracking.backends.async_routing.AsyncRoutingBackend',
            'OPTIONS': {
                'backend_name': 'caliper',
                'processors': [...],   # run in the web process
                'backends': {...},     # run in the Celery worker
            },
        },
    }

The worker looks the backend up again by that name in its own default
tracker (built from the same settings), so it cannot be nested deeper or used
from another tracker.

The event travels through Celery's serializer. With the default JSON
serializer (kombu 5.3 and later), ``datetime``, ``date``, ``time``,
``Decimal`` and ``UUID`` values arrive as equal objects of the same type (a
datetime keeps its UTC offset); tuples arrive as lists.
"""

import logging

from eventtracking.backends.routing import RoutingBackend
from eventtracking.events import event_name
from eventtracking.exceptions import EventDropped, UncopyableEventError, UnserializableEventError
from eventtracking.isolation import copy_event, mutates_events
from eventtracking.processors.exceptions import EventEmissionExit, NoBackendEnabled, NoTransformerImplemented
from eventtracking.stats import FILTERED, PUBLISH_ERROR, SKIPPED, UNCOPYABLE
from eventtracking.tasks import send_event  # raises ImportError naming the celery extra without it

from kombu.exceptions import EncodeError  # pylint: disable=wrong-import-order  # kombu comes with celery

logger = logging.getLogger(__name__)

UNSERIALIZABLE = UnserializableEventError.reason


class AsyncRoutingBackend(RoutingBackend):
    """Run this backend's processors in the caller, then send the event to its backends from a Celery task.

    ``send`` runs the processors (``EventEmissionExit`` stops the event and
    counts it as ``filtered``), then enqueues
    ``eventtracking.tasks.send_event.delay(backend_name, processed_event)``.
    Enqueueing never raises: an event that cannot be published (broker down,
    value the serializer rejects) is logged at ERROR and counted as
    ``publish_error`` or ``unserializable``. Publishing gives up within
    milliseconds on an unreachable broker (see :mod:`eventtracking.tasks`).
    """

    def __init__(self, processors=None, backends=None, backend_name=''):
        self.backend_name = backend_name
        super().__init__(processors=processors, backends=backends)
        if not backend_name:
            logger.warning(
                'AsyncRoutingBackend has no backend_name: the Celery task looks the backend up by that name '
                'among the default tracker\'s backends, so set it to this backend\'s key in EVENT_TRACKING_BACKENDS'
            )

    def send(self, event):
        """Process ``event`` here and enqueue the result for the nested backends; never raises."""
        name = event_name(event)
        try:
            if any(mutates_events(processor) for processor in self.processors):
                event = copy_event(event)
            processed_event = self.process_event(event)
        except EventEmissionExit:
            self.counters.increment(FILTERED)
            logger.debug('[EventEmissionExit] skipping event %s', name)
            return
        except UncopyableEventError as exc:
            self.counters.increment(UNCOPYABLE)
            logger.warning('Dropped event %r (%s): %s', name, UNCOPYABLE, exc)
            return
        try:
            send_event.delay(self.backend_name, processed_event)
        except EncodeError as exc:
            self.counters.increment(UNSERIALIZABLE)
            logger.error('Dropped event %r for backend %r (%s): Celery cannot serialize it: %s',
                         name, self.backend_name, UNSERIALIZABLE, exc)
        except Exception as exc:  # pylint: disable=broad-except
            self.counters.increment(PUBLISH_ERROR)
            logger.error('Dropped event %r for backend %r (%s): could not enqueue the Celery task: %r',
                         name, self.backend_name, PUBLISH_ERROR, exc)
        else:
            logger.debug('Scheduled celery task for event %r processing and routing', name)

    def send_to_backends(self, event, backend_names=None):
        """Send ``event`` to the nested backends (only those in ``backend_names`` if given).

        Returns the names of the backends that raised, for ``send_event`` to
        retry; it logs each failure with its traceback. ``NoTransformerImplemented``
        and ``NoBackendEnabled`` are logged at INFO and counted as ``skipped``,
        an ``EventDropped`` at WARNING under its reason; neither is retried.
        Never raises.
        """
        failed = []
        for name, backend in list(self.backends.items()):
            if backend_names is not None and name not in backend_names:
                continue
            try:
                backend.send(copy_event(event) if mutates_events(backend) else event)
            except (NoTransformerImplemented, NoBackendEnabled) as exc:
                self.counters.increment(SKIPPED)
                logger.info('Backend %r skipped event %r: %s: %s', name, event_name(event), type(exc).__name__, exc)
            except EventDropped as exc:
                self.counters.increment(exc.reason)
                logger.warning('Dropped event %r in backend %r (%s): %s', event_name(event), name, exc.reason, exc)
            except Exception:  # pylint: disable=broad-except
                logger.exception('Unable to send event %r to backend %r of %r', event_name(event), name,
                                 self.backend_name)
                failed.append(name)
        return failed
