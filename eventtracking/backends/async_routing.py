"""A routing backend whose nested backends run in a Celery worker.

Configure it anywhere in the tree; ``backend_name`` is how the worker finds it
again in its own default tracker (built from the same settings): its key
among the top-level backends, or the dotted path of names from the root
(``'analytics.xapi'``). A :class:`~eventtracking.django.django_tracker.DjangoTracker` fills
in an empty ``backend_name`` with that path::

    EVENT_TRACKING_BACKENDS = {
        'caliper': {
            'ENGINE': 'eventtracking.backends.async_routing.AsyncRoutingBackend',
            'OPTIONS': {
                'processors': [...],   # run in the web process
                'backends': {...},     # run in the Celery worker
                'batch_size': 100,     # publish batches from a background thread (default 1: one task per event)
                'spool_dir': '/var/spool/eventtracking',  # keep what the broker refuses, publish it later
            },
        },
    }

The event travels through Celery's serializer. With the default JSON
serializer (kombu 5.3 and later), ``datetime``, ``date``, ``time``,
``Decimal`` and ``UUID`` values arrive as equal objects of the same type (a
datetime keeps its UTC offset); tuples arrive as lists. An event that waits
in the spool comes back as that serializer would bring it (see
:mod:`eventtracking.spool`).
"""

import logging
import sys
import threading
import time

from eventtracking._extras import missing_extra

try:
    from celery import _state as celery_state
    from kombu.exceptions import EncodeError
    from kombu.utils.json import dumps
    from kombu.utils.objects import cached_property as kombu_cached_property
except ImportError as exc:
    raise missing_extra('celery', __name__, exc) from exc

from eventtracking import tasks
from eventtracking.backends.routing import RoutingBackend
from eventtracking.backoff import Backoff
from eventtracking.batching import BatchPublisher, MemoryQueue
from eventtracking.bounded import BoundedCaller
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import UncopyableEventError, UnserializableEventError
from eventtracking.forking import after_fork_in_child
from eventtracking.isolation import copy_event
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.spool import DEFAULT_MAX_BYTES, FSYNC_MODES, Spool
from eventtracking.stats import BACKED_OFF, PUBLISH_ERROR
from eventtracking.tasks import send_event

logger = logging.getLogger(__name__)
LOG = RateLimitedLog(logger)

UNSERIALIZABLE = UnserializableEventError.reason

DEFAULT_PUBLISH_TIMEOUT = 1.0
"""Seconds ``emit()`` waits for one publish in the default mode before it gives up and backs off."""

REPLAY_BATCH_SIZE = 100
"""Events per task when the default mode (``batch_size=1``) publishes what it spooled."""

DIRECT_BACKOFF_CAP = 2.0
"""The longest back-off, in seconds, of the default mode's publishing from the caller: short, since the
events it holds back are lost without a ``spool_dir`` (the spool's own retries go up to 60 s)."""


class AsyncRoutingBackend(RoutingBackend):  # pylint: disable=too-many-instance-attributes
    """Run this backend's processors in the caller, then send the event to its backends from a Celery task.

    ``send`` runs the processors (``EventEmissionExit`` stops the event and
    counts it as ``filtered``), then:

    * with ``batch_size=1`` (the default, the original's behaviour), enqueues
      ``eventtracking.tasks.send_event.delay(backend_name, processed_event)``
      in the caller. The publish is bounded: after ``publish_timeout``
      seconds (None: no bound) the caller goes on, and the backend backs off
      (exponential, with jitter, first retry within 1 s, at most
      :data:`DIRECT_BACKOFF_CAP`, 2 s);
      events in the back-off window are spooled, or counted ``backed_off``
      without ``spool_dir``. A publish refused at once (broker down) is
      counted ``publish_error`` (or spooled, with ``spool_dir``) and the
      backend backs off too. With the app's ``task_always_eager`` (test
      settings) the task runs in the caller, unbounded, as in the original.
    * with ``batch_size`` > 1, appends the processed event to its log and
      returns: with ``spool_dir``, one record written to this process's
      spool file (a write-ahead log, see :mod:`eventtracking.spool`);
      without, an in-process queue of at most ``max_queue_size`` events.
      A background thread publishes ``eventtracking.tasks.send_events.delay(backend_name, events, batch_id=...)``
      with up to ``batch_size`` events, as soon as that many wait or
      ``batch_interval`` seconds after the oldest arrived
      (see :class:`~eventtracking.batching.BatchPublisher`); a batch the
      broker refuses stays in the spool (counted ``spooled``) or is dropped
      from the queue (counted ``publish_error``).

    Enqueueing never raises: an event that cannot be published is logged and
    counted (``publish_error``, ``unserializable``, ``queue_full``,
    ``spool_full``, ``backed_off``).
    """

    named_by_path = True
    """A :class:`~eventtracking.django.django_tracker.DjangoTracker` sets an empty ``backend_name`` to this backend's dotted path."""

    def __init__(self, processors=None, backends=None, backend_name='',  # pylint: disable=too-many-arguments
                 batch_size=1, batch_interval=1.0, max_queue_size=10000, spool_dir=None,
                 publish_timeout=DEFAULT_PUBLISH_TIMEOUT, spool_max_bytes=DEFAULT_MAX_BYTES, spool_fsync='never'):
        self.backend_name = backend_name
        super().__init__(processors=processors, backends=backends)
        _validate(batch_size, batch_interval, max_queue_size, publish_timeout, spool_max_bytes, spool_fsync)
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.max_queue_size = max_queue_size
        self.spool_dir = spool_dir
        self.spool_max_bytes = spool_max_bytes
        self.spool_fsync = spool_fsync
        self.publish_timeout = publish_timeout
        self._caller = BoundedCaller(publish_timeout, name='eventtracking-publish')
        self._backoff = Backoff(cap=DIRECT_BACKOFF_CAP)
        self._publisher = None
        self._publisher_lock = threading.Lock()
        self._app = None
        after_fork_in_child(self, AsyncRoutingBackend._after_fork_in_child)

    @property
    def write_ahead(self):
        """True when ``send`` writes every event to the spool before it returns (``spool_dir`` and batching)."""
        return bool(self.spool_dir) and self.batch_size > 1

    # --- the publisher and its spool -------------------------------------------------------------

    @property
    def publisher(self):
        """The :class:`~eventtracking.batching.BatchPublisher` of this backend, made on first use.

        With ``spool_dir``, its thread starts then and takes over the spool
        files this backend's processes left behind.
        """
        publisher = self._publisher
        if publisher is None:
            with self._publisher_lock:
                if self._publisher is None:
                    self._note_app()
                    if self.spool_dir:
                        log = Spool(self.spool_dir, self.backend_name, self.spool_max_bytes, self.spool_fsync)
                    else:
                        log = MemoryQueue(self.max_queue_size)
                    self._publisher = BatchPublisher(
                        self.backend_name, self._publish_batch, self.counters, log,
                        batch_size=self.batch_size if self.batch_size > 1 else REPLAY_BATCH_SIZE,
                        batch_interval=self.batch_interval,
                    )
                    if self.spool_dir:
                        self._publisher.wake()  # takes over the spool files of processes that ended
                publisher = self._publisher
        return publisher

    def _note_app(self):
        """Keep the Celery app the application configured, for the publisher's thread (Celery's current app is
        per thread: a thread that never set one gets Celery's fallback app)."""
        if self._app is None:
            app = celery_state._tls.current_app or celery_state.default_app  # pylint: disable=protected-access
            if app is not None:
                _prepare(app)
            self._app = app

    def _publishing_app(self):
        """The app to publish with: the one noted from a caller, else the default one, else the only one made."""
        if self._app is not None:
            return self._app
        if celery_state.default_app is not None:
            return celery_state.default_app
        apps = list(celery_state._apps)  # pylint: disable=protected-access
        return apps[0] if len(apps) == 1 else None

    def _after_fork_in_child(self):
        """A new lock, and the parent's broker connections left to the parent (Celery's own hook runs only in
        ``multiprocessing`` children)."""
        self._publisher_lock = threading.Lock()
        app = self._app
        if app is not None:
            try:
                app._after_fork()  # pylint: disable=protected-access
            except Exception:  # pylint: disable=broad-except
                logger.debug('Could not reset the Celery app after fork', exc_info=True)

    def flush(self, timeout=None):
        """Publish (or spool) every queued event now and try the spool; True when nothing is left in memory."""
        return self.publisher.flush(timeout)

    def shutdown(self, timeout=5.0):
        """Flush, then stop the background thread (a later event starts it again). Also done at exit."""
        return self.publisher.shutdown(timeout)

    @property
    def delivery(self):
        """``{'queued': n, 'published': n, 'spooled_pending': n}``: events in memory, published, in the spool."""
        publisher = self.publisher
        return {
            'queued': publisher.queued,
            'published': publisher.published,
            'spooled_pending': publisher.delivery_state()['spooled_events'],
        }

    # --- sending ---------------------------------------------------------------------------------

    def send(self, event):
        """Process ``event`` here and enqueue the result for the nested backends; never raises."""
        processed = self.isolated(event)
        if processed is None:
            return
        processed_event, owned = processed
        if self.batch_size == 1:
            self._publish_one(event_name(processed_event), processed_event)
            return
        if not owned and not self.write_ahead:  # queued in memory: the caller's later changes must not reach it
            try:
                processed_event = copy_event(processed_event)
            except UncopyableEventError as exc:
                self._count_uncopyable(exc)
                return
        if self._app is None:
            self._note_app()
        self.publisher.put(processed_event)

    def _publish_one(self, name, processed_event):
        """Publish one event from the caller, bounded by ``publish_timeout``, with back-off and spool.

        With the app's ``task_always_eager`` (test settings) the task runs at
        once in the caller, as in the original: no helper thread, no bound.
        """
        publisher = self.publisher
        if self._backoff.waiting() or (publisher.spool is not None and publisher.spool.pending()):
            self._hold_back(name, processed_event)
            return
        delay = send_event.delay  # resolved here: Celery's current app is per thread
        started = time.perf_counter()
        try:
            if _eager(send_event):
                delay(self.backend_name, processed_event)
            else:
                self._caller(delay, self.backend_name, processed_event)
        except EncodeError as exc:
            self.counters.increment(UNSERIALIZABLE)
            LOG.error((self.backend_name, UNSERIALIZABLE),
                      'Dropped event %s for backend %r (%s): Celery cannot serialize it: %s',
                      safe_name(name), self.backend_name, UNSERIALIZABLE, type(exc).__name__)
        except Exception as exc:  # pylint: disable=broad-except  # refused, timed out (CallTimedOut), ...
            self._backoff.failed()
            publisher.recovery.failed()
            self._publish_failed(name, processed_event, exc)
        else:
            self._backoff.succeeded()
            publisher.count_published(1, time.perf_counter() - started)
            logger.debug('Scheduled celery task for event %r processing and routing', name)

    def _publish_failed(self, name, processed_event, exc):
        if self._spool_one(processed_event):
            return
        self.counters.increment(PUBLISH_ERROR)
        LOG.error((self.backend_name, PUBLISH_ERROR),
                  'Dropped event %s for backend %r (%s): could not enqueue the Celery task: %s',
                  safe_name(name), self.backend_name, PUBLISH_ERROR, type(exc).__name__)

    def _hold_back(self, name, processed_event):
        """An event arriving while the backend backs off: spooled, or counted ``backed_off``."""
        if self._spool_one(processed_event):
            return
        self.counters.increment(BACKED_OFF)
        LOG.warning((self.backend_name, BACKED_OFF),
                    'Dropped event %s for backend %r (%s): the broker failed moments ago; next attempt in %.1f s',
                    safe_name(name), self.backend_name, BACKED_OFF, self._backoff.remaining())

    def _spool_one(self, processed_event):
        """With ``spool_dir``: spool the event (the thread publishes it later) and return True; else False."""
        publisher = self.publisher
        if publisher.spool is None:
            return False
        publisher.spool_event(processed_event)
        return True

    def _publish_batch(self, events, batch_id):
        """Publish ``events`` as one ``send_events`` task (from the publisher's thread); raise if it fails.

        Events Celery cannot serialize are counted ``unserializable`` and left out.
        """
        app = self._publishing_app()
        if app is not None:
            app.set_current()  # this thread's current app, for tasks.send_events (a proxy)
        try:
            self._caller(tasks.send_events.delay, self.backend_name, events, batch_id=batch_id)
        except EncodeError:
            serializable = [event for event in events if _serializable(event)]
            dropped = len(events) - len(serializable)
            self.counters.increment(UNSERIALIZABLE, dropped)
            LOG.error((self.backend_name, UNSERIALIZABLE),
                      'Dropped %d event(s) of a batch for backend %r (%s): Celery cannot serialize them',
                      dropped, self.backend_name, UNSERIALIZABLE)
            if serializable and dropped:
                self._caller(tasks.send_events.delay, self.backend_name, serializable, batch_id=batch_id)

    # --- worker side -----------------------------------------------------------------------------

    def send_to_backends(self, event, backend_names=None):
        """Send ``event`` to the nested backends (only those in ``backend_names`` if given).

        Returns the names of the backends that raised an error worth a retry,
        for ``send_event`` to retry (each logged with its traceback). Skips
        and drops are logged and counted as :class:`~eventtracking.backends.routing.RoutingBackend`
        counts them, and not retried. Never raises.
        """
        failed = []
        self._fan_out(event, self.route_to(backend_names), failed)
        return failed

    def send_batch_to_backends(self, events, backend_names=None):
        """Send the list ``events`` to the nested backends (only those in ``backend_names`` if given).

        A nested backend with a callable ``send_batch`` gets the list in one
        call (its own copies when it may change events); any other gets
        ``send`` per event. Returns ``{backend name: indexes of the events that
        failed in it}`` for the backends that failed, for ``send_events`` to
        retry. Skips and drops are counted as :meth:`send_to_backends` counts
        them. Never raises.
        """
        failures = {}
        for step in self.route_to(backend_names):
            name, backend, needs_copy = step
            send_batch = getattr(backend, 'send_batch', None)
            failed = []
            if callable(send_batch):
                try:
                    send_batch([copy_event(event) for event in events] if needs_copy else events)
                except Exception as exc:  # pylint: disable=broad-except
                    self._backend_failed(name, None, exc, failed, shown=f'a batch of {len(events)} event(s)')
                failed_here = range(len(events)) if failed else ()
            else:
                failed_here = []
                for index, event in enumerate(events):
                    self._fan_out(event, (step,), failed)
                    if len(failed) > len(failed_here):
                        failed_here.append(index)
            if failed_here:
                failures[name] = list(failed_here)
        return failures


def _renew_kombu_locks(_owner=None):
    """In a child after ``fork``: a new lock for every kombu ``cached_property`` of Celery's and kombu's classes.

    kombu's ``cached_property`` takes a lock on every read (Celery's
    ``amqp.send_task_message`` is one); a child forked while a publishing
    thread held one would wait for it for ever.
    """
    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith('celery.') or name.startswith('kombu.')):
            continue
        for value in list(vars(module).values()):
            if not isinstance(value, type):
                continue
            for attribute in list(vars(value).values()):
                if isinstance(attribute, kombu_cached_property):
                    attribute.lock = threading.RLock()


def _prepare(app):
    """Finalize ``app`` and build its producer pool here, in the caller, not in the publisher's thread.

    A child forked while that thread was halfway through them would find the
    app finalized without its tasks, or a lazy attribute's lock held for ever.
    """
    try:
        app.tasks  # pylint: disable=pointless-statement  # finalizes, and registers the shared tasks
        app.amqp.producer_pool  # pylint: disable=pointless-statement
    except Exception:  # pylint: disable=broad-except  # the thread will meet the same error and count it
        logger.debug('Could not prepare the Celery app for publishing', exc_info=True)


def _eager(task):
    """Whether ``task``'s app runs tasks at once in the caller (``task_always_eager``); False for a stand-in."""
    try:
        return task.app.conf.task_always_eager is True
    except Exception:  # pylint: disable=broad-except  # a mock, or no app
        return False


def _validate(batch_size, batch_interval, max_queue_size, publish_timeout,  # pylint: disable=too-many-arguments
              spool_max_bytes=DEFAULT_MAX_BYTES, spool_fsync='never'):
    """``ValueError`` for an option value the backend cannot work with (reported as eventtracking.E004)."""
    for name, value in (('batch_size', batch_size), ('max_queue_size', max_queue_size),
                        ('spool_max_bytes', spool_max_bytes)):
        if not _number(value, int) or value < 1:
            raise ValueError(f'{name} must be an integer of at least 1, not {value!r}')
    if not _number(batch_interval) or not batch_interval > 0:
        raise ValueError(f'batch_interval must be a number of seconds above 0, not {batch_interval!r}')
    if publish_timeout is not None and not (_number(publish_timeout) and publish_timeout > 0):
        raise ValueError(f'publish_timeout must be None or a number of seconds above 0, not {publish_timeout!r}')
    if spool_fsync not in FSYNC_MODES:
        raise ValueError(f'spool_fsync must be one of {", ".join(map(repr, FSYNC_MODES))}, not {spool_fsync!r}')


def _number(value, types=(int, float)):
    """Whether ``value`` is of ``types`` and not a bool (True is an int to Python, not a size to a user)."""
    return isinstance(value, types) and not isinstance(value, bool)


def _serializable(event):
    try:
        dumps(event)
    except Exception:  # pylint: disable=broad-except
        return False
    return True


after_fork_in_child(AsyncRoutingBackend, _renew_kombu_locks)
