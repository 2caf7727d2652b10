"""The request's context in Celery tasks: carried in a message header, entered in the worker.

Call :func:`propagate_context` once in the process that publishes tasks and
once in the worker; with Django, this setting does it in both::

    EVENT_TRACKING_CELERY_CONTEXT = True

Then a task published while contexts are entered on the default tracker
(``tracker.context('course', {...})``) carries them in the header
:data:`HEADER`, and in the worker they are entered on the worker's default
tracker, under the same names and in the same order, for the task's run, and
exited after it, also when the task raises. A retry carries the header of the
run it retries (Celery copies it); tasks published from inside a task (the next step of a chain,
say) carry the contexts entered there.

Only contexts that survive a JSON round trip travel (a context that does not
is left out and logged); a stack whose JSON is longer than ``max_bytes``
(``EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES``, default 8192) is not sent at
all: it is counted ``context_too_large`` in the publishing tracker's
``stats`` and logged, without its values. A worker that does not call
:func:`propagate_context` ignores the header.
"""

import json
import logging

from eventtracking import tracker as tracking
from eventtracking._extras import missing_extra
from eventtracking.events import safe_name
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import CONTEXT_TOO_LARGE

try:
    from celery.signals import before_task_publish, task_postrun, task_prerun
except ImportError as exc:
    raise missing_extra('celery', __name__, exc) from exc

HEADER = 'eventtracking_context'
"""The message header holding the context stack: a JSON list of ``[name, context]`` pairs, in entry order."""

DEFAULT_MAX_BYTES = 8192
"""Default for ``max_bytes``: the longest header (UTF-8 bytes of its JSON) that is sent."""

LOG = logging.getLogger(__name__)
RATE_LIMITED_LOG = RateLimitedLog(LOG)

_ENTERED = '_eventtracking_entered'
_UID = 'eventtracking.celery.'


class _Settings:
    """What :func:`propagate_context` set up: the size limit, and which apps' tasks enter contexts."""

    max_bytes = DEFAULT_MAX_BYTES
    apps = set()
    every_app = False


def propagate_context(app=None, *, max_bytes=DEFAULT_MAX_BYTES):
    """Carry the entered contexts into Celery tasks; idempotent.

    Connects Celery's ``before_task_publish`` (which adds the header, for tasks
    of every app the process publishes) and ``task_prerun`` /
    ``task_postrun`` (which enter and exit the contexts in the worker). With
    ``app``, the worker side acts only on that app's tasks (call it once per
    app); without, on every task. ``max_bytes`` is the largest header sent; the
    last call's value applies.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f'max_bytes must be a positive integer, not {max_bytes!r}')
    _Settings.max_bytes = max_bytes
    if app is None:
        _Settings.every_app = True
    else:
        _Settings.apps.add(app)
    before_task_publish.connect(add_context_header, weak=False, dispatch_uid=_UID + 'publish')
    task_prerun.connect(enter_task_context, weak=False, dispatch_uid=_UID + 'prerun')
    task_postrun.connect(exit_task_context, weak=False, dispatch_uid=_UID + 'postrun')


def stop_propagating():
    """Undo :func:`propagate_context`: disconnect the signals and forget the apps and the limit."""
    before_task_publish.disconnect(dispatch_uid=_UID + 'publish')
    task_prerun.disconnect(dispatch_uid=_UID + 'prerun')
    task_postrun.disconnect(dispatch_uid=_UID + 'postrun')
    _Settings.max_bytes = DEFAULT_MAX_BYTES
    _Settings.apps = set()
    _Settings.every_app = False


OWN_TASKS = frozenset({'eventtracking.tasks.send_event', 'eventtracking.tasks.send_events'})
"""This library's own tasks: their events already carry their context, so no header is added to them."""


def add_context_header(sender=None, headers=None, **kwargs):  # pylint: disable=unused-argument
    """``before_task_publish`` receiver: put the header on the message, unless it has one or nothing is entered.

    A retry already has one: Celery copies the retried run's custom headers
    onto it, so it carries the context of the first run, not what the task
    entered before retrying. The tasks of :data:`OWN_TASKS` get none.
    """
    if headers is None or HEADER in headers or sender in OWN_TASKS:
        return
    value = _encoded_stack()
    if value is not None:
        headers[HEADER] = value


def enter_task_context(task=None, **kwargs):  # pylint: disable=unused-argument
    """``task_prerun`` receiver: enter the contexts of the task's header on the worker's default tracker."""
    if task is None or not _applies_to(task):
        return
    pairs = _decoded(getattr(task.request, HEADER, None))
    if not pairs:
        return
    default = tracking.TRACKERS.get(tracking.DEFAULT_TRACKER_NAME)
    if default is None:
        return
    stack = default.located_context
    entered, replaced = [], []
    setattr(task.request, _ENTERED, (stack, entered, replaced))  # before entering: a failure half-way is undone
    for name, ctx in pairs:
        if name in stack:
            replaced.append((name, stack.pop(name)))
        entered.append(name)
        stack[name] = ctx


def exit_task_context(task=None, **kwargs):  # pylint: disable=unused-argument
    """``task_postrun`` receiver: exit what :func:`enter_task_context` entered, and put back what it replaced."""
    entered = getattr(getattr(task, 'request', None), _ENTERED, None)
    if entered is None:
        return
    setattr(task.request, _ENTERED, None)
    stack, names, replaced = entered
    for name in reversed(names):
        stack.pop(name, None)
    for name, ctx in replaced:
        stack[name] = ctx


def _applies_to(task):
    return _Settings.every_app or getattr(task, 'app', None) in _Settings.apps


def _encoded_stack():
    """The default tracker's entered contexts as the header's JSON, or None when none travels."""
    default = tracking.TRACKERS.get(tracking.DEFAULT_TRACKER_NAME)
    if default is None:
        return None
    try:
        items = list(default.located_context.items())
    except Exception:  # pylint: disable=broad-except  # a broken locator must not stop the publish
        RATE_LIMITED_LOG.exception(('celery', 'locator'), 'Could not read the entered contexts for a task')
        return None
    pairs = [pair for pair in map(_encoded_pair, items) if pair is not None]
    if not pairs:
        return None
    value = '[' + ','.join(pairs) + ']'
    size = len(value.encode('utf-8'))
    if size > _Settings.max_bytes:
        default.counters.increment(CONTEXT_TOO_LARGE)
        RATE_LIMITED_LOG.warning(('celery', CONTEXT_TOO_LARGE),
                                 'Task published without its contexts: their %d bytes are over the limit of %d '
                                 '(EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES); contexts %s',
                                 size, _Settings.max_bytes, ', '.join(safe_name(name) for name, _ in items))
        return None
    return value


def _encoded_pair(item):
    """``[name, context]`` as JSON, or None (logged) when the name is not a string or the context not JSON."""
    name, ctx = item
    try:
        if isinstance(name, str) and isinstance(ctx, dict):
            return f'[{json.dumps(name)},{json.dumps(ctx, separators=(",", ":"), allow_nan=False)}]'
    except (TypeError, ValueError, RecursionError):
        pass
    RATE_LIMITED_LOG.warning(('celery', 'not_json', safe_name(name)),
                             'Context %s is not sent with tasks: it is not a dict of JSON values', safe_name(name))
    return None


def _decoded(value):
    """The ``[name, context]`` pairs of a header, or None for a missing or malformed one."""
    if not isinstance(value, str):
        return None
    try:
        pairs = json.loads(value)
    except ValueError:
        return None
    if not isinstance(pairs, list):
        return None
    good = [(pair[0], pair[1]) for pair in pairs
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], dict)]
    return good if len(good) == len(pairs) else None
