"""Exceptions raised by eventtracking outside the processor chain."""


class ImproperlyConfigured(Exception):
    """A processor, backend or setting was given options it cannot work with."""


class EventDropped(Exception):
    """Base for failures that drop one event for one backend, with a known reason.

    A routing backend that catches one logs a single WARNING line (no
    traceback) naming the event, the backend and ``reason``, and counts it
    under ``reason``.
    """

    reason = 'dropped'

    def __init__(self, message, event_name=None):
        super().__init__(message)
        self.event_name = event_name


class UnserializableEventError(EventDropped, TypeError):
    """The event holds a value the backend cannot serialize (a set, a Decimal, an object)."""

    reason = 'unserializable'


class CircularEventError(EventDropped, ValueError):
    """The event refers to itself, so it cannot be serialized."""

    reason = 'circular'


class UncopyableEventError(EventDropped):
    """The event could not be copied to isolate a branch: nested too deeply, or holding an object
    :func:`copy.deepcopy` refuses (a lock, an open file, a socket)."""

    reason = 'uncopyable'


class EventTooDeepError(EventDropped, ValueError):
    """The event is nested deeper than the interpreter can walk."""

    reason = 'too_deep'
