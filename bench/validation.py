"""What event-type validation costs: per event for a 10-field schema, and per emit in the Open edX-like tree.

Run it in the test environment (it needs the ``schema`` extra)::

    .venv/bin/python bench/validation.py             # about a minute
    .venv/bin/python bench/validation.py --quick     # a few seconds
    .venv/bin/python bench/validation.py --candidates   # also time fastjsonschema and jsonschema, if installed

Figures are CPU time of the process (``time.process_time``, less disturbed by
other load on the machine than the wall clock), the best of several runs, in
microseconds per event; the two emit variants alternate, round by round.

* ``validate``: :meth:`EventType.validate <eventtracking.registry.EventType.validate>`
  on payloads of ``workloads.event_data`` cut to the ten fields of
  :data:`FIELDS` (JSON values only), valid and with one field of the wrong
  type (which also builds the problem text); and on the whole payload, whose
  ``datetime`` and ``date`` are judged in their JSON form.
* ``processor``: :class:`~eventtracking.processors.schema.EventTypeValidator`
  called on a whole event (registry look-up included).
* ``patterns``: every ``pattern`` (and ``patternProperties`` key) of every
  registered type (here the benchmark's, with :data:`PATTERNS`), each on the
  same linear-time regex engine the registry uses, against hostile 4 KB
  strings (:data:`HOSTILE`): the worst one first. A pattern that engine cannot
  run (lookaround, backreferences) is refused at definition, so this bounds
  what a pattern can cost per event. For comparison, :data:`REFUSED` (a
  lookaround pattern, now refused) on jsonschema-rs's default backtracking
  engine, against a 25-character string.
* ``emit``: ``Tracker.emit`` through the ``openedx`` tree of ``workloads.py``
  (legacy field mapping and a ``LoggerBackend`` writing to ``/dev/null``,
  three filtered branches), without and with an ``EventTypeValidator`` first
  in the root processors, every event name registered with the 10-field schema
  plus its ``submitted_at`` and ``due``.
"""

import argparse
import datetime
import json
import os
import sys
import time
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402  pylint: disable=wrong-import-position

from eventtracking.processors.schema import EventTypeValidator  # noqa: E402  pylint: disable=wrong-import-position
from eventtracking.registry import (  # noqa: E402  pylint: disable=wrong-import-position
    EventType, Field, register, registered_event_types,
)

FIELDS = {
    'user_id': Field(int, 'The learner.'),
    'course_id': Field(str, 'The course run key.'),
    'problem_id': Field(str, 'The problem block usage key.'),
    'attempts': Field(int, 'Attempts so far.'),
    'grade': Field(float, 'Points earned.'),
    'max_grade': Field(float, 'Points possible.'),
    'success': Field(str, 'Whether the answer was correct.', choices=['correct', 'incorrect']),
    'answers': Field(dict, 'The answers, by input id.'),
    'submission': Field(dict, 'The submission, by input id.'),
    'state': Field(dict, 'The problem state.'),
}
"""The 10-field schema of the benchmark."""

PATTERNS = {
    'course_id': r'^course-v1:[^+]+\+[^+]+\+[^+]+$',
    'email': r'^[^@\s]+@[^@\s]+\.[^@\s]+$',
    'code': r'^(a+)+$',
    'slug': r'^([a-z0-9]+-?)*[a-z0-9]$',
}
"""Patterns of the benchmark's own type: two usual ones and two that backtrack badly on a backtracking engine."""

HOSTILE = ['a' * 4096, 'a' * 4095 + '!', 'a-' * 2048 + '!', 'course-v1:' + '+' * 4086, '@' * 4096, ' ' * 4096]
"""Strings of 4 KB that make backtracking patterns slow."""

REFUSED = r'^((?!x)a+)+$'
"""A lookaround pattern the registry refuses: what one cost per event on the default (backtracking) engine."""

WHOLE_FIELDS = dict(FIELDS, submitted_at=Field(datetime.datetime, 'When.'), due=Field(datetime.date, 'Due date.'))


def ten_fields(data):
    return {key: value for key, value in data.items() if key in FIELDS}


def best(function, number, repeat):
    """Microseconds of CPU time per call of ``function``: the best of ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(function, number=number, repeat=repeat, timer=time.process_time)) / number * 1e6


def time_validate(number, repeat):
    ten = EventType('bench.ten_fields', 'Ten fields.', fields=FIELDS)
    whole = EventType('bench.whole', 'Ten fields, a datetime and a date.', fields=WHOLE_FIELDS)
    valid = ten_fields(workloads.event_data(3))
    invalid = dict(valid, attempts='3')
    full_valid = workloads.event_data(3)
    assert ten.validate(valid) == [] and ten.validate(invalid) and whole.validate(full_valid) == []
    validator = EventTypeValidator(unregistered='ignore', invalid='ignore')
    register(ten)
    checking = EventTypeValidator(unregistered='warn', invalid='warn')
    event = {'name': 'bench.ten_fields', 'data': valid}
    return {
        'validate, 10 fields, valid': best(lambda: ten.validate(valid), number, repeat),
        'validate, 10 fields, invalid (with the problem text)': best(lambda: ten.validate(invalid), number, repeat),
        'validate, 10 fields + datetime + date, valid': best(lambda: whole.validate(full_valid), number, repeat),
        'EventTypeValidator, valid event': best(lambda: checking(event), number, repeat),
        'EventTypeValidator, both modes ignore': best(lambda: validator(event), number, repeat),
    }


def registered_patterns():
    """``(type name, where, pattern)`` of every pattern in every registered type's schema."""
    found = []
    for event_type in registered_event_types():
        todo = [('data', event_type.json_schema())]
        while todo:
            where, node = todo.pop()
            if isinstance(node, list):
                todo.extend((where, child) for child in node)
                continue
            if not isinstance(node, dict):
                continue
            if isinstance(node.get('pattern'), str):
                found.append((event_type.name, where, node['pattern']))
            found.extend((event_type.name, where + '.*', key) for key in node.get('patternProperties') or {})
            for key, child in node.items():
                if key == 'properties' and isinstance(child, dict):
                    todo.extend((f'{where}.{name}', schema) for name, schema in child.items())
                else:
                    todo.append((where, child))
    return found


def time_patterns(number, repeat):
    """Microseconds per validation of each registered pattern against its worst :data:`HOSTILE` string."""
    register(EventType('bench.patterns', 'Fields with patterns.', schema={
        'type': 'object', 'properties': {name: {'type': 'string', 'pattern': pattern}
                                         for name, pattern in PATTERNS.items()}}))
    results = []
    for type_name, where, pattern in registered_patterns():
        field = EventType(f'bench.pattern.{len(results)}', 'One pattern.',
                          schema={'type': 'object', 'properties': {'value': {'type': 'string', 'pattern': pattern}}})
        worst = max(best(lambda text=text: field.validate({'value': text}), number, repeat) for text in HOSTILE)
        results.append((worst, type_name, where, pattern))
    return sorted(results, reverse=True)


def time_refused(number, repeat):
    """Microseconds per check of :data:`REFUSED` on jsonschema-rs's default engine (what the registry refuses)."""
    import jsonschema_rs  # pylint: disable=import-outside-toplevel
    backtracking = jsonschema_rs.Draft202012Validator({'type': 'string', 'pattern': REFUSED})
    return best(lambda: backtracking.is_valid('a' * 24 + '!'), number, repeat)


def time_candidates(number, repeat):
    """The same 10-field check with the other libraries measured for the choice, when they are installed."""
    ten = EventType('bench.candidates', 'Ten fields.', fields=FIELDS)
    schema = ten.json_schema()
    valid = ten_fields(workloads.event_data(3))
    invalid = dict(valid, attempts='3')
    results = {}
    import jsonschema_rs  # pylint: disable=import-outside-toplevel
    compiled = jsonschema_rs.Draft202012Validator(schema)
    results['jsonschema-rs is_valid'] = (best(lambda: compiled.is_valid(valid), number, repeat),
                                         best(lambda: compiled.is_valid(invalid), number, repeat))
    try:
        import fastjsonschema  # pylint: disable=import-outside-toplevel
    except ImportError:
        pass
    else:
        fast = fastjsonschema.compile(schema)

        def fast_ok(data):
            try:
                fast(data)
            except fastjsonschema.JsonSchemaValueException:
                return False
            return True
        assert fast_ok(valid) and not fast_ok(invalid)
        results['fastjsonschema compiled'] = (best(lambda: fast_ok(valid), number, repeat),
                                              best(lambda: fast_ok(invalid), number, repeat))
    try:
        import jsonschema  # pylint: disable=import-outside-toplevel
    except ImportError:
        pass
    else:
        full = jsonschema.Draft202012Validator(schema)
        slow = max(number // 50, 100)
        results['jsonschema Draft202012Validator.is_valid'] = (best(lambda: full.is_valid(valid), slow, repeat),
                                                               best(lambda: full.is_valid(invalid), slow, repeat))
        results['jsonschema iter_errors (explaining)'] = (best(lambda: list(full.iter_errors(valid)), slow, repeat),
                                                          best(lambda: list(full.iter_errors(invalid)), slow, repeat))
    return results


def time_emit(count, repeat):
    """Microseconds per emit through the openedx tree: (without the validator, with it), rounds alternating."""
    for name in workloads.EVENT_NAMES:
        register(EventType(name, f'The benchmark type of {name}.', fields=WHOLE_FIELDS))
    handler = workloads.log_to(os.devnull)
    try:
        trackers = []
        for with_validator in (False, True):
            tracker, _ = workloads.build_tracker('openedx', 'as-written')
            if with_validator:
                tracker.routing_backend.register_processor(EventTypeValidator(unregistered='warn', invalid='warn'))
            workloads.run_events(tracker, 'openedx', count // 10)
            trackers.append(tracker)
        figures = [[], []]
        for _ in range(repeat):
            for index, tracker in enumerate(trackers):
                figures[index].append(best(lambda: workloads.run_events(tracker, 'openedx', count), 1, 1) / count)
        assert not {'invalid', 'unregistered'} & set(trackers[1].stats), trackers[1].stats
    finally:
        handler.close()
    return [min(each) for each in figures]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--quick', action='store_true', help='fewer calls (a few seconds)')
    parser.add_argument('--candidates', action='store_true', help='also time fastjsonschema and jsonschema')
    args = parser.parse_args(argv)
    number, repeat, events = (20000, 3, 5000) if args.quick else (200000, 5, 20000)
    print(f'{"per event":<56} {"µs":>8}')
    for label, micros in time_validate(number, repeat).items():
        print(f'{label:<56} {micros:8.2f}')
    print(f'\n{"registered pattern, worst hostile 4 KB string":<72} {"µs":>8}')
    for micros, type_name, where, pattern in time_patterns(max(number // 100, 200), repeat):
        label = f'{type_name} {where} {json.dumps(pattern)}'
        print(f'{label:<72} {micros:8.2f}')
    label = f'(refused at definition) {json.dumps(REFUSED)}, default engine, 25 characters'
    print(f'{label:<72} {time_refused(5, repeat):8.2f}')
    if args.candidates:
        print(f'\n{"library (10-field schema)":<44} {"valid µs":>9} {"invalid µs":>11}')
        for label, (valid, invalid) in time_candidates(number, repeat).items():
            print(f'{label:<44} {valid:9.2f} {invalid:11.2f}')
    without, with_validator = time_emit(events, repeat + 4)
    print(f'\n{"emit through the openedx tree":<44} {"µs":>9}')
    print(f'{"without EventTypeValidator":<44} {without:9.2f}')
    print(f'{"with EventTypeValidator (warn, warn)":<44} {with_validator:9.2f}')
    print(f'{"cost of the validator":<44} {with_validator - without:9.2f}')


if __name__ == '__main__':
    main()
