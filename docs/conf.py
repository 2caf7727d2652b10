"""Sphinx configuration for the eventtracking documentation.

Django is set up here (with ``doc_settings``) so that autodoc can import
``eventtracking.django`` and the doctest examples can use Django settings.
"""

import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(DOCS))
sys.path.insert(0, DOCS)
os.environ['DJANGO_SETTINGS_MODULE'] = 'doc_settings'

import django  # noqa: E402  pylint: disable=wrong-import-position

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
nitpicky = False

# Every example runs from a clean slate: no default tracker left over from another page.
doctest_global_setup = '''
from eventtracking import tracker as _tracker_module
from doc_helpers import built, problems, tree
_tracker_module.TRACKERS.clear()
'''
