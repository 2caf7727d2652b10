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

The worker checks a header as a whole before entering anything: a string of
at most ``max_bytes``, JSON, a list of ``[name, dict]`` pairs with string
names, each name once, nested at most :data:`MAX_DEPTH` deep. A header that
fails is ignored for that task (it runs with the worker's own contexts),
counted ``context_invalid`` and logged by reason, never with its values.
After every task the worker's stack is exactly what it was before it.
"""

import json
import logging

from eventtracking import tracker as tracking
from eventtracking._extras import missing_extra
from eventtracking.events import safe_name
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import CONTEXT_INVALID, CONTEXT_TOO_LARGE

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
    """``task_prerun`` receiver: enter the contexts of the task's header on the worker's default tracker.

    The header is checked as a whole first (see :func:`header_problem`); a bad
    one is ignored for the task, counted ``context_invalid`` in the default
    tracker's ``stats`` and logged by reason, never with its values. Never raises.
    """
    if task is None or not _applies_to(task):
        return
    default = tracking.TRACKERS.get(tracking.DEFAULT_TRACKER_NAME)
    if default is None:
        return
    try:
        value = getattr(task.request, HEADER, None)
        if value is None:
            return
        pairs, problem = _decoded(value)
        if problem is not None:
            _count_invalid(default, problem)
            return
        stack = default.located_context
        before = list(stack.items())
        setattr(task.request, _ENTERED, (stack, before, [name for name, _ in pairs]))  # before entering: undone
        for name, ctx in pairs:
            stack.pop(name, None)
            stack[name] = ctx
    except Exception:  # pylint: disable=broad-except  # RecursionError too: a signal receiver must not raise
        _count_invalid(default, 'unreadable')


def exit_task_context(task=None, **kwargs):  # pylint: disable=unused-argument
    """``task_postrun`` receiver: put the stack back exactly as it was before :func:`enter_task_context`.

    The contexts the header entered are exited, the worker's own contexts
    they replaced come back in their places, and a context the task itself
    entered and left entered (a worker-wide one) stays, after them.
    """
    entered = getattr(getattr(task, 'request', None), _ENTERED, None)
    if entered is None:
        return
    setattr(task.request, _ENTERED, None)
    stack, before, names = entered
    kept_names = set(names).union(name for name, _ in before)
    left_by_task = [(name, ctx) for name, ctx in stack.items() if name not in kept_names]
    stack.clear()
    stack.update(before)
    stack.update(left_by_task)


MAX_DEPTH = 32
"""The deepest nesting of lists and dicts a header may have (its outer list and pairs included)."""


def header_problem(value, max_bytes=None):
    """Why the header ``value`` cannot be entered, or None when it can: a short reason, never its values.

    The reasons: ``not_a_string``, ``too_large`` (longer than ``max_bytes``,
    by default the :func:`propagate_context` limit), ``not_json``,
    ``too_deep`` (nested deeper than :data:`MAX_DEPTH`), ``bad_shape`` (not a
    list of ``[name, dict]`` pairs with string names), ``duplicate_names``.
    """
    return _decoded(value, max_bytes)[1]


def _count_invalid(default, reason):
    try:
        default.counters.increment(CONTEXT_INVALID)
        RATE_LIMITED_LOG.warning(('celery', CONTEXT_INVALID, reason),
                                 'Task run without the contexts of its %s header: %s', HEADER,
                                 _REASONS.get(reason, reason))
    except RecursionError:
        pass


_REASONS = {
    'not_a_string': 'it is not a string',
    'too_large': 'it is over the limit of EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES',
    'not_json': 'it is not JSON',
    'too_deep': f'it is nested more than {MAX_DEPTH} levels deep',
    'bad_shape': 'it is not a list of [name, dict] pairs with string names',
    'duplicate_names': 'it names a context twice',
    'unreadable': 'it could not be read',
}


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


def _decoded(value, max_bytes=None):
    """``(pairs, None)`` for a good header, ``(None, reason)`` for a bad one (see :func:`header_problem`)."""
    if not isinstance(value, str):
        return None, 'not_a_string'
    if len(value.encode('utf-8', 'surrogatepass')) > (max_bytes or _Settings.max_bytes):
        return None, 'too_large'
    try:
        pairs = json.loads(value)
    except RecursionError:
        return None, 'too_deep'
    except ValueError:
        return None, 'not_json'
    if _depth(pairs) > MAX_DEPTH:
        return None, 'too_deep'
    if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], dict)
            for pair in pairs):
        return None, 'bad_shape'
    if len({name for name, _ in pairs}) != len(pairs):
        return None, 'duplicate_names'
    return [(name, ctx) for name, ctx in pairs], None


def _depth(value):
    """How deeply lists and dicts nest in ``value`` (1 for a flat list); counted without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in node)
    return deepest
