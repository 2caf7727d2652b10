"""The background publisher of a batching backend: one thread that publishes batches from a log.

The log is a :class:`~eventtracking.spool.Spool` (a write-ahead log on disk)
or a :class:`MemoryQueue` (bounded, in memory: what a killed process had in
it is lost). Callers append to it without waiting for the broker
(:meth:`BatchPublisher.put`); one daemon thread, started on the first event,
hands batches of up to ``batch_size`` events to ``publish(events, batch_id)``:
as soon as that many wait, or ``batch_interval`` seconds after the oldest
was written. A publish that fails leaves the batch in a spool (the same
batch, with the same id, is tried again) or drops it from a memory queue
(counted ``publish_error``); either way the thread backs off
(:mod:`eventtracking.backoff`).

One condition is the one wake mechanism. A thread that cannot be started
leaves nothing behind (the next event tries again; :meth:`~BatchPublisher.shutdown`
publishes a memory queue itself). Every publisher is stopped at interpreter
exit, and starts afresh (new locks, no thread, an empty memory queue, no spool
file) in a child process after ``os.fork()``. The thread holds its publisher
only while it works, so an unused backend can be garbage-collected.
"""

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections import deque

from eventtracking import metrics
from eventtracking.backoff import Backoff
from eventtracking.exceptions import UnserializableEventError
from eventtracking.forking import after_fork_in_child
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.spool import Spool, SpoolFull
from eventtracking.stats import PUBLISH_ERROR, QUEUE_FULL, SPOOL_CORRUPT, SPOOL_FULL, SPOOLED, RecoveryLog

LOG = RateLimitedLog(logging.getLogger(__name__))
UNSERIALIZABLE = UnserializableEventError.reason

_PUBLISHERS = weakref.WeakSet()
_EXITING = []

IDLE_RECHECK = 5.0
"""Seconds an idle thread waits before it lets go of its publisher for a moment (an unused backend can then be
garbage-collected, and its thread ends)."""

ADOPT_INTERVAL = 10.0
"""Seconds between two looks for spool files of processes that ended (a ``multiprocessing`` child's, say)."""


class QueueFull(Exception):
    """The memory queue holds ``max_size`` events already."""


class MemoryQueue:
    """A bounded in-memory log with the interface of :class:`~eventtracking.spool.Spool`."""

    def __init__(self, max_size, clock=time.time):
        self.max_size = max_size
        self.clock = clock
        self._lock = threading.Lock()
        self._events = deque()
        self._in_flight = 0

    def append(self, event):
        """Queue ``event``; return how many wait; :class:`QueueFull` when ``max_size`` wait already."""
        with self._lock:
            if len(self._events) >= self.max_size:
                raise QueueFull()
            self._events.append((self.clock(), event))
            return len(self._events)

    def pending(self):
        """Events waiting, with a batch being published."""
        return len(self._events) + self._in_flight

    def pending_bytes(self):
        return 0

    def oldest_time(self):
        try:
            return self._events[0][0]
        except IndexError:
            return None

    def next_batch(self, limit):
        with self._lock:
            events = [self._events.popleft()[1] for _ in range(min(limit, len(self._events)))]
            self._in_flight = len(events)
        return _MemoryBatch(events) if events else None

    def commit(self, batch):  # pylint: disable=unused-argument
        self._in_flight = 0

    def drop_all(self):
        """Empty the queue; return how many events it held."""
        with self._lock:
            count = len(self._events)
            self._events.clear()
            return count

    def adopt_orphans(self):
        return 0

    def close(self):
        pass

    def forget_after_fork(self):
        self._lock = threading.Lock()
        self._events = deque()
        self._in_flight = 0


class _MemoryBatch:
    __slots__ = ('events', 'id', 'corrupt')

    def __init__(self, events):
        self.events = events
        self.id = uuid.uuid4().hex  # pylint: disable=invalid-name
        self.corrupt = 0


class BatchPublisher:  # pylint: disable=too-many-instance-attributes
    """Publish the events of ``log`` in batches from one background thread.

    ``publish(events, batch_id)`` must publish the list or raise. ``counters``
    (an :class:`~eventtracking.stats.EventCounters`) counts what is lost or
    delayed. ``name`` names the backend in log lines. ``clock`` (wall time) is
    the one the log stamps events with. Options are validated by the backend.
    """

    def __init__(self, name, publish, counters, log, batch_size=100, batch_interval=1.0,  # pylint: disable=too-many-arguments
                 backoff=None, clock=time.time):
        self.name = name
        self.publish = publish
        self.counters = counters
        self.log = log
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.published = 0
        self._reset()
        _PUBLISHERS.add(self)
        after_fork_in_child(self, BatchPublisher._after_fork_in_child)
        metrics.register_delivery(name, _weak_source(weakref.ref(self)))
        self.recovery = RecoveryLog(name, logging.getLogger(__name__))

    def _reset(self):
        self._condition = threading.Condition(threading.Lock())
        self._signals = [0]  # wake-ups so far: the thread sleeps only if none came since it looked
        self._pass_lock = threading.Lock()  # one publishing pass at a time (the thread's, or shutdown's)
        self._thread = None
        self._stopping = False
        self._flush_requested = self._flush_done = 0
        self._delayed = 0  # events of the spool already counted ``spooled``
        self._next_adoption = 0.0

    @property
    def spool(self):
        """The :class:`~eventtracking.spool.Spool`, or None with a memory queue."""
        return self.log if isinstance(self.log, Spool) else None

    # --- callers ---------------------------------------------------------------------------------

    def put(self, event):
        """Append ``event`` to the log, never waiting for the broker; False (counted, logged) when it is refused."""
        try:
            waiting = self.log.append(event)
        except QueueFull:
            return self._refused(QUEUE_FULL, f'{self.log.max_size} events wait to be published already')
        except SpoolFull as exc:
            return self._refused(SPOOL_FULL, f'the spool is full: {exc}')
        except Exception as exc:  # pylint: disable=broad-except  # the encoder's: TypeError, PicklingError, ...
            return self._refused(UNSERIALIZABLE, f'it cannot be written to the spool: {type(exc).__name__}')
        if waiting == 1 or waiting % self.batch_size == 0:
            self.wake()
        return True

    def spool_event(self, event):
        """Write ``event`` to the spool, counted ``spooled`` (the default mode's fallback); False if refused."""
        if self.put(event):
            self.counters.increment(SPOOLED)
            return True
        return False

    def _refused(self, reason, why):
        self.counters.increment(reason)
        LOG.warning((self.name, reason), 'Dropped an event for backend %r (%s): %s', self.name, reason, why)
        return False

    def wake(self):
        """Make the thread look at the log now (it is started if it is not running)."""
        with self._condition:
            self._signals[0] += 1
            if self._thread is None:
                self._start()
            else:
                self._condition.notify()

    def flush(self, timeout=None):
        """Publish every waiting event now (one try); True when nothing is left in memory."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            running = self._thread is not None or self._start()
            if running:
                self._flush_requested += 1
                wanted = self._flush_requested
                self._signals[0] += 1
                self._condition.notify()
                while self._flush_done < wanted and self._thread is not None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._condition.wait(remaining)
        if not running:
            self._pass(force=True)
        return self._memory_empty()

    def _memory_empty(self):
        return self.spool is not None or not self.log.pending()

    def shutdown(self, timeout=5.0):
        """Publish what waits, stop the thread, let go of the spool files; True when nothing was left in memory.

        A second call does nothing more; a later :meth:`put` starts again.
        """
        started = time.monotonic()
        with self._condition:
            thread = self._thread
            self._stopping = True
            self._signals[0] += 1
            self._condition.notify()
        if thread is not None:
            thread.join(None if timeout is None else timeout)
        elif self.spool is None and self.log.pending():
            self._pass(force=True)  # the thread never started (or cannot, at exit): publish from here
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        if self._pass_lock.acquire(timeout=-1 if left is None else left):
            try:
                self.log.close()
            finally:
                self._pass_lock.release()
        if _EXITING and self.spool is None:
            self._drop_left_at_exit()
        return self._memory_empty()

    def _drop_left_at_exit(self):
        """Count and log what the memory queue still holds as the process exits: lost, but not in silence."""
        lost = self.log.drop_all()
        if lost:
            self.counters.increment(PUBLISH_ERROR, lost)
            LOG.error((self.name, 'exit'), 'Dropped %d event(s) for backend %r (%s): not published before the '
                      'process exited', lost, self.name, PUBLISH_ERROR)

    @property
    def queued(self):
        """Events waiting in memory, including a batch being published."""
        return 0 if self.spool is not None else self.log.pending()

    def delivery_state(self):
        """``queued``, ``spooled_events``, ``spooled_bytes``, ``oldest_pending_age``: what waits (for metrics)."""
        oldest = self.log.oldest_time()
        spooled = self.spool is not None
        return {'queued': self.queued, 'spooled_events': self.log.pending() if spooled else 0,
                'spooled_bytes': self.log.pending_bytes(),
                'oldest_pending_age': None if oldest is None else max(0.0, self.clock() - oldest)}

    def count_published(self, count, seconds=None):
        """Add ``count`` events to ``published``.

        With ``seconds`` (the caller's own publish in the default mode, and how
        long it took), also to the metrics, and to the recovery line.
        """
        with self._condition:
            self.published += count
        if seconds is not None:
            metrics.published(self.name, count, seconds)
            self.recovery.succeeded(count, remaining=self.log.pending())

    # --- the thread ------------------------------------------------------------------------------

    def _start(self):
        """Start the thread (the condition's lock is held); False, with no trace left, if it cannot start."""
        if _EXITING:
            return False
        self._stopping = False
        thread = threading.Thread(target=_publisher_loop, args=(weakref.ref(self),),
                                  name=f'eventtracking-publisher-{self.name}', daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no new threads at interpreter shutdown, or the system refused one
            return False
        self._thread = thread
        return True

    def _turn(self):
        """One turn of the thread: returns False to end, else the seconds to sleep (None: until woken)."""
        with self._condition:
            flush, stopping = self._flush_requested, self._stopping
        wait = self._pass(force=bool(flush > self._flush_done or stopping))
        with self._condition:
            self._flush_done = max(self._flush_done, flush)
            self._condition.notify_all()
            if stopping:
                self._thread = None
                return False
        return wait

    def _pass(self, force):
        """Publish every batch that is due (all of them if ``force``); return seconds until the next is due."""
        with self._pass_lock:
            try:
                if self.spool is not None and time.monotonic() >= self._next_adoption:
                    self._next_adoption = time.monotonic() + ADOPT_INTERVAL
                    self.log.adopt_orphans()
                return self._publish_due(force)
            except Exception:  # pylint: disable=broad-except
                LOG.exception((self.name, 'thread'), 'Unexpected error in the publisher of backend %r', self.name)
                return self.backoff.failed()

    def _publish_due(self, force):
        while True:
            if self.backoff.waiting() and not force:
                return self.backoff.remaining()
            pending = self.log.pending()
            if not pending:
                return None if self.spool is None else ADOPT_INTERVAL
            if pending < self.batch_size and not force:
                oldest = self.log.oldest_time()
                due_in = 0.0 if oldest is None else oldest + self.batch_interval - self.clock()
                if due_in > 0:
                    return min(due_in, self.batch_interval)
            batch = self.log.next_batch(self.batch_size)
            if batch is None:
                return None
            if batch.corrupt:
                self.counters.increment(SPOOL_CORRUPT, batch.corrupt)
            if not batch.events:
                self.log.commit(batch)
            elif not self._publish(batch):
                return self.backoff.remaining()

    def _publish(self, batch):
        count = len(batch.events)
        started = time.perf_counter()
        try:
            self.publish(batch.events, batch.id)
        except Exception as exc:  # pylint: disable=broad-except
            delay = self.backoff.failed()
            self.recovery.failed()
            if self.spool is None:
                self.log.commit(batch)
                self.counters.increment(PUBLISH_ERROR, count)
                LOG.error((self.name, PUBLISH_ERROR),
                          'Dropped a batch of %d event(s) for backend %r (%s): could not publish it: %r; '
                          'next attempt in %.1f s', count, self.name, PUBLISH_ERROR, exc, delay)
            else:
                pending = self.log.pending()
                if pending > self._delayed:
                    self.counters.increment(SPOOLED, pending - self._delayed)
                    self._delayed = pending
                LOG.warning((self.name, SPOOLED),
                            'Could not publish backend %r: %r; %d event(s) wait in the spool in %s, next attempt '
                            'in %.1f s', self.name, exc, pending, self.log.directory, delay)
            return False
        seconds = time.perf_counter() - started
        self.backoff.succeeded()
        self.log.commit(batch)
        self._delayed = max(0, self._delayed - count)
        self.count_published(count)
        metrics.published(self.name, count, seconds)
        self.recovery.succeeded(count, remaining=self.log.pending())
        return True

    # --- process life ----------------------------------------------------------------------------

    def _after_fork_in_child(self):
        self._reset()
        self.published = 0
        self.log.forget_after_fork()


def _weak_source(ref):
    """``delivery_state`` of the publisher ``ref`` without keeping it alive (nothing waits once it is gone)."""

    def source():
        publisher = ref()
        if publisher is None:
            return {'queued': 0, 'spooled_events': 0, 'spooled_bytes': 0, 'oldest_pending_age': None}
        return publisher.delivery_state()

    return source


def _publisher_loop(ref):
    """The thread of the publisher ``ref`` (a weak reference): it ends when the publisher stops or is collected."""
    while True:
        publisher = ref()
        if publisher is None:
            return
        condition, signals = publisher._condition, publisher._signals  # pylint: disable=protected-access
        seen = signals[0]
        wait = publisher._turn()  # pylint: disable=protected-access
        del publisher
        if wait is False:
            return
        with condition:
            if signals[0] == seen:
                condition.wait(IDLE_RECHECK if wait is None else min(wait, IDLE_RECHECK))


def _shutdown_all():
    _EXITING.append(True)
    for publisher in list(_PUBLISHERS):
        try:
            publisher.shutdown()
        except Exception:  # pylint: disable=broad-except
            logging.getLogger(__name__).exception('Could not flush the publisher of backend %r at exit',
                                                  publisher.name)


atexit.register(_shutdown_all)
