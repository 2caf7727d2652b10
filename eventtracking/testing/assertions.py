"""Assertions about events: partial, path-by-path comparison with chosen tolerances.

An instrumentation test usually checks only the fields its code adds, so a
global field added to every event later does not break hundreds of tests. By
default the context and the root are compared only where the expected event
gives fields, and the payload is compared whole; to compare only some payload
fields too, tolerate more::

    from eventtracking.testing import EventMatchTolerates, assert_event_matches

    assert_event_matches({'name': 'edx.course.enrollment.activated',
                          'data': {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'}},
                         actual_event)
    assert_event_matches({'data': {'course_id': 'course-v1:edX+DemoX+Demo'}}, actual_event,
                         tolerate=EventMatchTolerates.lenient())

Both event layouts are understood: this library's native one, whose payload is
the ``data`` field, and the legacy Open edX one (``event_type``, payload in
``event``, sometimes as a JSON string). The payload, ``context`` and the rest
of the event (the "root") are three regions; :class:`EventMatchTolerates`
says in which regions fields present only in the actual event are accepted.

A failed assertion lists every difference as a dotted path, then prints the
expected event, the actual event and the tolerances::

    Event does not match the expected event (2 differences):
      * context.foo: not found in actual
      * data.a: 'b' != 'c' (expected != actual)
    ...
"""

import json
import pprint
from collections.abc import Mapping

PAYLOAD_FIELDS = ('data', 'event')
"""Root fields that hold an event's payload: ``data`` (native layout) and ``event`` (legacy layout)."""

CONTEXT_FIELD = 'context'

_ROOT, _CONTEXT, _PAYLOAD = 'root', 'context', 'payload'


class EventMatchTolerates:
    """The differences between an expected and an actual event that a comparison accepts.

    ``tolerate`` arguments are collections of these flags; an empty one
    (``tolerate=[]``) means an exact match, ``None`` means :meth:`default`.
    """

    STRING_PAYLOAD = 'string_payload'
    """A payload (``data`` or ``event``) given as a JSON string is decoded before comparing."""

    ROOT_EXTRA_FIELDS = 'root_extra_fields'
    """Fields of the actual event outside the payload and ``context`` need not be expected."""

    CONTEXT_EXTRA_FIELDS = 'context_extra_fields'
    """Fields anywhere in the actual event's ``context`` need not be expected."""

    PAYLOAD_EXTRA_FIELDS = 'payload_extra_fields'
    """Fields anywhere in the actual event's payload need not be expected."""

    ALL = frozenset({STRING_PAYLOAD, ROOT_EXTRA_FIELDS, CONTEXT_EXTRA_FIELDS, PAYLOAD_EXTRA_FIELDS})

    @classmethod
    def default(cls):
        """Decode string payloads, accept extra root and context fields; the payload must match exactly."""
        return {cls.STRING_PAYLOAD, cls.ROOT_EXTRA_FIELDS, cls.CONTEXT_EXTRA_FIELDS}

    @classmethod
    def lenient(cls):
        """Every tolerance: the expected event is only a subset of the actual one."""
        return set(cls.ALL)

    @classmethod
    def strict(cls):
        """No tolerance: the events must be equal."""
        return set()

    @classmethod
    def default_if_not_defined(cls, tolerances=None):
        """Return :meth:`default` when ``tolerances`` is None, else ``tolerances`` itself."""
        if tolerances is None:
            return cls.default()
        return tolerances


def get_event_differences(expected, actual, tolerate=None):
    """Return the list of differences between ``expected`` and ``actual``, as readable lines.

    Every field of ``expected`` must be in ``actual`` with an equal value (dicts
    are compared field by field, lists item by item). Fields that only
    ``actual`` has are differences unless ``tolerate`` accepts them in their
    region. An empty list means the events match.
    """
    tolerances = _validated(tolerate)
    if EventMatchTolerates.STRING_PAYLOAD in tolerances:
        expected = _with_decoded_payload(expected)
        actual = _with_decoded_payload(actual)
    differences = []
    _compare(expected, actual, (), _ROOT, tolerances, differences)
    return differences


def is_matching_event(expected_event, actual_event, tolerate=None):
    """Return True when :func:`get_event_differences` finds no difference."""
    return not get_event_differences(expected_event, actual_event, tolerate)


def assert_event_matches(expected_event, actual_event, tolerate=None):
    """Raise ``AssertionError`` listing every difference unless ``actual_event`` matches ``expected_event``.

    ``tolerate`` is a collection of :class:`EventMatchTolerates` flags;
    None means :meth:`EventMatchTolerates.default`, ``[]`` an exact match.
    """
    __tracebackhide__ = True
    tolerances = _validated(tolerate)
    differences = get_event_differences(expected_event, actual_event, tolerances)
    if differences:
        raise AssertionError(format_mismatch(expected_event, actual_event, tolerances, differences))


def assert_events_equal(expected_event, actual_event):
    """Raise ``AssertionError`` listing every difference unless the two events are equal (no tolerance)."""
    __tracebackhide__ = True
    assert_event_matches(expected_event, actual_event, tolerate=EventMatchTolerates.strict())


def assert_events_match(expected_events, actual_events, tolerate=None):
    """Match the first actual event with the first expected one, the second with the second, and so on.

    Both sequences must have the same length. ``tolerate`` applies to every
    pair; None means :meth:`EventMatchTolerates.lenient`, as in the acceptance
    test helpers this mirrors. One ``AssertionError`` reports every mismatch.
    """
    __tracebackhide__ = True
    if tolerate is None:
        tolerate = EventMatchTolerates.lenient()
    tolerances = _validated(tolerate)
    expected_events = list(expected_events)
    actual_events = list(actual_events)
    problems = []
    if len(expected_events) != len(actual_events):
        problems.append(f'Expected {_count(len(expected_events))}, got {len(actual_events)}.')
    for index, (expected, actual) in enumerate(zip(expected_events, actual_events)):
        differences = get_event_differences(expected, actual, tolerances)
        if differences:
            problems.append(f'Event [{index}] does not match expected event [{index}]:')
            problems.extend(f'  * {line}' for line in differences)
    if problems:
        raise AssertionError('\n'.join([
            *problems,
            '',
            'Expected events:',
            format_events(expected_events),
            '',
            'Actual events:',
            format_events(actual_events),
            '',
            f'Tolerating: {format_tolerances(tolerances)}',
        ]))


def format_mismatch(expected_event, actual_event, tolerances, differences):
    """The message of a failed :func:`assert_event_matches`."""
    noun = 'difference' if len(differences) == 1 else 'differences'
    return '\n'.join([
        f'Event does not match the expected event ({len(differences)} {noun}):',
        *(f'  * {line}' for line in differences),
        '',
        'Expected event:',
        format_event(expected_event),
        '',
        'Actual event:',
        format_event(actual_event),
        '',
        f'Tolerating: {format_tolerances(tolerances)}',
    ])


def format_event(event, indent=2):
    """Pretty-print one event for a failure message, indented, one field per line when it is long."""
    pad = ' ' * indent
    text = pprint.pformat(event, width=100 - indent)
    return '\n'.join(pad + line for line in text.splitlines())


def format_events(events):
    """Pretty-print a list of events, each under its index."""
    if not events:
        return '  (none)'
    return '\n'.join(f'  [{index}]\n{format_event(event, indent=4)}' for index, event in enumerate(events))


def number_emitted(number):
    """``'1 was emitted'`` or ``'<number> were emitted'``, for failure messages."""
    return f'{number} was emitted' if number == 1 else f'{number} were emitted'


def format_tolerances(tolerances):
    """The tolerance flags, sorted, or ``nothing (exact match)``."""
    return ', '.join(sorted(tolerances)) if tolerances else 'nothing (exact match)'


def _count(number):
    return f'{number} event' if number == 1 else f'{number} events'


def _validated(tolerate):
    tolerances = EventMatchTolerates.default_if_not_defined(tolerate)
    if isinstance(tolerances, (str, bytes)) or not hasattr(tolerances, '__iter__'):
        raise TypeError(
            f'tolerate must be a collection of EventMatchTolerates flags (or None), not {tolerances!r}'
        )
    tolerances = frozenset(tolerances)
    unknown = tolerances - EventMatchTolerates.ALL
    if unknown:
        raise ValueError(
            f'Unknown tolerance(s) {sorted(map(str, unknown))}; '
            f'expected some of {sorted(EventMatchTolerates.ALL)}'
        )
    return tolerances


def _with_decoded_payload(event):
    if not isinstance(event, Mapping):
        return event
    decoded = None
    for field in PAYLOAD_FIELDS:
        value = event.get(field)
        if isinstance(value, (str, bytes)):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if decoded is None:
                decoded = dict(event)
            decoded[field] = parsed
    return event if decoded is None else decoded


def _compare(expected, actual, path, region, tolerances, differences):
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        _compare_mappings(expected, actual, path, region, tolerances, differences)
    elif _is_sequence(expected) and _is_sequence(actual):
        _compare_sequences(expected, actual, path, region, tolerances, differences)
    elif expected != actual:
        differences.append(f'{_label(path)}: {expected!r} != {actual!r} (expected != actual)')


def _compare_mappings(expected, actual, path, region, tolerances, differences):
    for key, expected_value in expected.items():
        child = path + (key,)
        if key not in actual:
            differences.append(f'{_label(child)}: not found in actual')
            continue
        _compare(expected_value, actual[key], child, _region_of(child, region), tolerances, differences)
    for key in actual:
        if key in expected:
            continue
        if _extra_fields_tolerated(region, tolerances):
            continue
        differences.append(f'{_label(path + (key,))}: only defined in actual')


def _compare_sequences(expected, actual, path, region, tolerances, differences):
    if len(expected) != len(actual):
        differences.append(f'{_label(path)}: {expected!r} != {actual!r} (expected != actual)')
        return
    for index, (expected_item, actual_item) in enumerate(zip(expected, actual)):
        _compare(expected_item, actual_item, path + (index,), region, tolerances, differences)


def _region_of(path, parent_region):
    if len(path) != 1:
        return parent_region
    if path[0] == CONTEXT_FIELD:
        return _CONTEXT
    if path[0] in PAYLOAD_FIELDS:
        return _PAYLOAD
    return _ROOT


def _extra_fields_tolerated(region, tolerances):
    if region == _CONTEXT:
        return EventMatchTolerates.CONTEXT_EXTRA_FIELDS in tolerances
    if region == _PAYLOAD:
        return EventMatchTolerates.PAYLOAD_EXTRA_FIELDS in tolerances
    return EventMatchTolerates.ROOT_EXTRA_FIELDS in tolerances


def _is_sequence(value):
    return isinstance(value, (list, tuple))


def _label(path):
    if not path:
        return '(event)'
    parts = []
    for part in path:
        if isinstance(part, int):
            parts.append(f'[{part}]')
        else:
            parts.append(('.' if parts else '') + str(part))
    return ''.join(parts)
