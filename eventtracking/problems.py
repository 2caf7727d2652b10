"""Configuration problems, each found at a setting path: what the system checks report.

A backend or processor can say what is wrong with its own options: a
classmethod ``check_options(options, path)`` that returns a list of
:class:`Problem` (empty when the options are fine), each with the path of the
value it is about, built with :func:`item_path` from ``path``, the setting path
of the ``OPTIONS`` dict. The settings-tree builder of the Django system checks
(:mod:`eventtracking.django.settings_tree`) asks every class that has one, and
constructs it only when no error was found. See
:meth:`eventtracking.processors.regex_filter.RegexFilter.check_options`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One configuration problem, found at ``path`` in the settings, under the system check id ``check_id``."""

    check_id: str
    path: str
    message: str
    hint: str = None

    @property
    def is_warning(self):
        """True for problems that do not stop the tree from being built (``W`` ids)."""
        return '.W' in self.check_id

    def __str__(self):
        return f'{self.path}: {self.message}'


def item_path(path, key):
    """The path of ``key`` inside the node at ``path``, written as Python subscripts."""
    return f'{path}[{key!r}]'
