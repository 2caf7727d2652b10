"""Helpers for the hidden checks of the documentation's examples (imported by every doctest group).

A settings example in the docs is followed by a hidden block that calls
:func:`built`: the system checks must find no problem in it, and a
:class:`~eventtracking.django.DjangoTracker` must build from it.
"""

from django.test import override_settings

from eventtracking.django import DjangoTracker
from eventtracking.django.checks import check_event_tracking_settings


def problems(**settings):
    """The system check messages for these settings, one ``'<id> <message>'`` string each."""
    with override_settings(**settings):
        return [f'{message.id} {message.msg}' for message in check_event_tracking_settings()]


def built(**settings):
    """The DjangoTracker these settings build; ``AssertionError`` listing the problems if the checks find any."""
    found = problems(**settings)
    assert not found, '\n'.join(found)
    with override_settings(**settings):
        return DjangoTracker()


def tree(tracker, indent=''):
    """Lines naming every backend below ``tracker`` (or a routing backend) and its class, depth first."""
    lines = []
    for name, backend in getattr(tracker, 'backends', {}).items():
        lines.append(f'{indent}{name}: {type(backend).__name__}')
        lines.extend(tree(backend, indent + '  '))
    return lines
