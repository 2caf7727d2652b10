"""Sphinx configuration for the eventtracking documentation.

Django is set up here (with ``doc_settings``) so that autodoc can import
``eventtracking.django`` and the doctest examples can use Django settings.
"""

import importlib
import inspect
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(DOCS))
sys.path.insert(0, DOCS)
os.environ['DJANGO_SETTINGS_MODULE'] = 'doc_settings'

import django  # noqa: E402  pylint: disable=wrong-import-position

from sphinx.util.nodes import make_refnode  # noqa: E402  pylint: disable=wrong-import-position

import eventtracking  # noqa: E402  pylint: disable=wrong-import-position

django.setup()

project = 'eventtracking'
author = 'The eventtracking authors'
copyright = '2026, The eventtracking authors'  # pylint: disable=redefined-builtin
release = eventtracking.__version__
version = release

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.doctest',
    'sphinx.ext.intersphinx',
    'sphinx.ext.viewcode',
    'eventtracking.sphinxext',
]
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
# A method or attribute without a docstring of its own is left out, rather than shown with its base
# class's (Celery's Task attributes, whose docstrings use roles only Celery's docs define).
autodoc_inherit_docstrings = False
intersphinx_mapping = {}
exclude_patterns = ['_build']
html_theme = 'alabaster'
html_theme_options = {'page_width': '1100px'}
html_static_path = ['_static']
html_css_files = ['wrap.css']

# Every cross-reference must resolve (``make docs`` runs Sphinx with -n -W). The docs build offline, without
# intersphinx, so these external packages' objects have no target here; references to them render as code.
nitpicky = True
EXTERNAL_PACKAGES = (
    # The Python standard library modules the docs name.
    'logging', 'contextvars', 'copy', 're', 'datetime', 'json', 'threading', 'asyncio', 'collections', 'typing',
    # The frameworks and clients the integrations and backends build on, documented on their own sites.
    'django', 'celery', 'kombu', 'pymongo', 'segment', 'openedx_events', 'edx_toggles', 'sphinx', 'docutils',
)
nitpick_ignore_regex = [(r'py:.*', rf'(?:{name})(?:\..*)?') for name in EXTERNAL_PACKAGES]

# Every example runs from a clean slate: no default tracker left over from another page.
doctest_global_setup = '''
from eventtracking import tracker as _tracker_module
from doc_helpers import built, problems, tree
_tracker_module.TRACKERS.clear()
'''


def resolve_reexported(app, env, node, contnode):
    """Resolve a Python reference to a name documented under another path than the one written.

    ``eventtracking.testing.EventCapture`` and ``eventtracking.django.DjangoTracker``
    are re-exports, and a docstring may name a class its module imports
    (``InMemoryBackend`` in ``eventtracking.testing.testcases``): each is documented
    where it is defined. The written name is looked up as Python would (in the
    current class, the current module, then as a full path), and the reference
    goes to where the object found is documented. A class attribute without a
    documentation entry of its own goes to its class.
    """
    if node.get('refdomain') != 'py':
        return None
    domain = env.get_domain('py')
    target, module, cls = node['reftarget'].lstrip('.~'), node.get('py:module'), node.get('py:class')
    candidates = [f'{module}.{cls}.{target}' if module and cls else None, f'{module}.{target}' if module else None,
                  target]
    for candidate in filter(None, candidates):
        found = _import_path(candidate)
        if found is _MISSING:
            continue
        owner, value = found
        canonical = candidate
        if inspect.isclass(value) or inspect.isfunction(value):
            canonical = f'{value.__module__}.{value.__qualname__}'
        if canonical not in domain.objects and inspect.isclass(owner):
            canonical = f'{owner.__module__}.{owner.__qualname__}'
        if canonical in domain.objects:
            entry = domain.objects[canonical]
            return make_refnode(app.builder, node['refdoc'], entry.docname, entry.node_id, contnode, canonical)
    return None


_MISSING = object()


def _import_path(path):
    """``(owner, value)`` for the object at the dotted ``path`` (a module, then attributes), or ``_MISSING``."""
    parts = path.split('.')
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module('.'.join(parts[:split]))
        except ImportError:
            continue
        owner = None
        for name in parts[split:]:
            owner, value = value, getattr(value, name, _MISSING)
            if value is _MISSING:
                return _MISSING
        return owner, value
    return _MISSING


def follow_imported(app, modname, attribute):  # pylint: disable=unused-argument
    """The module whose source shows ``modname.attribute``: where a class or function is defined, else ``modname``.

    Sphinx's viewcode follows any object with a ``__module__``, instances too:
    ``eventtracking.tracker.UNROUTED`` (an ``EventCounters``) would send it to
    ``eventtracking.stats`` under the wrong name, and the source page of
    ``eventtracking.stats`` would link to anchors that do not exist.
    """
    found = _import_path(f'{modname}.{attribute}')
    if found is _MISSING:
        return None
    value = found[1]
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismethod(value):
        return getattr(value, '__module__', None) or modname
    return modname if hasattr(value, '__module__') else None


def setup(app):
    """Connect the reference resolver and the viewcode fix above."""
    app.connect('missing-reference', resolve_reexported)
    app.connect('viewcode-follow-imported', follow_imported)
