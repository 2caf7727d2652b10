"""Helpers shared by the tests of eventtracking.testing."""

from eventtracking.processors.exceptions import EventEmissionExit


class DropNamesProcessor:
    """Drops events whose name is in ``names``."""

    def __init__(self, names=()):
        self.names = frozenset(names)

    def __call__(self, event):
        if event['name'] in self.names:
            raise EventEmissionExit()
