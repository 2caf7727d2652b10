"""A Sphinx extension: the ``eventtracking-catalog`` directive renders a project's event types in its docs.

Add ``'eventtracking.sphinxext'`` to ``extensions`` in ``conf.py``, then in a page:

.. code-block:: rst

    .. eventtracking-catalog::
       :module: myapp.tracking_events

Options:

``:module:``
    Import these modules (separated by spaces) and show only the types they
    define. Without it, every type registered when the page is built is shown.
``:prefix:``
    Show only the types whose name starts with this.
``:heading:``
    The character that underlines each type's section title (default ``^``):
    one the page does not use yet for a higher level, so that the types
    become sections of the section the directive is in.

The page is rebuilt when a listed module's file changes. A module that cannot
be imported, or a bad definition in it, fails the build with the error.
"""

import importlib

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from eventtracking import __version__
from eventtracking.catalog import rst_lines
from eventtracking.registry import registered_event_types


class EventTrackingCatalog(SphinxDirective):
    """``.. eventtracking-catalog::``: a section per event type (see the module documentation)."""

    has_content = False
    option_spec = {
        'module': directives.unchanged_required,
        'prefix': directives.unchanged,
        'heading': directives.single_char_or_unicode,
    }

    def run(self):
        modules = self.options.get('module', '').split()
        for name in modules:
            try:
                module = importlib.import_module(name)
            except Exception as exc:  # pylint: disable=broad-except
                raise self.error(f'eventtracking-catalog: cannot import {name!r}: {type(exc).__name__}: {exc}')
            if getattr(module, '__file__', None):
                self.env.note_dependency(module.__file__)
        prefix = self.options.get('prefix', '')
        event_types = [
            event_type for event_type in registered_event_types()
            if event_type.name.startswith(prefix) and (not modules or event_type.module in modules)
        ]
        lines = rst_lines(event_types, title=None, underline=self.options.get('heading', '^'))
        content = StringList(lines, source=f'<eventtracking-catalog of {self.env.docname}>')
        container = nodes.section()
        nested_parse_with_titles(self.state, content, container)
        return container.children


def setup(app):
    """Register the directive; safe for parallel reading and writing."""
    app.add_directive('eventtracking-catalog', EventTrackingCatalog)
    return {'version': __version__, 'parallel_read_safe': True, 'parallel_write_safe': True}
