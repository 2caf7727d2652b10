"""Event types: a registry of the events an application emits, with their documentation and JSON Schema.

An application describes each event it emits once, registers it, and emits it
through it::

    from eventtracking.registry import EventType, Field, register

    DOWNLOADED = register(EventType('myapp.report.downloaded', 'A user downloaded a report.',
                                    fields={'report_id': Field(int, 'The id of the report.')}))
    DOWNLOADED.emit({'report_id': 42})

``fields`` is a shorthand for the JSON Schema (draft 2020-12) of the event's
``data``; ``schema`` is that JSON Schema itself. A definition that cannot work
raises :class:`~eventtracking.exceptions.ImproperlyConfigured` where it is
written (so at import of the module that defines it), naming the type and the
problem: a field type JSON cannot express, a schema that is not valid JSON
Schema, an example that fails its own schema, or a different type registered
under a name already taken. Registering the same definition again (a module
imported twice) is harmless.

Validation uses ``jsonschema-rs`` (a compiled validator; the ``schema`` extra,
``pip install 'eventtracking[schema]'``): importing this module without it
raises an ``ImportError`` naming the extra. The data is validated as it will
be written: a value JSON has no type for (a ``datetime``, a ``date``, a
tuple) is checked in its JSON form (an ISO 8601 string, a list).

Validation runs in the emitting thread, so its cost per event must stay
bounded: every ``pattern`` (and ``patternProperties`` key) runs on a
linear-time regular expression engine, and a schema whose pattern needs
lookaround or a backreference (which that engine has not) is refused with
:class:`~eventtracking.exceptions.ImproperlyConfigured` naming the type and
the field.

The catalog of every registered type is rendered by :mod:`eventtracking.catalog`;
:class:`eventtracking.processors.schema.EventTypeValidator` checks events on
their way to the backends.
"""

import copy
import datetime
import json
import sys
import threading

from eventtracking._extras import missing_extra
from eventtracking.encoding import utc_isoformat
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.forking import after_fork_in_child

try:
    import jsonschema_rs
except ImportError as exc:
    raise missing_extra('schema', __name__, exc) from exc

DRAFT = 'https://json-schema.org/draft/2020-12/schema'
"""The JSON Schema dialect of every event type's schema."""

JSON_TYPES = ('string', 'integer', 'number', 'boolean', 'object', 'array', 'null')
"""The JSON Schema type names a :class:`Field` may have."""

PYTHON_TYPES = {
    str: {'type': 'string'},
    int: {'type': 'integer'},
    float: {'type': 'number'},
    bool: {'type': 'boolean'},
    dict: {'type': 'object'},
    list: {'type': 'array'},
    type(None): {'type': 'null'},
    datetime.datetime: {'type': 'string', 'format': 'date-time'},
    datetime.date: {'type': 'string', 'format': 'date'},
}
"""The Python types a :class:`Field` may have, with the JSON Schema each stands for."""

NOT_REGISTERED = 'not a registered event type'
"""The message of the problem of an event whose name no registered type has (:func:`event_problems`)."""


class Problem(str):
    """One problem of an event, never showing a value: ``path``, where it is, and ``message``, what is wrong.

    ``path`` is the dotted path from the event's root (``data.answers.q1``;
    ``data`` for the whole payload, ``event`` for the event itself), or, for an
    event whose name no registered type has, that name (with the message
    :data:`NOT_REGISTERED`). A path names only keys the type's schema
    declares; a key it does not declare is shown by its position in its
    object (``data.answers.<undeclared key 0>``), since keys can be personal
    data. The problem is a string as well, its text: ``'<path>: <message>'``.
    """

    def __new__(cls, path, message):
        problem = super().__new__(cls, f'{path}: {message}')
        problem.path = path
        problem.message = message
        return problem

    def __getnewargs__(self):
        return (self.path, self.message)


class Field:
    """One field of an event's ``data``: its type, what it means, whether it must be there, its allowed values.

    ``type`` is a JSON Schema type name (``'string'``, ``'integer'``,
    ``'number'``, ``'boolean'``, ``'object'``, ``'array'``, ``'null'``) or the
    matching Python type (``str``, ``int``, ``float``, ``bool``, ``dict``,
    ``list``, ``type(None)``); ``datetime.datetime`` means a string in
    ``date-time`` format, ``datetime.date`` one in ``date`` format. Any other
    type makes the :class:`EventType` that holds the field raise
    :class:`~eventtracking.exceptions.ImproperlyConfigured`. ``choices``, when
    given, lists the only values allowed.
    """

    __slots__ = ('type', 'description', 'required', 'choices')

    def __init__(self, type, description='', required=True, choices=None):  # pylint: disable=redefined-builtin
        self.type = type
        self.description = description
        self.required = required
        self.choices = None if choices is None else list(choices)

    def json_schema(self):
        """The JSON Schema of this field's value; ``ValueError`` if its type has none."""
        if isinstance(self.type, str) and self.type in JSON_TYPES:
            schema = {'type': self.type}
        elif isinstance(self.type, type) and self.type in PYTHON_TYPES:
            schema = dict(PYTHON_TYPES[self.type])
        else:
            raise ValueError(
                f'type {_type_label(self.type)} cannot be expressed in JSON: use one of {", ".join(JSON_TYPES)} '
                f'or str, int, float, bool, dict, list, type(None), datetime.datetime, datetime.date'
            )
        if self.description:
            schema['description'] = self.description
        if self.choices is not None:
            schema['enum'] = list(self.choices)
        return schema

    def __repr__(self):
        return (f'Field({_type_label(self.type)}, {self.description!r}, required={self.required!r}, '
                f'choices={self.choices!r})')


class EventType:
    """One kind of event: its name, what it means, the JSON Schema of its ``data`` and an example of it.

    ``fields`` (name -> :class:`Field`) is a shorthand for ``schema``, the JSON
    Schema (draft 2020-12) of ``data``; give one or the other (neither: any
    object). ``example`` is the ``data`` of a typical event, shown in the
    catalog and checked against the schema here. ``version`` counts changes
    to the type's meaning or shape; ``owner`` says who to ask about it (a
    team, a repository). ``browser=True`` accepts events of this type from
    web pages (see :mod:`eventtracking.django.browser`); a registered type
    without it is refused there. ``module`` is the name of the module that created
    it (the Sphinx directive's ``:module:`` option selects types by it), not
    part of its definition. Raises :class:`~eventtracking.exceptions.ImproperlyConfigured`
    naming the type and the problem when the definition cannot work.
    """

    def __init__(self, name, description, fields=None, schema=None, example=None, version=1, owner='',
                 browser=False):
        if not isinstance(name, str) or not name:
            raise ImproperlyConfigured(f'An event type name must be a non-empty string, not {name!r}')
        self.name = name
        self.module = _defining_module()
        self.description = description
        self.fields = dict(fields) if fields is not None else None
        self.version = version
        self.owner = owner
        self.browser = bool(browser)
        self.example = copy.deepcopy(example)
        self._dated = False
        if fields is not None and schema is not None:
            self._fail('give fields or schema, not both')
        self._schema = self._data_schema(schema)
        try:
            jsonschema_rs.meta.validate(self._schema)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            self._fail(f'its schema is not valid JSON Schema (draft 2020-12): {_first_line(exc)}')
        try:
            self._validator = jsonschema_rs.Draft202012Validator(
                self._schema, validate_formats=True, pattern_options=jsonschema_rs.RegexOptions())
        except jsonschema_rs.ValidationError as exc:
            self._fail(_unbounded_pattern(self._schema, exc))
        except (jsonschema_rs.ReferencingError, ValueError) as exc:
            self._fail(f'its schema is not valid JSON Schema (draft 2020-12): {_first_line(exc)}')
        self._declared = _declared_keys(self._schema)
        if example is not None:
            problems = self.validate(example)
            if problems:
                self._fail(f'its example fails its own schema: {"; ".join(problems)}')
            try:
                json_form(example)
            except (TypeError, ValueError) as exc:
                self._fail(f'its example cannot be written as JSON: {_first_line(exc)}')

    def _fail(self, problem):
        raise ImproperlyConfigured(f'Event type {self.name!r}: {problem}')

    def _data_schema(self, schema):
        if schema is not None:
            if not isinstance(schema, dict):
                self._fail(f'its schema must be a dict (a JSON Schema), not {type(schema).__name__}')
            return copy.deepcopy(schema)
        properties, required = {}, []
        for field_name, field in (self.fields or {}).items():
            if not isinstance(field, Field):
                self._fail(f'field {field_name!r} must be a Field, not {type(field).__name__}')
            try:
                properties[field_name] = field.json_schema()
            except ValueError as exc:
                self._fail(f'field {field_name!r}: {exc}')
            if field.required:
                required.append(field_name)
        data_schema = {'type': 'object', 'properties': properties}
        if required:
            data_schema['required'] = required
        return data_schema

    def json_schema(self):
        """The JSON Schema of this type's ``data`` (a new dict), with ``$schema``, ``title`` and ``description``."""
        schema = {'$schema': DRAFT, 'title': self.name, 'description': self.description}
        schema.update(copy.deepcopy(self._schema))
        return schema

    def validate(self, data):
        """Return the problems of ``data`` against this type's schema: a list of :class:`Problem`, empty when valid.

        The problems are sorted; each is a string that starts with the dotted path of the value from the
        event's root and never shows the value itself, for example
        ``data.answers.q1: expected string, got int`` or
        ``data.course_id: required but missing``; a key the schema does not
        declare is not shown either (``data: 2 undeclared fields, not allowed``).
        A value JSON cannot write (a set) where the schema looks is the one problem
        ``data: cannot be written as JSON (...)``.
        """
        try:
            if self._validator.is_valid(_top_level_json_form(data) if self._dated else data):
                return []
        except RecursionError:
            return [Problem('data', 'nested too deeply to validate')]
        except ValueError:  # a value JSON has no type for (a datetime): judge the data in its JSON form
            self._dated = True  # this type's data holds datetimes: replace them first from now on
            try:
                if self._validator.is_valid(_top_level_json_form(data)):
                    return []
            except ValueError:
                pass
        try:
            instance = json_form(data)
        except (TypeError, ValueError) as exc:
            return [Problem('data', f'cannot be written as JSON ({_first_line(exc)})')]
        except RecursionError:
            return [Problem('data', 'nested too deeply to be written as JSON')]
        try:
            errors = list(self._validator.iter_errors(instance))
        except (RecursionError, ValueError):  # jsonschema-rs: 'Recursion limit reached'
            return [Problem('data', 'nested too deeply to validate')]
        return sorted(problem for error in errors
                      for problem in _problems(error, self._schema, instance, self._declared))

    def emit(self, data):
        """Emit an event of this type with ``data`` through the default tracker (:func:`eventtracking.tracker.emit`)."""
        from eventtracking import tracker  # pylint: disable=import-outside-toplevel  # a layer above: see .importlinter
        tracker.emit(self.name, data)

    def definition(self):
        """Everything that defines this type, as JSON-ready data: what the catalog shows, what registration compares.

        ``'browser': True`` is there only for a type accepted from web pages.
        """
        definition = {
            'name': self.name,
            'description': self.description,
            'version': self.version,
            'owner': self.owner,
            'schema': self.json_schema(),
            'example': json_form(self.example),
        }
        if self.browser:
            definition['browser'] = True
        return definition

    def __eq__(self, other):
        if not isinstance(other, EventType):
            return NotImplemented
        return self.definition() == other.definition()

    __hash__ = object.__hash__

    def __repr__(self):
        return f'<EventType {self.name!r} version {self.version!r}>'


_REGISTRY = {}
_LOCK = threading.Lock()


def _new_lock(module):
    """In a child after ``fork``: another thread may have held the old lock."""
    module._LOCK = threading.Lock()  # pylint: disable=protected-access


after_fork_in_child(sys.modules[__name__], _new_lock)


def register(event_type):
    """Register ``event_type`` under its name and return it.

    Registering an equal definition again is a no-op; a different one under a
    name already registered raises :class:`~eventtracking.exceptions.ImproperlyConfigured`.
    """
    if not isinstance(event_type, EventType):
        raise ImproperlyConfigured(f'register() takes an EventType, not {type(event_type).__name__}')
    with _LOCK:
        existing = _REGISTRY.get(event_type.name)
        if existing is not None and existing is not event_type:
            if existing != event_type:
                raise ImproperlyConfigured(
                    f'Event type {event_type.name!r}: registered twice with different definitions '
                    f'({_difference(existing, event_type)})'
                )
            return event_type
        _REGISTRY[event_type.name] = event_type
    return event_type


def unregister(name):
    """Forget the type registered as ``name`` (for tests); return it, or None when none was."""
    with _LOCK:
        return _REGISTRY.pop(name, None)


def get_event_type(name):
    """Return the :class:`EventType` registered as ``name``, or None when none is."""
    try:
        return _REGISTRY.get(name)
    except TypeError:  # an unhashable name
        return None


def registered_event_types():
    """Return every registered :class:`EventType`, sorted by name."""
    with _LOCK:
        return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def event_problems(event):
    """Return the problems of a whole event (native shape: ``name`` and ``data``): a list of :class:`Problem`.

    An event whose name no registered type has gives one problem, whose
    ``path`` is the name as it is (``None`` when missing) and whose
    ``message`` is :data:`NOT_REGISTERED`:
    ``'<name>: not a registered event type'``; a registered one gives its
    type's :meth:`EventType.validate` problems, each starting with its dotted
    path from the event root (``data.answers.q1: expected string, got int``).
    An empty list means the event is registered and valid.
    """
    if not isinstance(event, dict):
        return [Problem('event', f'expected a dict, got {type(event).__name__}')]
    name = event.get('name')
    event_type = get_event_type(name)
    if event_type is None:
        return [Problem(str(name), NOT_REGISTERED)]
    return event_type.validate(event.get('data', {}))


def json_form(value):
    """Return ``value`` as the tracking log writes it: datetimes in UTC and dates as ISO 8601 strings (a naive
    datetime taken as UTC, see :func:`eventtracking.encoding.utc_isoformat`), tuples as lists.

    ``TypeError`` or ``ValueError`` for a value JSON cannot write (a set, an object).
    """
    return json.loads(json.dumps(value, default=_iso_format))


def _top_level_json_form(data):
    """``data`` with each top-level datetime or date (where they usually are) in its written ISO 8601 form:
    a cheap :func:`json_form` for the yes/no check."""
    if not isinstance(data, dict):
        return data
    return {key: utc_isoformat(value) if isinstance(value, _DATES) else value for key, value in data.items()}


_DATES = (datetime.datetime, datetime.date)


def _iso_format(value):
    if isinstance(value, _DATES):
        return utc_isoformat(value)
    raise TypeError(f'{type(value).__name__} is not JSON serializable')


_JSON_TYPE_NAMES = {str: 'string', bool: 'boolean', int: 'integer', float: 'number', dict: 'object',
                    list: 'array', type(None): 'null'}


def _problems(error, schema, instance, declared):
    """The :class:`Problem` of one ``jsonschema_rs.ValidationError``: the path and what is wrong, never a value
    and never a key the schema does not declare."""
    path = _shown_path(instance, error.instance_path, declared)
    kind = error.kind
    kind_name = type(kind).__name__
    if kind_name == 'Type':
        expected = ' or '.join(str(name) for name in kind.types)
        actual = _schema_value(instance, error.instance_path)  # error.instance: NaN and infinities read as None
        return [Problem(path, f'expected {expected}, got {type(actual).__name__}')]
    if kind_name == 'Required':
        return [Problem(f'{path}.{kind.property}', 'required but missing')]
    if kind_name == 'AdditionalProperties':
        return _not_allowed(path, kind.unexpected, declared)
    if kind_name == 'Enum':
        return [Problem(path, f'not one of the allowed values {_schema_value(schema, error.schema_path)!r}')]
    if kind_name == 'Format':
        return [Problem(path, f'not a valid {kind.format}')]
    keyword = error.schema_path[-1] if error.schema_path else kind_name
    if keyword == 'additionalProperties':  # additionalProperties: false
        parent = _schema_value(schema, error.schema_path[:-1]) or {}
        known = set(parent.get('properties') or ())
        value = _schema_value(instance, error.instance_path)
        if isinstance(value, dict):
            return _not_allowed(path, [name for name in value if name not in known], declared)
    constraint = _schema_value(schema, error.schema_path)
    shown = '' if isinstance(constraint, (dict, list)) or constraint is None else f' {constraint!r}'
    return [Problem(path, f'fails {keyword!r}{shown}')]


def _not_allowed(path, names, declared):
    """Problems for keys ``additionalProperties: false`` refuses: a declared one by name, the others counted."""
    problems = [Problem(f'{path}.{name}', 'not an allowed field') for name in names if name in declared]
    undeclared = sum(1 for name in names if name not in declared)
    if undeclared:
        problems.append(Problem(path, f'{undeclared} undeclared field{"s" if undeclared != 1 else ""}, '
                                      f'not allowed'))
    return problems


def _shown_path(instance, parts, declared):
    """The dotted path of ``parts`` from ``data``: array indexes and declared keys as they are, any other key
    as its position in its object (``<undeclared key 2>``)."""
    shown, node = ['data'], instance
    for part in parts:
        if isinstance(part, str) and part not in declared:
            position = list(node).index(part) if isinstance(node, dict) and part in node else '?'
            shown.append(f'<undeclared key {position}>')
        else:
            shown.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return '.'.join(shown)


def _declared_keys(schema):
    """Every object key ``schema`` names anywhere (in ``properties``, ``required``, ``dependentRequired``,
    ``dependentSchemas``): the keys a problem may show."""
    keys, todo = set(), [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for keyword in ('properties', 'dependentSchemas', 'dependentRequired'):
            if isinstance(node.get(keyword), dict):
                keys.update(name for name in node[keyword] if isinstance(name, str))
        for keyword in ('required',):
            if isinstance(node.get(keyword), list):
                keys.update(name for name in node[keyword] if isinstance(name, str))
        if isinstance(node.get('dependentRequired'), dict):
            for names in node['dependentRequired'].values():
                if isinstance(names, list):
                    keys.update(name for name in names if isinstance(name, str))
        todo.extend(node.values())
    return frozenset(keys)


def _unbounded_pattern(schema, exc):
    """The problem of a schema whose pattern the linear-time regex engine cannot run, naming the field."""
    where = list(exc.instance_path)
    if len(where) > 1 and where[-2] == 'patternProperties':
        pattern = where[-1]
    else:
        pattern = _schema_value(schema, where)
    fields = [str(where[index + 1]) for index, part in enumerate(where[:-1]) if part == 'properties']
    place = f'field {".".join(fields)!r}' if fields else 'the schema at ' + ('/'.join(map(str, where)) or 'its root')
    return (f'{place}: pattern {pattern!r} cannot run on the linear-time regex engine that keeps validation '
            f'bounded per event (it uses lookaround or a backreference, or is not a regular expression); '
            f'rewrite it without them')


def _schema_value(schema, schema_path):
    """The value at ``schema_path`` in ``schema`` (or an instance), or None when the path leaves it (a ``$ref``)."""
    node = schema
    try:
        for part in schema_path:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        return None
    return node


def _defining_module():
    """The name of the first module outside this one on the call stack: where an EventType is being created."""
    frame = sys._getframe(1)  # pylint: disable=protected-access
    while frame is not None and frame.f_globals.get('__name__') == __name__:
        frame = frame.f_back
    return frame.f_globals.get('__name__', '') if frame is not None else ''


def _difference(first, second):
    one, two = first.definition(), second.definition()
    keys = [key for key in dict.fromkeys([*one, *two]) if one.get(key) != two.get(key)]
    return 'they differ in ' + ', '.join(keys)


def _type_label(value):
    return value.__name__ if isinstance(value, type) else repr(value)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
