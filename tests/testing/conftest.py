"""Fixtures for the tests of eventtracking.testing."""

import pytest

from eventtracking import tracker


@pytest.fixture
def no_default_tracker():
    """Run the test with no tracker registered under the default name."""
    tracker.TRACKERS.pop(tracker.DEFAULT_TRACKER_NAME, None)

