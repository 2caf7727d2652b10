"""A processor that lets events through, or stops them, by matching their names against regular expressions."""

import re
from logging import getLogger

from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.problems import Problem, item_path
from eventtracking.processors import asks_accepts
from eventtracking.processors.exceptions import EventEmissionExit

logger = getLogger(__name__)

ALLOWLIST = 'allowlist'
BLOCKLIST = 'blocklist'
FILTER_TYPES = (ALLOWLIST, BLOCKLIST)

E_REGEX = 'eventtracking.E007'
"""Check id of ``regular_expressions`` that is not a list, or an entry that is not a string or does not compile."""

E_FILTER_TYPE = 'eventtracking.E008'
"""Check id of a ``filter_type`` other than ``'allowlist'`` or ``'blocklist'``."""

REMEMBERED_NAMES = 4096
"""How many distinct event names a RegexFilter remembers the verdict of (a site has a few hundred)."""

REMEMBERED_NAME_LENGTH = 200
"""The longest name remembered: longer ones (request paths as names, say) are matched every time."""


class RegexFilter:
    """Filter events by name with regular expressions matched at the start of the name (``re.match``).

    With ``filter_type='allowlist'`` only events whose name matches one of
    ``regular_expressions`` go on; with ``'blocklist'`` those are stopped and
    every other goes on. An unknown filter type, expressions that are not a
    list of strings, or an expression that does not compile raise
    :class:`~eventtracking.exceptions.ImproperlyConfigured` here, at construction
    (and the system checks report each, with its setting path: :meth:`check_options`).

    Whether a name matches is worked out once per name and remembered, for up
    to :data:`REMEMBERED_NAMES` distinct names (beyond that, names are matched
    every time): a site emits a few hundred distinct names, each many times.
    """

    mutates_events = False

    def __init__(self, filter_type=ALLOWLIST, regular_expressions=None):
        problems = self.check_options({'filter_type': filter_type, 'regular_expressions': regular_expressions},
                                      'RegexFilter options')
        if problems:
            raise ImproperlyConfigured('; '.join(map(str, problems)))
        self.filter_type = filter_type
        expressions = list(regular_expressions or ())
        self.regular_expressions = frozenset(expressions)
        self.compiled_expressions = [re.compile(expression) for expression in expressions]
        self._patterns = _compiled(expressions)
        self._matches = {}

    @classmethod
    def check_options(cls, options, path):
        """The problems of ``options`` (the keyword arguments, as given in the ``OPTIONS`` at setting ``path``).

        One :class:`~eventtracking.problems.Problem` per bad value, at its own
        path: a ``filter_type`` other than allowlist/blocklist (check
        :data:`E_FILTER_TYPE`), ``regular_expressions`` that is not a list, and
        each entry that is not a string or does not compile (:data:`E_REGEX`).
        """
        problems = []
        filter_type = options.get('filter_type', ALLOWLIST)
        if filter_type not in FILTER_TYPES:
            allowed = ' or '.join(repr(name) for name in FILTER_TYPES)
            problems.append(Problem(E_FILTER_TYPE, item_path(path, 'filter_type'),
                                    f'{filter_type!r} is not a RegexFilter filter type: use {allowed}'))
        expressions = options.get('regular_expressions')
        expressions_path = item_path(path, 'regular_expressions')
        if expressions is None:
            return problems
        if not isinstance(expressions, (list, tuple, set, frozenset)):
            problems.append(Problem(E_REGEX, expressions_path, 'must be a list of regular expressions, not '
                                    f'{type(expressions).__name__} {expressions!r}'))
            return problems
        for index, expression in enumerate(expressions):
            if not isinstance(expression, str):
                problems.append(Problem(E_REGEX, item_path(expressions_path, index), f'{expression!r} is not a string'))
                continue
            try:
                re.compile(expression)
            except re.error as exc:
                problems.append(Problem(E_REGEX, item_path(expressions_path, index),
                                        f'{expression!r} is not a valid regular expression: {exc}'))
        return problems

    @asks_accepts
    def __call__(self, event):
        if self.accepts(event):
            return event
        raise EventEmissionExit()

    def accepts(self, event):
        """Whether ``event`` goes on: its name matches an allowlist, or matches no blocklist expression."""
        name = event['name']
        matched = self._matches.get(name)
        if matched is None:
            matched = self._match(name)
        return matched == (self.filter_type == ALLOWLIST)

    def _match(self, name):
        """Whether ``name`` matches an expression; remembered for the first :data:`REMEMBERED_NAMES` names."""
        matched = any(pattern.match(name) for pattern in self._patterns)
        if (len(self._matches) < REMEMBERED_NAMES and type(name) is str  # pylint: disable=unidiomatic-typecheck
                and len(name) <= REMEMBERED_NAME_LENGTH):
            self._matches[name] = matched
        return matched

    def __repr__(self):
        return f'RegexFilter(filter_type={self.filter_type!r}, regular_expressions={sorted(self.regular_expressions)!r})'


_BACKREFERENCE = re.compile(r'\\\d|\(\?P=')


def _compiled(expressions):
    """The patterns to try: one alternation of them all where that means the same, else each one."""
    if len(expressions) > 1 and not any(_BACKREFERENCE.search(expression) for expression in expressions):
        try:
            return (re.compile('|'.join(f'(?:{expression})' for expression in expressions)),)
        except re.error:
            pass
    return tuple(re.compile(expression) for expression in expressions)
