"""eventtracking.testing imports without Django; EventTrackingTestCase says which extra it needs."""

import subprocess
import sys
import textwrap

import pytest

import eventtracking.testing


def run_without_django(code):
    """Run ``code`` in a new interpreter where ``import django`` fails, as if Django were not installed."""
    prelude = "import sys\nsys.modules['django'] = None\n"
    return subprocess.run([sys.executable, '-c', prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_helpers_work_without_django():
    result = run_without_django("""
        from eventtracking.testing import *
        from eventtracking.testing import EventCapture, InMemoryBackend, assert_event_matches, frozen_tracker_time
        from eventtracking.tracker import Tracker

        backend = InMemoryBackend()
        with EventCapture(passthrough=True) as captured, frozen_tracker_time():
            Tracker(backends={'mem': backend}).emit('edx.test', {'a': 1})
        assert_event_matches({'name': 'edx.test', 'data': {'a': 1}}, captured.get_event())
        assert_event_matches(captured.get_event(), backend.events[0], tolerate=[])
        print(sorted(name for name in sys.modules if name.startswith('django')))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['django']"


@pytest.mark.parametrize('statement', [
    'from eventtracking.testing import EventTrackingTestCase',
    'import eventtracking.testing.testcases',
])
def test_the_test_case_names_the_extra_to_install(statement):
    result = run_without_django(f"""
        try:
            {statement}
        except ImportError as exc:
            print(f'{{type(exc).__name__}}: {{exc}}')
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        'ImportError: EventTrackingTestCase needs Django, which is not installed: '
        'pip install "eventtracking[django]"')


def test_public_names():
    assert 'EventTrackingTestCase' in dir(eventtracking.testing)
    assert 'EventTrackingTestCase' not in eventtracking.testing.__all__
    for name in eventtracking.testing.__all__:
        assert getattr(eventtracking.testing, name) is not None
    with pytest.raises(AttributeError, match="module 'eventtracking.testing' has no attribute 'nope'"):
        eventtracking.testing.nope  # pylint: disable=pointless-statement
