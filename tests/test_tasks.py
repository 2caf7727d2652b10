"""eventtracking.tasks.find_backend: how the worker finds an AsyncRoutingBackend by name or dotted path."""

import pytest

from eventtracking import tasks
from eventtracking.backends.routing import RoutingBackend
from eventtracking.tracker import Tracker


class Sink:
    def send(self, event):
        pass


def tree():
    deep, dotted = Sink(), Sink()
    tracker = Tracker(backends={
        'analytics': RoutingBackend(backends={'xapi': RoutingBackend(backends={'deep': deep})}),
        'analytics.xapi.deep': dotted,
    })
    return tracker, deep, dotted


def test_a_dotted_path_leads_down_the_tree():
    tracker, deep, _ = tree()
    assert tasks.find_backend(tracker, 'analytics.xapi') is tracker.backends['analytics'].backends['xapi']
    del tracker.backends['analytics.xapi.deep']
    assert tasks.find_backend(tracker, 'analytics.xapi.deep') is deep


def test_a_top_level_name_wins_over_a_path():
    tracker, _, dotted = tree()
    assert tasks.find_backend(tracker, 'analytics.xapi.deep') is dotted


@pytest.mark.parametrize('name', ['missing', 'analytics.missing', 'analytics.xapi.deep.deeper', ''])
def test_a_name_that_leads_nowhere_is_a_key_error(name):
    tracker, _, _ = tree()
    del tracker.backends['analytics.xapi.deep']
    with pytest.raises(KeyError):
        tasks.find_backend(tracker, name)
