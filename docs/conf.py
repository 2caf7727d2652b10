"""Sphinx configuration for the eventtracking documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath('..'))

import eventtracking  # noqa: E402  pylint: disable=wrong-import-position

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
]
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
intersphinx_mapping = {}
exclude_patterns = ['_build']
html_theme = 'alabaster'
nitpicky = False
