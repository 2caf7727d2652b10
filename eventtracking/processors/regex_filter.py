"""A processor that lets events through, or stops them, by matching their names against regular expressions."""

import re
from logging import getLogger

from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.processors import asks_accepts
from eventtracking.processors.exceptions import EventEmissionExit

logger = getLogger(__name__)

ALLOWLIST = 'allowlist'
BLOCKLIST = 'blocklist'
FILTER_TYPES = (ALLOWLIST, BLOCKLIST)

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
    :class:`~eventtracking.exceptions.ImproperlyConfigured` here, at construction.

    Whether a name matches is worked out once per name and remembered, for up
    to :data:`REMEMBERED_NAMES` distinct names (beyond that, names are matched
    every time): a site emits a few hundred distinct names, each many times.
    """

    mutates_events = False

    def __init__(self, filter_type=ALLOWLIST, regular_expressions=None):
        if filter_type not in FILTER_TYPES:
            raise ImproperlyConfigured(
                f'Unsupported filter type {filter_type!r} for RegexFilter: use {ALLOWLIST!r} or {BLOCKLIST!r}.'
            )
        self.filter_type = filter_type
        expressions = _validated_expressions(regular_expressions)
        self.regular_expressions = frozenset(expressions)
        self.compiled_expressions = [re.compile(expression) for expression in expressions]
        self._patterns = _compiled(expressions)
        self._matches = {}

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


def _validated_expressions(expressions):
    if expressions is None:
        return []
    if isinstance(expressions, (str, bytes)) or not isinstance(expressions, (list, tuple, set, frozenset)):
        raise ImproperlyConfigured(
            f'RegexFilter regular_expressions must be a list of strings, not {type(expressions).__name__}: '
            f'{expressions!r}'
        )
    expressions = list(expressions)
    invalid = []
    for expression in expressions:
        if not isinstance(expression, str):
            invalid.append(f'{expression!r} (not a string)')
            continue
        try:
            re.compile(expression)
        except re.error as exc:
            invalid.append(f'{expression!r} ({exc})')
    if invalid:
        raise ImproperlyConfigured('Invalid regular expressions for RegexFilter: ' + '; '.join(invalid))
    return expressions


_BACKREFERENCE = re.compile(r'\\\d|\(\?P=')


def _compiled(expressions):
    """The patterns to try: one alternation of them all where that means the same, else each one."""
    if len(expressions) > 1 and not any(_BACKREFERENCE.search(expression) for expression in expressions):
        try:
            return (re.compile('|'.join(f'(?:{expression})' for expression in expressions)),)
        except re.error:
            pass
    return tuple(re.compile(expression) for expression in expressions)
