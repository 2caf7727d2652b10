"""Helpers shared by the tests of eventtracking.testing."""

from eventtracking.processors.exceptions import EventEmissionExit


def legacy_layout(event):
    """A root processor giving events the legacy Open edX layout: ``event_type``, payload in ``event``."""
    return {
        'name': event['name'],
        'event_type': event['name'],
        'event': event['data'],
        'context': event['context'],
        'time': event['timestamp'],
    }


class LegacyLayoutProcessor:
    """:func:`legacy_layout` as a processor class, for settings (an ENGINE path names a class)."""

    def __call__(self, event):
        return legacy_layout(event)


class DropNamesProcessor:
    """Drops events whose name is in ``names``."""

    def __init__(self, names=()):
        self.names = frozenset(names)

    def __call__(self, event):
        if event['name'] in self.names:
            raise EventEmissionExit()
