"""The event type catalog: render() in three formats, the JSON round trip, the management command, the module
command, and the Sphinx directive in a real Sphinx build."""

import datetime
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command

from eventtracking import catalog
from eventtracking.registry import EventType, Field, register

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures('isolated_event_types')

EXAMPLE_MODULE = textwrap.dedent('''
    """Event types of a small app."""
    import datetime
    from eventtracking.registry import EventType, Field, register

    register(EventType(
        'shop.order.placed', 'A customer placed an order | with *stars* and_underscores_.',
        fields={
            'order_id': Field(int, 'The order.'),
            'total': Field(float, 'The amount, in the currency.'),
            'currency': Field(str, 'ISO 4217 code.', choices=['EUR', 'USD']),
            'placed_at': Field(datetime.datetime, 'When.'),
            'coupon': Field(str, 'The coupon code used.', required=False),
        },
        example={'order_id': 7, 'total': 12.5, 'currency': 'EUR',
                 'placed_at': datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.timezone.utc)},
        version=3, owner='shop team',
    ))
    register(EventType('shop.cart.emptied', 'A cart was emptied.', schema={'type': 'object'}))
''')


@pytest.fixture
def shop_types(tmp_path, monkeypatch):
    """The types of EXAMPLE_MODULE (``shop_events``), imported and so registered."""
    (tmp_path / 'shop_events.py').write_text(EXAMPLE_MODULE, encoding='utf-8')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'shop_events', raising=False)
    __import__('shop_events')
    yield tmp_path
    sys.modules.pop('shop_events', None)


def shop_only(text):
    """The shop types' part of a JSON catalog (other tests' types may be registered in this process)."""
    parsed = json.loads(text)
    parsed['event_types'] = [entry for entry in parsed['event_types'] if entry['name'].startswith('shop.')]
    return parsed


def test_json_is_versioned_sorted_and_holds_each_definition(shop_types):  # pylint: disable=unused-argument
    parsed = shop_only(catalog.render('json'))
    assert parsed['catalog_version'] == catalog.CATALOG_VERSION == 1
    assert [entry['name'] for entry in parsed['event_types']] == ['shop.cart.emptied', 'shop.order.placed']
    placed = parsed['event_types'][1]
    assert sorted(placed) == ['description', 'example', 'name', 'owner', 'schema', 'version']
    assert placed['version'] == 3 and placed['owner'] == 'shop team'
    assert placed['example']['placed_at'] == '2024-05-01T09:30:00+00:00'
    assert placed['schema']['properties']['currency']['enum'] == ['EUR', 'USD']
    assert placed['schema']['required'] == ['order_id', 'total', 'currency', 'placed_at']


def test_json_round_trips_through_load(shop_types):  # pylint: disable=unused-argument
    text = catalog.render('json')
    loaded = catalog.load(text)
    assert catalog.render('json', loaded) == text
    again = {event_type.name: event_type for event_type in loaded}['shop.order.placed']
    assert again.validate({'order_id': 1, 'total': 2.0, 'currency': 'GBP', 'placed_at': 'x'}) == [
        "data.currency: not one of the allowed values ['EUR', 'USD']", 'data.placed_at: not a valid date-time',
    ]


def test_load_refuses_another_catalog_version():
    with pytest.raises(ValueError, match='catalog_version 2'):
        catalog.load(json.dumps({'catalog_version': 2, 'event_types': []}))


def test_markdown_shows_name_description_version_owner_fields_schema_and_example(shop_types):  # pylint: disable=unused-argument
    types = [event_type for event_type in catalog.registered_event_types() if event_type.name.startswith('shop.')]
    text = catalog.render('markdown', types)
    assert text.startswith('# Event catalog\n')
    assert '## `shop.order.placed`' in text
    assert '- Version: 3' in text and '- Owner: shop team' in text
    assert '| `currency` | string | yes | ISO 4217 code. One of: "EUR", "USD". |' in text
    assert '| `coupon` | string | no | The coupon code used. |' in text
    assert '| `placed_at` | string (date-time) | yes | When. |' in text
    assert 'A customer placed an order \\| with' not in text  # the description is prose, not a table cell
    assert '"$schema": "https://json-schema.org/draft/2020-12/schema"' in text
    assert '"placed_at": "2024-05-01T09:30:00+00:00"' in text
    assert text.index('shop.cart.emptied') < text.index('shop.order.placed')


def test_rst_escapes_markup_in_descriptions(shop_types):  # pylint: disable=unused-argument
    text = catalog.render('rst', [t for t in catalog.registered_event_types() if t.name == 'shop.order.placed'])
    assert text.startswith('Event catalog\n=============\n')
    assert 'shop.order.placed\n-----------------\n' in text
    assert 'A customer placed an order \\| with \\*stars\\* and\\_underscores\\_.' in text
    assert ':Version: 3' in text and '.. code-block:: json' in text


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="'html'"):
        catalog.render('html', [])


def test_an_empty_catalog_says_so():
    assert 'No event types are registered.' in catalog.render('markdown', [])
    assert json.loads(catalog.render('json', [])) == {'catalog_version': 1, 'event_types': []}


@pytest.mark.parametrize('fmt', catalog.FORMATS)
def test_the_management_command_prints_each_format(fmt, shop_types):  # pylint: disable=unused-argument
    out = io.StringIO()
    call_command('eventtracking_catalog', format=fmt, stdout=out)
    assert out.getvalue() == catalog.render(fmt)
    assert 'shop.order.placed' in out.getvalue()
    if fmt == 'json':
        assert catalog.render('json', catalog.load(out.getvalue())) == out.getvalue()


def test_the_management_command_imports_modules_and_writes_a_file(tmp_path, monkeypatch):
    (tmp_path / 'more_events.py').write_text(
        'from eventtracking.registry import EventType, register\n'
        "register(EventType('more.thing', 'More.'))\n", encoding='utf-8')
    monkeypatch.syspath_prepend(str(tmp_path))
    output = tmp_path / 'catalog.json'
    call_command('eventtracking_catalog', format='json', module=['more_events'], output=str(output))
    assert 'more.thing' in [entry['name'] for entry in json.loads(output.read_text(encoding='utf-8'))['event_types']]
    sys.modules.pop('more_events', None)


def test_python_m_eventtracking_catalog_renders_a_modules_types(shop_types):
    env = dict(os.environ, PYTHONPATH=str(shop_types))
    env.pop('DJANGO_SETTINGS_MODULE', None)
    result = subprocess.run(
        [sys.executable, '-m', 'eventtracking.catalog', '--module', 'shop_events', '--format', 'json'],
        cwd=shop_types, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    parsed = json.loads(result.stdout)
    assert [entry['name'] for entry in parsed['event_types']] == ['shop.cart.emptied', 'shop.order.placed']
    assert result.stdout == catalog.render('json', [t for t in catalog.registered_event_types()
                                                    if t.name.startswith('shop.')])


def test_the_sphinx_directive_renders_the_catalog_in_a_real_build(shop_types):
    docs = shop_types / 'docs'
    docs.mkdir()
    (docs / 'conf.py').write_text(textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(shop_types)!r})
        project = 'shop'
        extensions = ['eventtracking.sphinxext']
        nitpicky = True
    '''), encoding='utf-8')
    (docs / 'index.rst').write_text(textwrap.dedent('''
        Shop
        ====

        Events
        ------

        .. eventtracking-catalog::
           :module: shop_events

        Orders only
        -----------

        .. eventtracking-catalog::
           :module: shop_events
           :prefix: shop.order.
           :heading: ~

        The end
        -------
    '''), encoding='utf-8')
    env = dict(os.environ)
    env.pop('DJANGO_SETTINGS_MODULE', None)
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-n', '-W', '--keep-going', '-q', '-b', 'html', str(docs),
         str(shop_types / 'html')],
        cwd=shop_types, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    html = (shop_types / 'html' / 'index.html').read_text(encoding='utf-8')
    assert html.count('shop.order.placed<a class="headerlink"') == 2
    assert html.count('shop.cart.emptied<a class="headerlink"') == 1
    assert '<h3>shop.order.placed' in html and '<h2>The end' in html
    assert 'ISO 4217 code. One of: “EUR”, “USD”.' in html or 'ISO 4217 code. One of: "EUR", "USD".' in html
    assert 'A customer placed an order | with <em>' not in html and 'with *stars* and_underscores_.' in html
    assert 'shop team' in html and '2024-05-01T09:30:00+00:00' in html


def test_the_sphinx_directive_fails_the_build_for_a_module_that_cannot_be_imported(tmp_path):
    docs = tmp_path / 'docs'
    docs.mkdir()
    (docs / 'conf.py').write_text("extensions = ['eventtracking.sphinxext']\n", encoding='utf-8')
    (docs / 'index.rst').write_text('Shop\n====\n\n.. eventtracking-catalog::\n   :module: no_such_events\n',
                                    encoding='utf-8')
    env = dict(os.environ)
    env.pop('DJANGO_SETTINGS_MODULE', None)
    result = subprocess.run([sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html', str(docs), str(tmp_path / 'h')],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode != 0
    assert "cannot import 'no_such_events'" in result.stderr


def test_types_registered_in_the_test_process_render_with_datetimes(isolated_event_types):  # pylint: disable=unused-argument
    event_type = register(EventType('tests.catalog.dated', 'Dated.', fields={'on': Field(datetime.date)},
                                    example={'on': datetime.date(2024, 1, 2)}))
    assert json.loads(catalog.render('json', [event_type]))['event_types'][0]['example'] == {'on': '2024-01-02'}
