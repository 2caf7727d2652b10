"""Helpers to test code that emits events: assertions, an in-memory backend, a test case, event capture.

Import everything from here::

    from eventtracking.testing import assert_event_matches, EventMatchTolerates, InMemoryBackend

The names are loaded on first use, so importing this package (as pytest does
for the ``captured_events`` fixture) costs nothing and needs no Django.
:class:`EventTrackingTestCase` needs Django (``pip install './eventtracking[django]'``).
"""

import importlib

_LOCATIONS = {
    'EventMatchTolerates': 'assertions',
    'assert_event_matches': 'assertions',
    'assert_events_equal': 'assertions',
    'assert_events_match': 'assertions',
    'get_event_differences': 'assertions',
    'is_matching_event': 'assertions',
    'InMemoryBackend': 'backends',
    'DEFAULT_TIMEOUT': 'capture',
    'EventCapture': 'capture',
    'EventWaitTimeout': 'capture',
    'FROZEN_TIME': 'clock',
    'frozen_tracker_time': 'clock',
    'EventTrackingTestCase': 'testcases',
}

__all__ = sorted(name for name, module in _LOCATIONS.items() if module != 'testcases')


def __getattr__(name):
    try:
        module_name = _LOCATIONS[name]
    except KeyError:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}') from None
    value = getattr(importlib.import_module(f'{__name__}.{module_name}'), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LOCATIONS))
