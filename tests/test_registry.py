"""eventtracking.registry: definitions, registration, validation with dotted paths, bad definitions at import."""

import copy
import datetime
import importlib
import pickle
import sys
import textwrap

import pytest

from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.registry import (
    DRAFT, NOT_REGISTERED, EventType, Field, event_problems, get_event_type, register, registered_event_types,
    unregister,
)
from eventtracking.testing import InMemoryBackend
from eventtracking.tracker import Tracker

pytestmark = pytest.mark.usefixtures('isolated_event_types')

UTC = datetime.timezone.utc


def answered():
    return EventType(
        'tests.problem.answered', 'A learner answered a problem.',
        fields={
            'user_id': Field(int, 'The learner.'),
            'course_id': Field('string', 'The course run key.'),
            'grade': Field(float, 'Points earned.'),
            'success': Field(str, 'Whether it was right.', choices=['correct', 'incorrect']),
            'answers': Field(dict, 'The answers by input id.'),
            'submitted_at': Field(datetime.datetime, 'When.'),
            'hint': Field(str, 'The hint shown, if any.', required=False),
        },
        example={'user_id': 1, 'course_id': 'course-v1:a+b+c', 'grade': 1.0, 'success': 'correct',
                 'answers': {'q1': 'a'}, 'submitted_at': datetime.datetime(2024, 1, 1, tzinfo=UTC)},
        version=2, owner='tests',
    )


def valid_data(**changes):
    data = {'user_id': 5, 'course_id': 'course-v1:x+y+z', 'grade': 0.5, 'success': 'incorrect',
            'answers': {'q1': 'b'}, 'submitted_at': datetime.datetime(2024, 3, 1, 12, tzinfo=UTC)}
    data.update(changes)
    return data


def test_register_returns_the_type_and_get_event_type_finds_it_by_name():
    event_type = answered()
    assert register(event_type) is event_type
    assert get_event_type('tests.problem.answered') is event_type
    assert get_event_type('tests.nothing') is None
    assert get_event_type(['unhashable']) is None
    assert event_type in registered_event_types()
    assert event_type.module == __name__


def test_registered_event_types_are_sorted_by_name():
    register(EventType('tests.b', 'B.'))
    register(EventType('tests.a', 'A.'))
    names = [event_type.name for event_type in registered_event_types()]
    assert names == sorted(names) and {'tests.a', 'tests.b'} <= set(names)


def test_registering_the_same_definition_again_is_fine_and_keeps_the_first():
    first = register(answered())
    register(answered())
    assert get_event_type('tests.problem.answered') is first


def test_a_different_definition_under_a_registered_name_raises_naming_the_type_and_the_difference():
    register(answered())
    changed = EventType('tests.problem.answered', 'Something else.', fields={'user_id': Field(int)})
    with pytest.raises(ImproperlyConfigured) as raised:
        register(changed)
    message = str(raised.value)
    assert "'tests.problem.answered'" in message and 'registered twice with different definitions' in message
    assert 'description' in message and 'schema' in message


def test_unregister_forgets_the_type():
    register(answered())
    assert unregister('tests.problem.answered').name == 'tests.problem.answered'
    assert get_event_type('tests.problem.answered') is None
    assert unregister('tests.problem.answered') is None


def test_json_schema_of_the_fields_shorthand():
    schema = answered().json_schema()
    assert schema['$schema'] == DRAFT
    assert schema['title'] == 'tests.problem.answered'
    assert schema['description'] == 'A learner answered a problem.'
    assert schema['type'] == 'object'
    assert schema['required'] == ['user_id', 'course_id', 'grade', 'success', 'answers', 'submitted_at']
    assert schema['properties']['user_id'] == {'type': 'integer', 'description': 'The learner.'}
    assert schema['properties']['success']['enum'] == ['correct', 'incorrect']
    assert schema['properties']['submitted_at'] == {'type': 'string', 'format': 'date-time', 'description': 'When.'}
    schema['properties'].clear()
    assert answered().json_schema()['properties'], 'json_schema() returns a new dict each time'


@pytest.mark.parametrize('field_type, expected', [
    ('string', {'type': 'string'}), (str, {'type': 'string'}), (int, {'type': 'integer'}),
    (float, {'type': 'number'}), (bool, {'type': 'boolean'}), (dict, {'type': 'object'}),
    (list, {'type': 'array'}), (type(None), {'type': 'null'}), ('null', {'type': 'null'}),
    (datetime.datetime, {'type': 'string', 'format': 'date-time'}),
    (datetime.date, {'type': 'string', 'format': 'date'}),
])
def test_field_types_map_to_json_schema(field_type, expected):
    assert Field(field_type).json_schema() == expected


def test_a_schema_given_as_is_is_the_schema_of_data():
    event_type = EventType('tests.schema', 'With a schema.', schema={
        'type': 'object', 'properties': {'n': {'type': 'integer', 'minimum': 0}}, 'required': ['n'],
    })
    assert event_type.validate({'n': 3}) == []
    assert event_type.validate({'n': -1}) == ["data.n: fails 'minimum' 0"]
    assert event_type.validate({}) == ['data.n: required but missing']


def test_valid_data_has_no_problems():
    event_type = answered()
    assert event_type.validate(valid_data()) == []
    assert event_type.validate(valid_data(hint='look again')) == []
    assert event_type.validate(valid_data(submitted_at='2024-03-01T12:00:00Z')) == []


def test_problems_name_the_dotted_path_and_the_types_never_the_values():
    event_type = EventType('tests.nested', 'Nested.', schema={
        'type': 'object',
        'properties': {
            'answers': {'type': 'object', 'properties': {'q1': {'type': 'string'}}},
            'scores': {'type': 'array', 'items': {'type': 'integer'}},
        },
    })
    problems = event_type.validate({'answers': {'q1': 31337}, 'scores': [1, 'secret-value']})
    assert problems == ['data.answers.q1: expected string, got int', 'data.scores.1: expected integer, got str']
    assert not any('31337' in problem or 'secret-value' in problem for problem in problems)


def test_each_kind_of_problem_is_worded():
    problems = answered().validate(valid_data(user_id=True, success='maybe', submitted_at='yesterday', course_id=None)
                                   | {'grade': '1'})
    assert 'data.user_id: expected integer, got bool' in problems
    assert "data.success: not one of the allowed values ['correct', 'incorrect']" in problems
    assert 'data.submitted_at: not a valid date-time' in problems
    assert 'data.course_id: expected string, got NoneType' in problems
    assert 'data.grade: expected number, got str' in problems
    assert not any('maybe' in problem or 'yesterday' in problem for problem in problems)
    missing = valid_data()
    del missing['answers']
    assert answered().validate(missing) == ['data.answers: required but missing']
    closed = EventType('tests.closed', 'Closed.', schema={'type': 'object', 'additionalProperties': False})
    assert closed.validate({'extra': 1}) == ['data: 1 undeclared field, not allowed']
    assert closed.validate(['not', 'an', 'object']) == ['data: expected object, got list']


def test_a_datetime_is_judged_by_the_text_the_log_writes_for_it_whatever_the_string_constraints():
    limited = EventType('tests.limited.dates', 'Dates with string limits.', schema={
        'type': 'object', 'properties': {
            'short': {'type': 'string', 'maxLength': 25},
            'utc': {'type': 'string', 'pattern': r'\+00:00$'},
        }})
    at = datetime.datetime(2024, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)  # 32 characters written
    assert limited.validate({'short': at}) == ["data.short: fails 'maxLength' 25"]
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert limited.validate({'utc': datetime.datetime(2024, 1, 1, 13, tzinfo=paris)}) == []  # written in UTC


@pytest.mark.parametrize('depth', [
    sys.getrecursionlimit() * 2,  # on Python 3.12+ JSON-encodable, and too deep for jsonschema-rs
    200_000,  # past the C recursion limit of Python 3.12+ too
])
def test_data_nested_too_deeply_is_a_problem_not_an_exception(depth):
    deep = []
    for _ in range(depth):
        deep = [deep]
    problems = EventType('tests.deep', 'Deep.', fields={'x': Field(str)}).validate({'x': deep})  # invalid: explained
    assert len(problems) == 1 and 'nested too deeply' in problems[0]


def test_a_nan_or_an_infinity_is_reported_as_the_float_it_is():
    event_type = EventType('tests.nan', 'NaN.', fields={'score': Field(int)})
    assert event_type.validate({'score': float('nan')}) == ['data.score: expected integer, got float']
    assert event_type.validate({'score': float('inf')}) == ['data.score: expected integer, got float']


def test_datetimes_and_dates_are_judged_in_their_json_form():
    event_type = EventType('tests.dates', 'Dates.', fields={'at': Field(datetime.datetime), 'on': Field(datetime.date)})
    assert event_type.validate({'at': datetime.datetime(2024, 1, 1, tzinfo=UTC), 'on': datetime.date(2024, 1, 2)}) == []
    # a naive datetime is taken as UTC, as the tracking log writes it (with +00:00)
    assert event_type.validate({'at': datetime.datetime(2024, 1, 1), 'on': datetime.date(2024, 1, 2)}) == []
    assert event_type.validate({'at': datetime.date(2024, 1, 1), 'on': datetime.datetime(2024, 1, 1, tzinfo=UTC)}) == [
        'data.at: not a valid date-time', 'data.on: not a valid date',
    ]
    nested = EventType('tests.nested.dates', 'Nested.', schema={
        'type': 'object', 'properties': {'when': {'type': 'object', 'properties': {'at': {'type': 'string'}}}}})
    assert nested.validate({'when': {'at': datetime.datetime(2024, 1, 1, tzinfo=UTC)}}) == []
    assert nested.validate({'when': {'at': 5}, 'other': datetime.datetime(2024, 1, 1, tzinfo=UTC)}) == [
        'data.when.at: expected string, got int'
    ]


def test_data_json_cannot_write_is_one_problem_where_the_schema_looks():
    assert answered().validate(valid_data(answers={'q1': {1, 2}})) == []  # the schema says nothing of q1
    assert answered().validate(valid_data(user_id={1, 2})) == [
        'data: cannot be written as JSON (set is not JSON serializable)'
    ]


def test_event_problems_of_whole_events():
    register(answered())
    assert event_problems({'name': 'tests.problem.answered', 'data': valid_data()}) == []
    assert event_problems({'name': 'tests.problem.answered', 'data': valid_data(grade='x')}) == [
        'data.grade: expected number, got str'
    ]
    assert event_problems({'name': 'tests.unknown', 'data': {}}) == ['tests.unknown: not a registered event type']
    assert event_problems({'data': {}}) == ['None: not a registered event type']
    assert event_problems('not an event') == ['event: expected a dict, got str']


def test_emit_goes_through_the_default_tracker(register_default_tracker):
    backend = InMemoryBackend()
    register_default_tracker(Tracker(backends={'mem': backend}))
    event_type = register(answered())
    event_type.emit(valid_data())
    (event,) = backend.events
    assert event['name'] == 'tests.problem.answered' and event['data'] == valid_data()


# --- bad definitions fail at import, naming the type and the problem -----------------------------------------

BAD_DEFINITIONS = {
    'example_fails_its_schema': (
        "EventType('tests.bad.example', 'Bad.', fields={'n': Field(int)}, example={'n': 'one'})",
        "Event type 'tests.bad.example': its example fails its own schema: data.n: expected integer, got str",
    ),
    'schema_not_json_schema': (
        "EventType('tests.bad.schema', 'Bad.', schema={'type': 'strnig'})",
        "Event type 'tests.bad.schema': its schema is not valid JSON Schema (draft 2020-12)",
    ),
    'schema_with_a_bad_keyword_value': (
        "EventType('tests.bad.minimum', 'Bad.', schema={'properties': {'n': {'minimum': 'zero'}}})",
        "Event type 'tests.bad.minimum': its schema is not valid JSON Schema (draft 2020-12)",
    ),
    'field_type_not_json': (
        "EventType('tests.bad.field', 'Bad.', fields={'tags': Field(set)})",
        "Event type 'tests.bad.field': field 'tags': type set cannot be expressed in JSON",
    ),
    'field_type_name_not_json': (
        "EventType('tests.bad.field_name', 'Bad.', fields={'n': Field('int')})",
        "Event type 'tests.bad.field_name': field 'n': type 'int' cannot be expressed in JSON",
    ),
    'example_not_json': (
        "EventType('tests.bad.example_json', 'Bad.', schema={'type': 'object'}, example={'tags': {1, 2}})",
        "Event type 'tests.bad.example_json': its example cannot be written as JSON: set is not JSON serializable",
    ),
    'fields_and_schema': (
        "EventType('tests.bad.both', 'Bad.', fields={'n': Field(int)}, schema={'type': 'object'})",
        "Event type 'tests.bad.both': give fields or schema, not both",
    ),
    'two_types_one_name': (
        "EventType('tests.bad.twice', 'First.')\n"
        "register(EventType('tests.bad.twice', 'First.'))\n"
        "register(EventType('tests.bad.twice', 'Second.'))",
        "Event type 'tests.bad.twice': registered twice with different definitions (they differ in description",
    ),
}


@pytest.mark.parametrize('case', sorted(BAD_DEFINITIONS))
def test_a_bad_definition_raises_improperly_configured_at_import(case, tmp_path, monkeypatch):
    code, expected = BAD_DEFINITIONS[case]
    module = f'bad_events_{case}'
    (tmp_path / f'{module}.py').write_text(
        'from eventtracking.registry import EventType, Field, register\n\n' + code + '\n', encoding='utf-8')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImproperlyConfigured) as raised:
        importlib.import_module(module)
    assert str(raised.value).startswith(expected), str(raised.value)


def test_a_module_imported_twice_registers_its_types_once_without_error(tmp_path, monkeypatch):
    (tmp_path / 'twice_events.py').write_text(textwrap.dedent('''
        from eventtracking.registry import EventType, Field, register
        DONE = register(EventType('tests.twice.done', 'Done.', fields={'n': Field(int)}, example={'n': 1}))
    '''), encoding='utf-8')
    monkeypatch.syspath_prepend(str(tmp_path))
    first = importlib.import_module('twice_events')
    del sys.modules['twice_events']
    importlib.import_module('twice_events')
    assert get_event_type('tests.twice.done') is first.DONE


def test_a_key_the_schema_does_not_declare_is_never_shown_only_its_position_or_a_count():
    event_type = EventType('tests.keyed', 'Keyed by email.', schema={
        'type': 'object',
        'properties': {'answers': {'type': 'object', 'additionalProperties': {'type': 'integer'}},
                       'course_id': {'type': 'string'}},
        'additionalProperties': False,
    })
    data = {'answers': {'ann@example.com': 1, 'bob@example.com': 'two'}, 'course_id': 'C',
            'carol@example.com': 3, 'dave@example.com': 4}
    problems = event_type.validate(data)
    assert problems == ['data.answers.<undeclared key 1>: expected integer, got str',
                        'data: 2 undeclared fields, not allowed']
    assert not any('@' in problem for problem in problems)
    closed = EventType('tests.declared.elsewhere', 'A declared key is shown.', schema={
        'type': 'object',
        'properties': {'a': {'type': 'object', 'properties': {'b': {}}, 'additionalProperties': False}},
    })
    assert closed.validate({'a': {'b': 1, 'c': 2}}) == ['data.a: 1 undeclared field, not allowed']
    assert EventType('tests.declared.b', 'b is declared under another object.', schema={
        'type': 'object', 'properties': {'a': {'additionalProperties': False}, 'z': {'properties': {'b': {}}}},
    }).validate({'a': {'b': 1}}) == ['data.a.b: not an allowed field']


def test_problems_are_structured_with_a_path_and_a_message_and_read_as_text():
    register(answered())
    problem, = event_problems({'name': 'tests.problem.answered', 'data': valid_data(grade='x')})
    assert (problem.path, problem.message) == ('data.grade', 'expected number, got str')
    assert problem == 'data.grade: expected number, got str' and isinstance(problem, str)
    unknown, = event_problems({'name': 'tests.unknown'})
    assert (unknown.path, unknown.message) == ('tests.unknown', NOT_REGISTERED)
    not_an_event, = event_problems(['x'])
    assert (not_an_event.path, not_an_event.message) == ('event', 'expected a dict, got list')
    assert pickle.loads(pickle.dumps(problem)).path == 'data.grade'
    assert copy.deepcopy(unknown).message == NOT_REGISTERED


@pytest.mark.parametrize('schema, where', [
    ({'type': 'object', 'properties': {'email': {'type': 'string', 'pattern': '^(?=.*@)(?!.*@.*@).+$'}}},
     "field 'email'"),
    ({'type': 'object', 'properties': {'user': {'type': 'object', 'properties': {
        'code': {'type': 'string', 'pattern': r'^(\w)\1$'}}}}}, "field 'user.code'"),
    ({'type': 'object', 'patternProperties': {'^(?!secret)': {'type': 'string'}}},
     'the schema at patternProperties/^(?!secret)'),
], ids=['lookaround', 'backreference-nested', 'patternProperties'])
def test_a_pattern_validation_cannot_bound_is_refused_naming_the_type_and_field(schema, where):
    with pytest.raises(ImproperlyConfigured) as caught:
        EventType('tests.unbounded', 'An unbounded pattern.', schema=schema)
    message = str(caught.value)
    assert message.startswith(f"Event type 'tests.unbounded': {where}: pattern ")
    assert 'linear-time regex engine' in message


def test_a_pattern_without_lookaround_is_accepted_and_its_failure_shows_the_pattern_not_the_value():
    event_type = EventType('tests.redos', 'A classic catastrophic pattern.', schema={
        'type': 'object', 'properties': {'code': {'type': 'string', 'pattern': '^(a+)+$'}}})
    assert event_type.validate({'code': 'aaaa'}) == []
    assert event_type.validate({'code': 'a' * 5000 + '!'}) == ["data.code: fails 'pattern' '^(a+)+$'"]
