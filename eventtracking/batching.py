"""The background publisher of a batching backend: a bounded queue, one thread, a timer, a spool.

:class:`BatchPublisher` takes events from callers without any I/O
(:meth:`~BatchPublisher.put`), and one daemon thread, started on the first
event, hands them to ``publish(events)`` in batches of up to ``batch_size``:
as soon as that many wait, or ``batch_interval`` seconds after the oldest
waiting event arrived. A publish that fails (or times out, see
:mod:`eventtracking.bounded`) sends the batch to the :class:`~eventtracking.spool.Spool`
when there is one, and the thread backs off (:mod:`eventtracking.backoff`)
before it tries the broker again, starting with the spool.

Every publisher is flushed and stopped at interpreter exit, and starts afresh
(empty queue, no thread) in a child process after ``os.fork()``; neither, nor
the thread, keeps a publisher alive that is otherwise unused.
"""

import atexit
import logging
import threading
import time
import weakref
from collections import deque

from eventtracking.backoff import Backoff
from eventtracking.exceptions import UnserializableEventError
from eventtracking.forking import after_fork_in_child
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import PUBLISH_ERROR, QUEUE_FULL, SPOOLED

LOG = RateLimitedLog(logging.getLogger(__name__))
UNSERIALIZABLE = UnserializableEventError.reason

_PUBLISHERS = weakref.WeakSet()

IDLE_RECHECK = 5.0
"""Seconds an idle thread waits before it lets go of its publisher for a moment (so that an unused
backend can be garbage-collected; its thread then ends)."""


class BatchPublisher:  # pylint: disable=too-many-instance-attributes
    """Queue events in memory and publish them in batches from a background thread.

    ``publish(events)`` must publish the list or raise. ``counters`` (an
    :class:`~eventtracking.stats.EventCounters`) counts ``queue_full``,
    ``spooled`` and ``publish_error``. ``spool`` is a :class:`~eventtracking.spool.Spool`
    or None. ``name`` names the backend in log lines.
    """

    def __init__(self, name, publish, counters, batch_size=100, batch_interval=1.0, max_queue_size=10000,
                 spool=None, backoff=None):
        self.name = name
        self.publish = publish
        self.counters = counters
        self.batch_size = max(1, int(batch_size))
        self.batch_interval = float(batch_interval)
        self.max_queue_size = max(1, int(max_queue_size))
        self.spool = spool
        self.backoff = backoff or Backoff()
        self.published = 0
        self._published_lock = threading.Lock()
        self._reset()
        _PUBLISHERS.add(self)
        after_fork_in_child(self, BatchPublisher._after_fork_in_child)

    def _reset(self):
        self._condition = threading.Condition(threading.Lock())
        self._signals = [0]  # notifications so far: an idle thread waits only if none came since it looked
        self._queue = deque()
        self._in_flight = 0
        self._thread = None
        self._stopping = False
        self._flush_requested = 0
        self._flush_done = 0

    # --- callers ---------------------------------------------------------------------------------

    def put(self, event):
        """Queue ``event`` for the thread; never blocks on I/O. Returns False when the queue was full."""
        with self._condition:
            if len(self._queue) >= self.max_queue_size:
                full = True
            else:
                full = False
                self._queue.append((time.monotonic(), event))
                if self._thread is None:
                    self._start()
                elif len(self._queue) == self.batch_size or len(self._queue) == 1:
                    self._notify()
        if full:
            self.counters.increment(QUEUE_FULL)
            LOG.warning((self.name, QUEUE_FULL),
                        'Dropped an event for backend %r (%s): %d events wait to be published already',
                        self.name, QUEUE_FULL, self.max_queue_size)
        return not full

    def wake(self):
        """Make the thread look at the spool (after something was spooled from outside it)."""
        with self._condition:
            if self._thread is None:
                self._start()
            self._notify()

    def flush(self, timeout=None):
        """Publish (or spool) every waiting event now, and try the spool once; True when nothing waits in memory."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            if self._thread is None:
                if not self._queue and self.spool is None:
                    return True
                self._start()
            self._flush_requested += 1
            wanted = self._flush_requested
            self._notify()
            while self._flush_done < wanted:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._condition.wait(remaining)
            return not self._queue and not self._in_flight

    def shutdown(self, timeout=5.0):
        """Flush, then stop the thread; True when nothing was left in memory. A later :meth:`put` starts again."""
        started = time.monotonic()
        emptied = self.flush(timeout)
        with self._condition:
            thread = self._thread
            self._stopping = True
            self._notify()
        if thread is not None:
            thread.join(None if timeout is None else max(0.0, timeout - (time.monotonic() - started)))
        if self.spool is not None and (thread is None or not thread.is_alive()):
            self.spool.close()
        return emptied

    def _notify(self):
        """Wake the thread (the condition's lock is held)."""
        self._signals[0] += 1
        self._condition.notify()

    @property
    def queued(self):
        """Events waiting in memory, including a batch being published."""
        with self._condition:
            return len(self._queue) + self._in_flight

    # --- the thread ------------------------------------------------------------------------------

    def _start(self):
        self._stopping = False
        self._thread = threading.Thread(target=_publisher_loop, args=(weakref.ref(self),),
                                        name=f'eventtracking-publisher-{self.name}', daemon=True)
        self._thread.start()

    def _step(self):
        """One turn of the thread: wait, publish a batch, retry the spool.

        Returns False when the thread must end, True to go on, or, with
        nothing to do for a while, ``(condition, signals, seen)`` for the
        thread to wait on without holding the publisher.
        """
        batch, flush, stop = self._next_batch()
        if batch is None:
            return self._condition, self._signals, flush
        if batch:
            self._safely(self._deliver, batch)
        if self.spool is not None and self.spool.pending() and (
                not self.backoff.waiting() or ((flush or stop) and not self._queue)):
            self._safely(self._replay)
        with self._condition:
            self._in_flight = 0
            if flush and not self._queue:
                self._flush_done = flush
            self._condition.notify_all()
            if stop and not self._queue:
                self._thread = None
                return False
        return True

    def _safely(self, function, *args):
        """Run one step of the thread; an unexpected error is logged and the thread goes on."""
        try:
            function(*args)
        except Exception:  # pylint: disable=broad-except
            LOG.exception((self.name, 'thread'), 'Unexpected error in the publisher thread of backend %r', self.name)

    def _next_batch(self):
        """Wait for a batch to publish (or a flush, a stop, a spool retry); return ``(batch, flush, stop)``.

        With nothing to do for more than :data:`IDLE_RECHECK` seconds, returns
        ``(None, notifications so far, False)`` at once.
        """
        with self._condition:
            while True:
                flush = self._flush_requested if self._flush_requested > self._flush_done else 0
                ready = self._ready(flush)
                if ready or flush or self._stopping:
                    break
                if self.spool is not None and self.spool.pending() and not self.backoff.waiting():
                    break
                wait = self._wait_time()
                if wait is None or wait > IDLE_RECHECK:
                    return None, self._signals[0], False
                self._condition.wait(wait)
            batch = []
            if ready:
                while self._queue and len(batch) < self.batch_size:
                    batch.append(self._queue.popleft()[1])
            self._in_flight = len(batch)
            return batch, flush, self._stopping

    def _ready(self, flush):
        if not self._queue:
            return False
        if flush or self._stopping:
            return True
        return self._due() and (self.spool is not None or not self.backoff.waiting())

    def _due(self):
        return len(self._queue) >= self.batch_size or time.monotonic() - self._queue[0][0] >= self.batch_interval

    def _wait_time(self):
        times = []
        if self._queue and not self._due():
            times.append(self._queue[0][0] + self.batch_interval - time.monotonic())
        if self.backoff.waiting() and (self._queue or (self.spool is not None and self.spool.pending())):
            times.append(self.backoff.remaining())
        return max(0.0, min(times)) if times else None

    def _deliver(self, batch):
        if self.spool is not None and (self.backoff.waiting() or self.spool.pending()):
            self.spool_batch(batch)
            return
        try:
            self.publish(batch)
        except Exception as exc:  # pylint: disable=broad-except
            delay = self.backoff.failed()
            if self.spool is not None:
                self.spool_batch(batch)
                return
            self.counters.increment(PUBLISH_ERROR, len(batch))
            LOG.error((self.name, PUBLISH_ERROR),
                      'Dropped a batch of %d event(s) for backend %r (%s): could not publish it: %r; '
                      'next attempt in %.1f s', len(batch), self.name, PUBLISH_ERROR, exc, delay)
        else:
            self.backoff.succeeded()
            self.count_published(len(batch))

    def spool_batch(self, batch):
        """Write ``batch`` to the spool and count it ``spooled``; count ``publish_error`` if the disk refuses.

        An event the spool's encoder refuses is left out and counted
        ``unserializable``; the others of its batch are spooled.
        """
        try:
            self.spool.append(batch)
        except (TypeError, ValueError):
            batch = self._encodable(batch)
            if not batch:
                return True
            return self.spool_batch(batch)
        except OSError as exc:
            self.counters.increment(PUBLISH_ERROR, len(batch))
            LOG.error((self.name, 'spool_write'),
                      'Dropped a batch of %d event(s) for backend %r (%s): could not write the spool in %s: %r',
                      len(batch), self.name, PUBLISH_ERROR, self.spool.directory, exc)
            return False
        self.counters.increment(SPOOLED, len(batch))
        LOG.warning((self.name, SPOOLED),
                    'Spooled %d event(s) for backend %r in %s: the broker is unavailable; they will be published '
                    'when it is back', len(batch), self.name, self.spool.directory)
        return True

    def _encodable(self, batch):
        """The events of ``batch`` the spool can encode; the others are counted ``unserializable`` and logged."""
        encodable = []
        for event in batch:
            try:
                self.spool.dumps(event)
            except (TypeError, ValueError):
                continue
            encodable.append(event)
        dropped = len(batch) - len(encodable)
        self.counters.increment(UNSERIALIZABLE, dropped)
        LOG.error((self.name, UNSERIALIZABLE),
                  'Dropped %d event(s) of a batch for backend %r (%s): they cannot be written to the spool',
                  dropped, self.name, UNSERIALIZABLE)
        return encodable

    def _replay(self):
        try:
            self.spool.replay(self._publish_spooled)
        except Exception as exc:  # pylint: disable=broad-except
            delay = self.backoff.failed()
            LOG.warning((self.name, 'replay'),
                        'Could not publish the spool of backend %r yet: %r; next attempt in %.1f s',
                        self.name, exc, delay)
        else:
            self.backoff.succeeded()

    def _publish_spooled(self, events):
        self.publish(events)
        self.count_published(len(events))

    def count_published(self, count):
        """Add ``count`` events to ``published`` (from any thread)."""
        with self._published_lock:
            self.published += count

    # --- process life ----------------------------------------------------------------------------

    def _after_fork_in_child(self):
        self._reset()
        self._published_lock = threading.Lock()
        self.published = 0
        self.backoff.reset_after_fork()
        if self.spool is not None:
            self.spool.forget_after_fork()


def _publisher_loop(ref):
    """The thread of the publisher ``ref`` (a weak reference): it ends when the publisher stops or is collected."""
    publisher = ref()
    if publisher is not None and publisher.spool is not None:
        publisher._safely(publisher.spool.adopt_orphans)  # pylint: disable=protected-access
    while True:
        publisher = ref()
        if publisher is None:
            return
        outcome = publisher._step()  # pylint: disable=protected-access
        del publisher
        if outcome is False:
            return
        if outcome is not True:
            condition, signals, seen = outcome
            del outcome
            with condition:
                if signals[0] == seen:
                    condition.wait(IDLE_RECHECK)


def _shutdown_all():
    for publisher in list(_PUBLISHERS):
        try:
            publisher.shutdown()
        except Exception:  # pylint: disable=broad-except
            logging.getLogger(__name__).exception('Could not flush the publisher of backend %r at exit',
                                                  publisher.name)


atexit.register(_shutdown_all)
