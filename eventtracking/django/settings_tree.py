"""Build objects from settings trees of ``{'ENGINE': ..., 'OPTIONS': {...}}`` nodes.

``EVENT_TRACKING_BACKENDS`` and ``EVENT_TRACKING_PROCESSORS`` are trees of
dicts and lists. Any dict with an ``ENGINE`` key (the dotted path of a class)
stands for an instance of that class, constructed with its ``OPTIONS`` as
keyword arguments; the options are built the same way first, so a routing
backend's ``backends`` and ``processors`` can hold further nodes::

    {'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
     'OPTIONS': {'processors': [{'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                                 'OPTIONS': {'regular_expressions': [r'edx\\.course\\.']}}],
                 'backends': {'log': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend'}}}}

:class:`TreeBuilder` walks such a tree in one of two modes. *Strict* mode
(used by :class:`~eventtracking.django.DjangoTracker`) builds the objects and
raises at the first problem, as the original library did. *Collecting* mode
(used by the system checks) goes through the whole tree, constructs what it
can, and records every :class:`Problem` with the setting path it was found at,
for example ``EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['processors'][0]``.
"""

import inspect

from django.utils.module_loading import import_string

from eventtracking.problems import Problem, item_path

ENGINE_KEY = 'ENGINE'
OPTIONS_KEY = 'OPTIONS'

BACKEND = 'backend'
"""The role of a node that must be usable as a backend (it has a callable ``send``)."""

PROCESSOR = 'processor'
"""The role of a node that must be usable as a processor (it is callable)."""

CHILD_ROLES = {'backends': BACKEND, 'processors': PROCESSOR}
"""Option names whose entries are backends (a mapping) or processors (a list) of the node they configure."""

# System check ids: one per kind of configuration error.
E_IMPORT = 'eventtracking.E001'
E_MALFORMED = 'eventtracking.E002'
E_OPTIONS = 'eventtracking.E003'
E_CONSTRUCTION = 'eventtracking.E004'
E_NO_SEND = 'eventtracking.E005'
E_NOT_CALLABLE = 'eventtracking.E006'
E_SETTING_TYPE = 'eventtracking.E009'
W_UNKNOWN_KEY = 'eventtracking.W001'


class _Failed:
    """Stands for a node that could not be built (collecting mode)."""

    def __repr__(self):
        return '<not built>'


FAILED = _Failed()
"""What a node that could not be built becomes in collecting mode."""


def is_engine_node(node):
    """True for a dict that stands for an object (it has an ``ENGINE`` key)."""
    return isinstance(node, dict) and ENGINE_KEY in node


class TreeBuilder:
    """Walk a settings tree and instantiate every ``ENGINE`` node, children first.

    With ``strict=True`` the first problem raises: an ENGINE that cannot be
    imported raises ``ValueError('Cannot find class <path>')``; a constructor's
    own exception propagates. Either carries a note naming the setting path.
    With ``strict=False`` nothing raises: every problem is appended to
    ``problems`` (a list of :class:`Problem`), a node that cannot be built becomes :data:`FAILED`, and
    the nodes above it are not constructed (so one mistake is reported once).
    Collecting mode also checks what strict mode leaves to the constructors:
    options against the class's signature, the problems the class's own
    ``check_options`` finds (see :mod:`eventtracking.problems`), and that
    backends have a callable ``send`` and processors are callable.
    """

    def __init__(self, strict=True):
        self.strict = strict
        self.problems = []
        self.built = []
        """Every object built, as ``(setting path, instance)``, children before their parents."""

    def build_backends(self, config, setting_name):
        """Build the mapping of name -> backend configured in the setting ``setting_name``."""
        if not isinstance(config, dict):
            self._report(E_SETTING_TYPE, setting_name,
                         f'must be a dict of backend name to backend configuration, not {type(config).__name__}',
                         exc_type=TypeError)
            return {}
        return {name: self.build(node, item_path(setting_name, name), BACKEND) for name, node in config.items()}

    def build_processors(self, config, setting_name):
        """Build the list of processors configured in the setting ``setting_name``."""
        if not isinstance(config, (list, tuple)):
            self._report(E_SETTING_TYPE, setting_name,
                         f'must be a list of processor configurations, not {type(config).__name__}',
                         exc_type=TypeError)
            return []
        return [self.build(node, item_path(setting_name, index), PROCESSOR) for index, node in enumerate(config)]

    def build(self, node, path, role=None):
        """Return ``node`` with every ENGINE node inside it (or itself) replaced by its instance.

        Dicts and lists (and tuples) are rebuilt; other values are returned
        as they are. ``role`` (:data:`BACKEND` or :data:`PROCESSOR`) is what
        the result must be usable as; only collecting mode checks it.
        """
        if is_engine_node(node):
            result = self._build_engine(node, path)
        elif isinstance(node, dict):
            result = {key: self.build(value, item_path(path, key)) for key, value in node.items()}
        elif isinstance(node, list):
            result = [self.build(value, item_path(path, index)) for index, value in enumerate(node)]
        elif isinstance(node, tuple):
            result = tuple(self.build(value, item_path(path, index)) for index, value in enumerate(node))
        else:
            result = node
        if not self.strict and role and not contains_failure(result):
            result = self._check_role(node, result, path, role)
        return result

    def resolve(self, node, path):
        """Import the class named by an ENGINE node; :data:`FAILED` (or raise, if strict) when it cannot be."""
        engine = node[ENGINE_KEY]
        if not isinstance(engine, str):
            self._report(E_MALFORMED, item_path(path, ENGINE_KEY),
                         f'must be the dotted path of a class, not {type(engine).__name__} {engine!r}',
                         exc_type=ValueError, strict_message=f'Cannot find class {engine}')
            return FAILED
        try:
            return import_string(engine)
        except (ImportError, ValueError, AttributeError, TypeError) as exc:
            if self.strict:
                error = ValueError(f'Cannot find class {engine}')
                error.add_note(f'ENGINE of {path}')
                raise error from exc
            self._report(E_IMPORT, item_path(path, ENGINE_KEY), f'cannot import {engine!r}: {exc}',
                         hint='Check the dotted path, and that the package providing it is installed.')
        except Exception as exc:  # pylint: disable=broad-except
            if self.strict:
                exc.add_note(f'while importing the ENGINE of {path}')
                raise
            self._report(E_IMPORT, item_path(path, ENGINE_KEY),
                         f'importing {engine!r} failed: {type(exc).__name__}: {exc}')
        return FAILED

    def _build_engine(self, node, path):
        cls = self.resolve(node, path)
        options = node.get(OPTIONS_KEY, {})
        options_path = item_path(path, OPTIONS_KEY)
        if not self.strict:
            for key in node:
                if key not in (ENGINE_KEY, OPTIONS_KEY):
                    self._report(W_UNKNOWN_KEY, item_path(path, key),
                                 f'ignored: only {ENGINE_KEY!r} and {OPTIONS_KEY!r} are read next to an ENGINE',
                                 hint=f'Did you mean {OPTIONS_KEY!r}?' if str(key).upper().startswith('OPT') else None)
        if options is None:
            options = {}
        if not isinstance(options, dict):
            self._report(E_MALFORMED, options_path,
                         f'must be a dict of keyword arguments, not {type(options).__name__}', exc_type=TypeError)
            return FAILED
        built = {key: self._build_option(key, value, item_path(options_path, key)) for key, value in options.items()}
        if cls is FAILED:
            return FAILED
        valid = not any(contains_failure(value) for value in built.values())
        if not self.strict:
            valid = self._options_accepted(cls, built, options_path) and valid
            valid = self._options_checked(cls, options, options_path) and valid
        if not valid:
            return FAILED
        try:
            instance = cls(**built)
        except Exception as exc:  # pylint: disable=broad-except
            if self.strict:
                exc.add_note(f'while constructing {node[ENGINE_KEY]} at {path}')
                raise
            self._report(E_CONSTRUCTION, path,
                         f'{node[ENGINE_KEY]} could not be constructed with these OPTIONS: {type(exc).__name__}: {exc}')
            return FAILED
        self.built.append((path, instance))
        return instance

    def _build_option(self, key, value, path):
        role = CHILD_ROLES.get(key)
        if role == BACKEND and isinstance(value, dict) and not is_engine_node(value):
            return {name: self.build(child, item_path(path, name), BACKEND) for name, child in value.items()}
        if role == PROCESSOR and isinstance(value, (list, tuple)):
            return type(value)(self.build(child, item_path(path, index), PROCESSOR) for index, child in enumerate(value))
        return self.build(value, path)

    def _options_accepted(self, cls, options, options_path):
        accepted = accepted_options(cls)
        if accepted is None:
            return True
        names, required, open_ended = accepted
        ok = True
        engine = _qualified_name(cls)
        if not open_ended:
            for key in options:
                if key not in names:
                    listed = ', '.join(sorted(names)) or 'none'
                    self._report(E_OPTIONS, item_path(options_path, key),
                                 f'{engine} does not accept the option {key!r} (it accepts: {listed})')
                    ok = False
        missing = [name for name in required if name not in options]
        if missing:
            self._report(E_OPTIONS, options_path, f'{engine} requires the option(s) {", ".join(missing)}')
            ok = False
        return ok

    def _options_checked(self, cls, options, options_path):
        """Ask ``cls`` what is wrong with ``options`` (as written) if it can tell; False if that is an error."""
        check_options = getattr(cls, 'check_options', None)
        if not callable(check_options):
            return True
        try:
            problems = list(check_options(options, options_path))
        except Exception as exc:  # pylint: disable=broad-except
            self._report(E_CONSTRUCTION, options_path,
                         f'{_qualified_name(cls)}.check_options raised {type(exc).__name__}: {exc}')
            return False
        self.problems.extend(problems)
        return all(problem.is_warning for problem in problems)

    def _check_role(self, node, result, path, role):
        """``result`` (built from ``node``) if it can serve as a ``role``; else report why and return FAILED.

        Whether an ENGINE is missing is decided by the settings ``node``, not by
        what was built: an instance of a class that subclasses ``dict`` is still
        an object, checked for ``send`` or ``__call__`` like any other.
        """
        if isinstance(node, dict) and not is_engine_node(node):
            self._report(E_MALFORMED, path, f'used as a {role}, but has no {ENGINE_KEY!r} key',
                         hint=f"A {role} is a dict with 'ENGINE' (a dotted class path) and optional 'OPTIONS'.")
            return FAILED
        if role == BACKEND and not callable(getattr(result, 'send', None)):
            self._report(E_NO_SEND, path, f'used as a backend, but {_describe(result)} has no callable "send" method',
                         hint="A backend is a dict with 'ENGINE' naming a class that has a send(event) method.")
            return FAILED
        if role == PROCESSOR and not callable(result):
            self._report(E_NOT_CALLABLE, path, f'used as a processor, but {_describe(result)} is not callable',
                         hint='A processor is a callable taking an event: a class with __call__(self, event).')
            return FAILED
        return result

    def _report(self, check_id, path, message, hint=None, exc_type=None, strict_message=None):
        if self.strict:
            error = (exc_type or ValueError)(strict_message or f'{path}: {message}')
            raise error
        self.problems.append(Problem(check_id, path, message, hint))


def accepted_options(cls):
    """What keyword arguments ``cls`` takes: ``(names, required, open_ended)``, or None if unknown.

    A class whose constructor takes ``**kwargs`` accepts anything
    (``open_ended``) unless it lists its options in an ``OPTIONS`` class
    attribute, as :class:`~eventtracking.backends.logger.LoggerBackend` does.
    """
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    names, required, open_ended = set(), [], False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.add(parameter.name)
            if parameter.default is parameter.empty:
                required.append(parameter.name)
        elif parameter.kind == parameter.VAR_KEYWORD:
            open_ended = True
        elif parameter.kind == parameter.POSITIONAL_ONLY and parameter.default is parameter.empty:
            required.append(parameter.name)
    if open_ended:
        declared = getattr(cls, 'OPTIONS', None)
        if isinstance(declared, (tuple, list, set, frozenset)) and all(isinstance(name, str) for name in declared):
            names.update(declared)
            open_ended = False
    return names, required, open_ended


def holds(value, predicate):
    """True if ``predicate`` is true of ``value`` or of anything in it, through dicts, lists and tuples."""
    if predicate(value):
        return True
    if isinstance(value, dict):
        return any(holds(item, predicate) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds(item, predicate) for item in value)
    return False


def contains_failure(value):
    """True if ``value`` is, or (in a dict, list or tuple) holds, a node that could not be built."""
    return holds(value, lambda item: item is FAILED)


def _qualified_name(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return f'{cls.__module__}.{cls.__qualname__}'


def _describe(value):
    if type(value) in (str, int, float, bool, type(None), dict, list, tuple):
        return f'{type(value).__name__} {value!r}'
    return f'an instance of {_qualified_name(value)}'
