"""Exceptions that processors and backends raise to steer an event."""


class EventEmissionExit(Exception):
    """Raised by a processor to stop the event: it reaches no backend of that branch.

    The routing backend drops the event without logging and counts it as ``filtered``.
    """


class NoTransformerImplemented(Exception):
    """Raised by a backend that has no transformer for this event; logged at INFO."""


class NoBackendEnabled(Exception):
    """Raised by a backend that has nothing enabled to send this event to; logged at INFO."""
