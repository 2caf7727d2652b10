"""The catalog of event types: every registered type rendered as Markdown, reStructuredText or JSON.

For each type: its name, description, version, owner, a table of the fields
of its ``data``, its JSON Schema and its example. :func:`render` returns the
text; ``manage.py eventtracking_catalog``, the Sphinx directive of
:mod:`eventtracking.sphinxext` and the ``eventtracking catalog`` command
(also ``python -m eventtracking.catalog``) use it. Outside Django:

.. code-block:: console

    eventtracking catalog --module myapp.tracking_events --format json > catalog.json

The JSON form is the one to keep beside the tracking logs: a top-level
``catalog_version`` (:data:`CATALOG_VERSION`) and ``event_types``, a list of
each type's :meth:`~eventtracking.registry.EventType.definition` sorted by
name, keys sorted, so that the same types always give the same text. A type
accepted from web pages (``EventType(..., browser=True)``, see
:mod:`eventtracking.django.browser`) has ``"browser": true`` there, and
"Accepted from the browser: yes" in the Markdown and reStructuredText forms.
:func:`load` reads it back into event types, and rendering those gives the
same JSON again.
"""

import json
import runpy
import sys

from eventtracking.registry import EventType, registered_event_types

CATALOG_VERSION = 1
"""The version of the JSON form's layout; it changes only when a key changes meaning or goes away."""

FORMATS = ('markdown', 'rst', 'json')
"""The formats :func:`render` knows."""

TITLE = 'Event catalog'

BROWSER_MARK = 'Accepted from the browser: yes'
"""The line (a list item, a field) that marks a type accepted from web pages in the Markdown and rst forms."""


def render(format='markdown', event_types=None):  # pylint: disable=redefined-builtin
    """Return the catalog of ``event_types`` (default: every registered type, by name) in ``format``.

    ``format`` is ``'markdown'``, ``'rst'`` or ``'json'``; any other raises ``ValueError``.
    """
    event_types = registered_event_types() if event_types is None else sorted(event_types, key=lambda t: t.name)
    if format == 'json':
        return render_json(event_types)
    if format == 'markdown':
        return '\n'.join(markdown_lines(event_types)) + '\n'
    if format == 'rst':
        return '\n'.join(rst_lines(event_types)) + '\n'
    raise ValueError(f'Unknown catalog format {format!r}: use one of {", ".join(FORMATS)}')


def render_json(event_types):
    """The JSON form of the catalog (see the module documentation), ending with a newline."""
    catalog = {
        'catalog_version': CATALOG_VERSION,
        'event_types': [event_type.definition() for event_type in event_types],
    }
    return json.dumps(catalog, indent=2, sort_keys=True, ensure_ascii=False) + '\n'


def load(text):
    """Return the event types (not registered) of a catalog in its JSON form, as :func:`render_json` wrote it.

    ``ValueError`` for a catalog of another ``catalog_version``.
    """
    catalog = json.loads(text)
    if catalog.get('catalog_version') != CATALOG_VERSION:
        raise ValueError(f'Unknown catalog_version {catalog.get("catalog_version")!r}: this reads {CATALOG_VERSION}')
    return [
        EventType(entry['name'], entry['description'], schema=entry['schema'], example=entry['example'],
                  version=entry['version'], owner=entry['owner'], browser=entry.get('browser', False))
        for entry in catalog['event_types']
    ]


def field_rows(event_type):
    """The rows of the fields table: (name, type, 'yes'/'no', description with its choices), from the schema."""
    schema = event_type.json_schema()
    required = set(schema.get('required', ()))
    rows = []
    for name, field in (schema.get('properties') or {}).items():
        field = field if isinstance(field, dict) else {}
        kind = field.get('type', 'any')
        kind = ' or '.join(kind) if isinstance(kind, list) else str(kind)
        if 'format' in field:
            kind = f'{kind} ({field["format"]})'
        description = str(field.get('description', ''))
        if 'enum' in field:
            choices = ', '.join(json.dumps(choice) for choice in field['enum'])
            description = f'{description} One of: {choices}.'.strip()
        rows.append((name, kind, 'yes' if name in required else 'no', description))
    return rows


def _pretty(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def markdown_lines(event_types, title=TITLE):
    """The catalog as Markdown lines."""
    lines = [f'# {title}', '']
    if not event_types:
        lines.append('No event types are registered.')
    for event_type in event_types:
        lines += [f'## `{event_type.name}`', '', _one_line(event_type.description), '',
                  f'- Version: {event_type.version}']
        if event_type.owner:
            lines.append(f'- Owner: {_one_line(event_type.owner)}')
        if event_type.browser:
            lines.append(f'- {BROWSER_MARK}')
        lines.append('')
        rows = field_rows(event_type)
        if rows:
            lines += ['| Field | Type | Required | Description |', '| --- | --- | --- | --- |']
            lines += [f'| `{name}` | {kind} | {required} | {_markdown_cell(description)} |'
                      for name, kind, required, description in rows]
            lines.append('')
        lines += ['JSON Schema of `data`:', '', '```json', _pretty(event_type.json_schema()), '```', '']
        if event_type.example is not None:
            lines += ['Example `data`:', '', '```json', _pretty(event_type.definition()['example']), '```', '']
    return lines


def rst_lines(event_types, title=TITLE, underline='-'):
    """The catalog as reStructuredText lines: under ``title`` (``=``), a section per type underlined with ``underline``.

    With ``title=None`` there is no title: the sections go where the lines are put (the Sphinx directive does that).
    """
    lines = [title, '=' * len(title), ''] if title else []
    if not event_types:
        lines += ['No event types are registered.', '']
    for event_type in event_types:
        lines += [event_type.name, underline * len(event_type.name), '', _rst_text(event_type.description), '',
                  f':Version: {event_type.version}']
        if event_type.owner:
            lines.append(f':Owner: {_rst_text(event_type.owner)}')
        if event_type.browser:
            lines.append(f':{BROWSER_MARK}')
        lines.append('')
        rows = field_rows(event_type)
        if rows:
            lines += ['.. list-table:: Fields of ``data``', '   :header-rows: 1', '',
                      '   * - Field', '     - Type', '     - Required', '     - Description']
            for name, kind, required, description in rows:
                lines += [f'   * - ``{name}``', f'     - {kind}', f'     - {required}',
                          f'     - {_rst_text(description)}' if description else '     -']
            lines.append('')
        lines += ['JSON Schema of ``data``:', '', '.. code-block:: json', '']
        lines += _indented(_pretty(event_type.json_schema()))
        if event_type.example is not None:
            lines += ['Example ``data``:', '', '.. code-block:: json', '']
            lines += _indented(_pretty(event_type.definition()['example']))
    return lines


def _indented(text):
    return ['   ' + line if line else '' for line in text.splitlines()] + ['']


def _one_line(text):
    return ' '.join(str(text).split())


def _markdown_cell(text):
    return _one_line(text).replace('|', '\\|')


_RST_SPECIAL = str.maketrans({character: '\\' + character for character in '\\*`|_'})


def _rst_text(text):
    """``text`` on one line, with the characters reStructuredText would read as markup escaped."""
    return _one_line(text).translate(_RST_SPECIAL)


if __name__ == '__main__':
    # ``python -m eventtracking.catalog ARGS`` is ``python -m eventtracking catalog ARGS``: the command line is the
    # CLI's (a layer above this module, see docs/architecture.rst), so this module hands the process over to it
    # by running the package's __main__ rather than importing the CLI.
    sys.argv[1:1] = ['catalog']
    runpy.run_module('eventtracking', run_name='__main__', alter_sys=True)
