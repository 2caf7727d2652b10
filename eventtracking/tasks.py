"""Celery tasks: the worker half of :class:`~eventtracking.backends.async_routing.AsyncRoutingBackend`.

:func:`send_event` (one event) and :func:`send_events` (a batch) run in a
Celery worker. They find the ``AsyncRoutingBackend`` by name in the default
tracker (a top-level name, or the dotted path of names from the root, see
:func:`find_backend`) and send the events, already processed in the web
process, to that backend's nested backends.

Publishing from the web process is bounded: unless the caller passes its own
``retry``/``retry_policy``, :class:`SendEventTask` publishes with
:data:`PUBLISH_RETRY_POLICY` (reconnect once, no waiting), so an unreachable
broker costs the request milliseconds instead of Celery's default of
several seconds. A broker that accepts connections but never answers is
bounded by the backend's ``publish_timeout`` (the caller goes on; the publish
itself waits for the app's ``broker_transport_options``: ``socket_timeout``,
``socket_connect_timeout`` for Redis).
"""

from eventtracking._extras import missing_extra

try:
    from celery import Task, shared_task
    from celery.utils.log import get_task_logger
except ImportError as exc:
    raise missing_extra('celery', __name__, exc) from exc

from eventtracking.events import event_name
from eventtracking.isolation import copy_event
from eventtracking.processors.exceptions import NoBackendEnabled, NoTransformerImplemented
from eventtracking.stats import BACKEND_ERROR, DUPLICATE
from eventtracking.tracker import get_tracker

logger = get_task_logger(__name__)

MAX_RETRIES = 3
"""How many times :func:`send_event` is retried before it gives up on an event."""

COUNTDOWN = 30
"""Seconds between a failed attempt of :func:`send_event` and its retry."""

PUBLISH_RETRY_POLICY = {'max_retries': 1, 'interval_start': 0, 'interval_step': 0, 'interval_max': 0}
"""How :class:`SendEventTask` publishes from application code: one immediate reconnect, then give up."""


class SendEventTask(Task):
    """Task class of :func:`send_event`: its messages are published without lingering on a dead broker.

    Called from application code (not from inside a running ``send_event``,
    whose retries use the app's own policy), ``apply_async`` and ``delay``
    publish with ``retry=True`` and ``publish_retry_policy`` unless the
    caller passes ``retry`` or ``retry_policy``. One reconnect is allowed so
    that a connection dropped by a broker restart does not lose the event.
    """

    publish_retry_policy = PUBLISH_RETRY_POLICY

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None,
                    link=None, link_error=None, shadow=None, **options):
        if self.request.called_directly:
            options.setdefault('retry', True)
            options.setdefault('retry_policy', dict(self.publish_retry_policy))
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)


try:
    from edx_django_utils.monitoring import set_code_owner_attribute_from_module
except ImportError:  # edx-django-utils comes with the eventbus extra, not the celery one
    set_code_owner_attribute_from_module = None


def _set_code_owner(module):
    """Tag the task for Open edX code-owner monitoring when that is available; never fails."""
    if set_code_owner_attribute_from_module is None:
        return
    try:
        set_code_owner_attribute_from_module(module)
    except Exception:  # pylint: disable=broad-except
        logger.debug('Could not set the code owner attribute for %s', module, exc_info=True)


@shared_task(bind=True, base=SendEventTask)
def send_event(self, backend_name, processed_event, nested_backends=None):
    """Send ``processed_event`` to the nested backends of the default tracker's backend ``backend_name``.

    Meant to be enqueued only by ``AsyncRoutingBackend``: the backend's
    processors have already run, and ``backend_name`` names a top-level
    routing backend of the default tracker.

    ``NoTransformerImplemented`` and ``NoBackendEnabled`` are logged at INFO.
    Any other failure retries the task after :data:`COUNTDOWN` seconds, at most
    :data:`MAX_RETRIES` times; when nested backends fail, only those are
    retried (their names travel in ``nested_backends``), and when the retries
    run out they are logged at ERROR and counted as ``backend_error``.
    """
    _set_code_owner(self.__module__)
    name = event_name(processed_event)
    try:
        backend = find_backend(get_tracker(), backend_name)
        if nested_backends is None:
            failed = backend.send_to_backends(copy_event(processed_event))
        else:
            failed = backend.send_to_backends(copy_event(processed_event), backend_names=nested_backends)
    except (NoTransformerImplemented, NoBackendEnabled) as exc:
        logger.info('[send_event] Failed to send event [%s] with backend [%s], [%s]', name, backend_name, exc)
        return
    except Exception as exc:  # pylint: disable=broad-except
        logger.exception('[send_event] Failed to send event [%s] with backend [%s], [%r]', name, backend_name, exc)
        raise self.retry(exc=exc, countdown=COUNTDOWN, max_retries=MAX_RETRIES)
    if isinstance(failed, (list, tuple)) and failed:
        _retry_or_give_up(self, backend, backend_name, list(failed), f'event [{name}]', 1,
                          (backend_name, processed_event), {})


def _retry_or_give_up(task, backend, backend_name, failed_backends, what,  # pylint: disable=too-many-arguments
                      events, args, kwargs, last=True):
    """Retry ``task`` for the nested backends that failed, or, when its retries ran out, count and log them.

    ``events`` is how many events each failed backend lost; ``args`` and
    ``kwargs`` are the retry's (``nested_backends`` is added). Unless
    ``last``, the retry is sent and this returns (other backends, that
    failed on other events, get a retry of their own).
    """
    label = task.name.rsplit('.', 1)[-1]
    if task.request.retries >= MAX_RETRIES:
        counters = getattr(backend, 'counters', None)
        if counters is not None:  # under each nested backend's path, as RoutingBackend counts a child's failure
            for name in failed_backends:
                counters.increment(BACKEND_ERROR, events, child=name)
        logger.error('[%s] Gave up on %s for backend(s) %s of [%s] after %d retries (%s)', label, what,
                     ', '.join(failed_backends), backend_name, task.request.retries, BACKEND_ERROR)
        return
    logger.warning('[%s] %s failed in backend(s) %s of [%s]; retrying them in %ss (retry %d of %d)', label,
                   what[0].upper() + what[1:], ', '.join(failed_backends), backend_name, COUNTDOWN,
                   task.request.retries + 1, MAX_RETRIES)
    kwargs = {**kwargs, 'nested_backends': failed_backends}
    if last:
        raise task.retry(args=args, kwargs=kwargs, countdown=COUNTDOWN, max_retries=MAX_RETRIES)
    if task.request.is_eager:  # an eager retry runs only when raised: this one runs here
        task.signature_from_request(task.request, args, kwargs, retries=task.request.retries + 1).apply()
    else:
        task.retry(args=args, kwargs=kwargs, countdown=COUNTDOWN, max_retries=MAX_RETRIES, throw=False)


def find_backend(tracker, backend_name):
    """The backend of ``tracker`` named ``backend_name``: a top-level name, or a dotted path of names from the root.

    A top-level name wins over a path (a name may hold dots). ``KeyError`` when
    neither finds a backend.
    """
    if backend_name in tracker.backends:
        return tracker.backends[backend_name]
    node = tracker
    for part in backend_name.split('.'):
        children = getattr(node, 'backends', None)
        if children is None or part not in children:
            raise KeyError(backend_name)
        node = children[part]
    return node


@shared_task(bind=True, base=SendEventTask)
def send_events(self, backend_name, events, nested_backends=None, batch_id=None):
    """Send the batch ``events`` to the nested backends of the tracker's backend ``backend_name``.

    Published by a batching ``AsyncRoutingBackend``. A nested backend with a
    callable ``send_batch(events)`` gets the whole list in one call; any other
    gets ``send`` per event. Failures are retried as :func:`send_event`
    retries them: only the nested backends that failed (in ``nested_backends``),
    each with only the events that failed in it, after :data:`COUNTDOWN` seconds, at most
    :data:`MAX_RETRIES` times; then they are logged at ERROR and counted as
    ``backend_error`` (one per event and backend).

    ``batch_id`` is the same on every publish of one batch. With a
    de-duplication cache (see :func:`is_duplicate`) a batch id seen before is
    skipped and counted ``duplicate``; a retry of this task (by Celery, for the
    nested backends that failed) is not checked again.
    """
    _set_code_owner(self.__module__)
    try:
        backend = find_backend(get_tracker(), backend_name)
        first_try = nested_backends is None and not self.request.retries
        if first_try and batch_id is not None and is_duplicate(backend_name, batch_id):
            backend.counters.increment(DUPLICATE, len(events))
            logger.warning('[send_events] Skipped a batch of %d event(s) for backend [%s] (%s): batch %s was '
                           'delivered already', len(events), backend_name, DUPLICATE, batch_id)
            return
        failed = backend.send_batch_to_backends([copy_event(event) for event in events],
                                                backend_names=nested_backends)
    except Exception as exc:  # pylint: disable=broad-except
        logger.exception('[send_events] Failed to send %d event(s) with backend [%s], [%r]',
                         len(events), backend_name, exc)
        raise self.retry(exc=exc, countdown=COUNTDOWN, max_retries=MAX_RETRIES)
    groups = {}  # the events that failed -> the nested backends they failed in: each backend gets its own again
    for name, indexes in failed.items():
        groups.setdefault(tuple(indexes), []).append(name)
    for number, (indexes, names) in enumerate(groups.items(), 1):
        retry_events = [events[index] for index in indexes]
        _retry_or_give_up(self, backend, backend_name, names, f'{len(retry_events)} event(s)', len(retry_events),
                          (backend_name, retry_events), {'batch_id': batch_id}, last=number == len(groups))


DEDUP_CACHE_SETTING = 'EVENT_TRACKING_DEDUP_CACHE'
DEDUP_TTL_SETTING = 'EVENT_TRACKING_DEDUP_TTL'
DEFAULT_DEDUP_TTL = 86400


def is_duplicate(backend_name, batch_id):
    """Whether the worker delivered batch ``batch_id`` of ``backend_name`` already: False without a cache.

    The cache is the Django cache alias in ``EVENT_TRACKING_DEDUP_CACHE``
    (shared by every worker: Redis, Memcached); the id is added to it for
    ``EVENT_TRACKING_DEDUP_TTL`` seconds (default a day) when the batch is
    first delivered. An unreachable cache lets the batch through.
    """
    # Django is a layer above the tasks: its settings name the cache, so it is imported only when asked.
    try:
        from django.conf import settings  # pylint: disable=import-outside-toplevel
        alias = getattr(settings, DEDUP_CACHE_SETTING, None)
    except Exception:  # pylint: disable=broad-except  # no Django, or settings not configured
        return False
    if not alias:
        return False
    from django.core.cache import caches  # pylint: disable=import-outside-toplevel
    ttl = getattr(settings, DEDUP_TTL_SETTING, DEFAULT_DEDUP_TTL)
    try:
        return not caches[alias].add(f'eventtracking:batch:{backend_name}:{batch_id}', 1, ttl)
    except Exception:  # pylint: disable=broad-except
        logger.warning('[send_events] The de-duplication cache %r failed; delivering batch %s anyway', alias,
                       batch_id, exc_info=True)
        return False
