"""A processor that lets through only events whose name is in a fixed collection."""

from eventtracking.processors import asks_accepts
from eventtracking.processors.exceptions import EventEmissionExit


class NameWhitelistProcessor:
    """Let through events whose ``name`` is in ``whitelist``; stop every other one.

    ``whitelist`` must be a collection of names that is not a string (a list,
    tuple or set); anything else raises ``TypeError``. Called with a list of
    events, returns the list filtered to allowed names; called with one event,
    returns it or raises ``EventEmissionExit``.
    """

    mutates_events = False

    def __init__(self, whitelist=None, **_kwargs):
        if whitelist is None or isinstance(whitelist, (str, bytes)) or not _is_iterable(whitelist):
            raise TypeError(
                'The NameWhitelistProcessor must be passed a collection of allowed names '
                f'using the "whitelist" parameter, not {whitelist!r}'
            )
        self.whitelist = frozenset(whitelist)

    @asks_accepts
    def __call__(self, event):
        if isinstance(event, list):
            return [item for item in event if self.accepts(item)]
        if not self.accepts(event):
            raise EventEmissionExit()
        return event

    def accepts(self, event):
        """Whether ``event`` (one event) has an allowed name."""
        return event.get('name') in self.whitelist


def _is_iterable(value):
    try:
        iter(value)
    except TypeError:
        return False
    return True
