"""eventtracking.W012: a batching AsyncRoutingBackend that keeps its events in memory only."""

from eventtracking.django.checks import check_event_tracking_settings
from tests.django.test_async_routing_django import tree


def w012(settings, **options):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = tree(**options)
    settings.EVENT_TRACKING_PROCESSORS = []
    return [message for message in check_event_tracking_settings() if message.id == 'eventtracking.W012']


def test_w012_batching_without_a_spool_dir_warns_that_a_killed_process_loses_the_queue(settings, tmp_path):
    [warning] = w012(settings, batch_size=50)
    assert warning.msg.startswith("EVENT_TRACKING_BACKENDS['analytics']['OPTIONS']['backends']['xapi']")
    assert 'batch_size is 50 and there is no spool_dir' in warning.msg and 'killed' in warning.msg
    assert w012(settings, batch_size=50, spool_dir=str(tmp_path)) == []
    assert w012(settings) == [], 'the default mode publishes from the caller: nothing waits in memory'
