"""A missing extra gives the same ImportError everywhere: the module, the library, the pip command."""

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from eventtracking._extras import install_command, missing_extra


def test_missing_extra_names_the_module_the_library_and_the_command():
    try:
        import no_such_library_for_eventtracking  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError as exc:
        error = missing_extra('mongo', 'eventtracking.backends.mongodb', exc)
    assert isinstance(error, ImportError)
    assert error.name == 'no_such_library_for_eventtracking'
    assert str(error) == (
        "eventtracking.backends.mongodb needs 'no_such_library_for_eventtracking', which is not installed: "
        "pip install '<eventtracking checkout or wheel>[mongo]' (eventtracking is not on PyPI) "
        "(No module named 'no_such_library_for_eventtracking')"
    )


@pytest.mark.parametrize('module, library, extra, imported_first', [
    ('eventtracking.django', 'django', 'django', ()),
    ('eventtracking.backends.mongodb', 'pymongo', 'mongo', ()),
    ('eventtracking.backends.event_bus', 'openedx_events', 'eventbus', ()),
    ('eventtracking.handlers', 'openedx_events', 'eventbus', ()),
    ('eventtracking.backends.async_routing', 'celery', 'celery', ()),
    ('eventtracking.celery', 'celery', 'celery', ('eventtracking.tracker',)),
    # the registry's extra is needed only for event types: the tracker and the test helpers import without it
    ('eventtracking.registry', 'jsonschema_rs', 'schema', ('eventtracking.tracker', 'eventtracking.testing')),
])
def test_every_extra_is_named_the_same_way(module, library, extra, imported_first):
    program = textwrap.dedent(f"""
        import sys
        sys.modules[{library!r}] = None
        for name in {imported_first!r}:
            __import__(name)
        try:
            import {module}
        except ImportError as exc:
            print(exc)
            print(type(exc.__cause__).__name__)
    """)
    result = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, check=True, timeout=60)
    message, cause = result.stdout.strip().splitlines()
    assert message.startswith(
        f"{module} needs {library!r}, which is not installed: {install_command(extra)} ("), message
    assert cause in ('ImportError', 'ModuleNotFoundError')


def test_no_message_or_docstring_says_to_install_from_pypi():
    """eventtracking is not on PyPI: every hint names the checkout or wheel with the extra (README, Installing)."""
    package = pathlib.Path(__file__).resolve().parent.parent / 'eventtracking'
    pypi_spelling = re.compile(r"""pip install ['"]?eventtracking\[|^\W*['"]eventtracking\[""")
    found = [f'{path.relative_to(package)}:{number}' for path in sorted(package.rglob('*.py'))
             for number, line in enumerate(path.read_text().splitlines(), 1) if pypi_spelling.search(line)]
    assert found == []


def test_the_install_command_names_the_checkout_or_wheel_and_the_extra():
    assert install_command('mongo') == "pip install '<eventtracking checkout or wheel>[mongo]' (eventtracking is not on PyPI)"
