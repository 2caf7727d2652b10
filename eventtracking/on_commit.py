"""Events that wait for the database transaction: how ``Tracker.emit_on_commit`` works.

The event is built when ``emit_on_commit`` is called (its timestamp and the
contexts entered then) and wrapped in a :class:`PendingEvent`, registered with
the connection's ``on_commit(..., robust=True)`` (what Django's
``transaction.on_commit(..., using=using, robust=True)`` does), so that
nothing one callback does can stop the others or the commit. Django runs it
after the outermost atomic block commits, and drops it without calling it when
the block (or the savepoint) it was registered in rolls back.

Django has no rollback callback, so a discarded event is noticed when Django
lets go of it: Django keeps its pending callbacks in a list on the connection
and replaces that list on rollback; the :class:`PendingEvent` is then freed
(at once, by reference counting) and its finalizer counts it ``rolled_back``
in the tracker's ``stats`` and logs it, never having routed it.

A transaction that commits can drop events too: when an application's own
``on_commit`` callback, registered without ``robust=True``, raises, Django
stops and drops every callback after it. An event freed uncalled while its
connection is in that state (committed, its callbacks not all run) is
counted ``commit_hook_failed`` instead, and logged at WARNING.

Django is imported only when ``emit_on_commit`` is called; without Django, or
outside any atomic block on the connection, the event is routed at once.
"""

import collections
import functools
import gc
import logging
import weakref

from eventtracking.events import safe_name
from eventtracking.isolation import copy_event
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import COMMIT_HOOK_FAILED, EMIT_ERROR, ROLLED_BACK

LOG = logging.getLogger(__name__)
RATE_LIMITED_LOG = RateLimitedLog(LOG)


class PendingEvent:
    """A built event waiting for its transaction: calling it routes it once; dropped uncalled, it counts itself.

    Holds only the tracker, the event and a weak reference to its connection,
    so that it is never part of a reference cycle and is freed as soon as Django drops it.
    """

    __slots__ = ('tracker', 'event', 'settled', 'connection')

    def __init__(self, tracker, event, connection=None):
        self.tracker = tracker
        self.event = event
        self.settled = False
        self.connection = None if connection is None else weakref.ref(connection)

    def __call__(self):
        """Route the event (Django calls this after the commit); never raises."""
        if self.settled:
            return
        self.settled = True
        _count_discarded_in_collections()
        route(self.tracker, self.event)

    def settle(self):
        """Mark the event as dealt with otherwise, so that it is not counted as rolled back."""
        self.settled = True

    def __del__(self):
        if self.settled:
            return
        self.settled = True
        connection = self.connection() if self.connection is not None else None
        reason = COMMIT_HOOK_FAILED if _commit_interrupted(connection) else ROLLED_BACK
        if _GarbageCollection.running:
            _DISCARDED_IN_COLLECTION.append((self.tracker, self.event, reason))
        else:
            _count_discarded(self.tracker, self.event, reason)


def _commit_interrupted(connection):
    """Whether ``connection`` has just committed and stopped running its ``on_commit`` callbacks because one raised.

    Django runs the callbacks from ``set_autocommit(True)`` after the commit,
    with autocommit already back on, and clears
    ``run_commit_hooks_on_set_autocommit_on`` (set by the commit) only once
    every callback has run. A rollback drops the callbacks before autocommit
    is back on (the whole transaction's) or inside the atomic block (a
    savepoint's), whatever that flag says.
    """
    try:
        return (connection is not None and connection.run_commit_hooks_on_set_autocommit_on is True
                and connection.autocommit is True and not connection.in_atomic_block)
    except Exception:  # pylint: disable=broad-except  # a database backend without these attributes
        return False

class _GarbageCollection:
    """Whether the garbage collector is running (it calls ``watch`` at the start and the stop of each collection).

    A :class:`PendingEvent` that Django dropped is normally freed at once, by
    reference counting, in Django's rollback. One freed by a collection
    instead (it was held in a reference cycle, by a failed test's traceback
    say) may be finalized at any allocation, including one made while this
    thread holds the lock of the counters or of the log it would use: it is
    then only queued, without a lock, and counted at the next
    ``emit_on_commit`` or commit.
    """

    running = False
    watched = False

    @classmethod
    def watch(cls, phase, info):  # pylint: disable=unused-argument
        """A :data:`gc.callbacks` entry."""
        cls.running = phase == 'start'

    @classmethod
    def start_watching(cls):
        """Register :meth:`watch` once."""
        if not cls.watched:
            cls.watched = True
            gc.callbacks.append(cls.watch)


_DISCARDED_IN_COLLECTION = collections.deque()


_DISCARDED_BECAUSE = {
    ROLLED_BACK: 'its transaction rolled back',
    COMMIT_HOOK_FAILED: 'its transaction committed, but an on_commit callback before it raised and Django '
                        'dropped the callbacks after that one (register callbacks with robust=True)',
}


def _count_discarded(tracker, event, reason):
    """Count a discarded event by ``reason`` in its tracker and log its name; never raises."""
    try:
        tracker.counters.increment(reason)
        name = safe_name(event.get('name'))
        log = RATE_LIMITED_LOG.info if reason == ROLLED_BACK else RATE_LIMITED_LOG.warning
        log(('on_commit', reason, name), 'Discarded event %s: %s', name, _DISCARDED_BECAUSE[reason])
    except Exception:  # pylint: disable=broad-except  # called from a finalizer, which must not raise
        pass


def _count_discarded_in_collections():
    """Count the events a garbage collection discarded (queued by :meth:`PendingEvent.__del__`)."""
    while _DISCARDED_IN_COLLECTION:
        try:
            tracker, event, reason = _DISCARDED_IN_COLLECTION.popleft()
        except IndexError:  # another thread took the last one
            return
        _count_discarded(tracker, event, reason)


def route(tracker, event):
    """Route a built event through ``tracker`` (:meth:`~eventtracking.tracker.Tracker.route`); failures are counted
    and logged, never raised."""
    try:
        tracker.route(event)
    except Exception:  # pylint: disable=broad-except
        tracker.counters.increment(EMIT_ERROR)
        RATE_LIMITED_LOG.exception(('on_commit', 'route'), 'Failed to emit event %s after the commit',
                                   safe_name(event.get('name')))


def emit_on_commit(tracker, name, data, using):
    """Build the event now; route it now, or after the commit of the atomic block around the call on ``using``."""
    _count_discarded_in_collections()
    try:
        event = tracker.build_event(name, data)
    except Exception:  # pylint: disable=broad-except
        tracker.counters.increment(EMIT_ERROR)
        RATE_LIMITED_LOG.exception(('on_commit', 'build'), 'Failed to emit event %s', safe_name(name))
        return
    connection = _atomic_connection(using)
    if connection is None:
        route(tracker, event)
        return
    _GarbageCollection.start_watching()
    pending = PendingEvent(tracker, _snapshot(event), connection)
    try:
        connection.on_commit(pending, robust=True)  # what transaction.on_commit(..., using=using) does
    except Exception:  # pylint: disable=broad-except
        pending.settle()
        RATE_LIMITED_LOG.warning(('on_commit', 'register', using),
                                 'Could not wait for the commit of database %r; event %s is emitted at once',
                                 using, safe_name(name), exc_info=True)
        route(tracker, event)


def _atomic_connection(using):
    """The Django connection ``using`` if it is inside an atomic block; None without Django or outside one."""
    django = _django_db()
    if django is None:
        return None
    settings, connections, default_alias = django
    if not settings.configured:
        return None
    try:
        connection = connections[using or default_alias]
        return connection if connection.in_atomic_block else None
    except Exception as exc:  # pylint: disable=broad-except  # an unknown alias, say
        RATE_LIMITED_LOG.warning(('on_commit', 'connection', using),
                                 'No Django database connection %r to wait for (%s: %s); events are emitted at once',
                                 using, type(exc).__name__, exc)
        return None


@functools.cache
def _django_db():
    """Django's settings, connections and default alias, imported at the first call; None without Django."""
    try:
        # pylint: disable=import-outside-toplevel
        from django.conf import settings
        from django.db import DEFAULT_DB_ALIAS, connections
    except ImportError:
        return None
    return settings, connections, DEFAULT_DB_ALIAS


def _snapshot(event):
    """A copy of ``event``, so that changes the caller makes to ``data`` before the commit do not reach it."""
    try:
        return copy_event(event)
    except Exception:  # pylint: disable=broad-except  # the routing tree counts what it cannot copy
        return event
