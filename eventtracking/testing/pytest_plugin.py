"""The pytest plugin of eventtracking: the ``captured_events`` fixture.

Installed with the package and loaded by pytest through the ``pytest11``
entry point (disable it with ``-p no:eventtracking``). Loading it defines one
fixture and imports nothing else: the capture machinery is imported, and
installed, only by a test that asks for the fixture::

    def test_enrollment_event(captured_events):
        enroll(user, course)
        captured_events.wait_for_events({'name': 'edx.course.enrollment.activated'})
"""

import pytest


@pytest.fixture
def captured_events():
    """Capture every event any tracker emits during the test; an :class:`eventtracking.testing.EventCapture`.

    Needs no configuration: the default tracker, other trackers, trackers
    built during the test and events emitted from other threads are all
    captured, whichever way they are routed. The events stop at the capture
    (no tracking-log line, no spool file, no Celery task) unless the test
    calls ``captured_events.passthrough()``. Nothing is patched; everything
    is as it was after the test.
    """
    from eventtracking.testing.capture import EventCapture  # pylint: disable=import-outside-toplevel

    with EventCapture() as capture:
        yield capture
