"""What is copied and what is shared when an event fans out through a routing tree.

The original library deep-copied the whole event at every routing level. This
one copies only where a change could leak: just before the first processor or
backend that may change the event (or keep a reference to it). Processors and
backends that promise not to do either say so with a class or function
attribute::

    class MyBackend:
        mutates_events = False   # reads the event, keeps no reference after send()

        def send(self, event):
            ...

Everything without that attribute is assumed to change what it receives and is
handed a private copy, so a caller's ``data`` dict, the entered contexts and
sibling branches never see its changes.
"""

import copy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import UncopyableEventError

_IMMUTABLE_TYPES = frozenset({
    str, int, float, bool, type(None), bytes, complex,
    datetime, date, time, timedelta, Decimal, UUID,
})


def mutates_events(component):
    """Return False only for a processor or backend that declares ``mutates_events = False``."""
    return getattr(component, 'mutates_events', True) is not False


def copy_event(event):
    """Return a deep copy of ``event``, fast for JSON-like data.

    Dicts, lists and tuples are rebuilt; strings, numbers, datetimes and other
    immutable leaves are shared; anything else goes through :func:`copy.deepcopy`.
    Self-referencing data is copied by :func:`copy.deepcopy` too, which keeps
    the cycle. Raises :class:`~eventtracking.exceptions.UncopyableEventError`
    for data nested deeper than the interpreter can walk, or holding an object
    that cannot be copied (a lock, an open file).
    """
    try:
        return _copy_value(event)
    except RecursionError:
        pass
    except Exception as exc:  # pylint: disable=broad-except
        raise _uncopyable(event, exc) from exc
    try:
        return copy.deepcopy(event)
    except (RecursionError, Exception) as exc:  # pylint: disable=broad-except
        raise _uncopyable(event, exc) from exc


def _uncopyable(event, exc):
    if isinstance(exc, RecursionError):
        reason = 'it is nested too deeply to copy'
    else:
        reason = f'it holds a value that cannot be copied ({type(exc).__name__}: {exc})'
    name = event_name(event)
    return UncopyableEventError(f'event {safe_name(name)} cannot be isolated: {reason}', name)


def _copy_value(value):
    cls = value.__class__
    if cls is dict:
        return _copy_dict(value)
    if cls is list:
        return _copy_list(value)
    if cls in _IMMUTABLE_TYPES:
        return value
    if cls is tuple:
        return tuple(_copy_list(value))
    return copy.deepcopy(value)


def _copy_dict(source):
    result = source.copy()
    for key, value in source.items():
        cls = value.__class__
        if cls in _IMMUTABLE_TYPES:
            continue
        if cls is dict:
            result[key] = _copy_dict(value)
        elif cls is list:
            result[key] = _copy_list(value)
        else:
            result[key] = _copy_value(value)
    return result


def _copy_list(source):
    result = list(source)
    for index, value in enumerate(source):
        cls = value.__class__
        if cls in _IMMUTABLE_TYPES:
            continue
        if cls is dict:
            result[index] = _copy_dict(value)
        elif cls is list:
            result[index] = _copy_list(value)
        else:
            result[index] = _copy_value(value)
    return result
