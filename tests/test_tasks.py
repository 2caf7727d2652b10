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


class Collector:
    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event['data']['seq'])


@pytest.fixture
def dedup_tree(settings, register_default_tracker):
    from eventtracking.backends.async_routing import AsyncRoutingBackend  # pylint: disable=import-outside-toplevel

    settings.CACHES = {
        'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache', 'LOCATION': 'tasks-default'},
        'dedup': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache', 'LOCATION': 'tasks-dedup'},
    }
    settings.EVENT_TRACKING_DEDUP_CACHE = 'dedup'
    from django.core.cache import caches  # pylint: disable=import-outside-toplevel
    caches['dedup'].clear()  # a local-memory cache outlives the test that filled it
    sink = Collector()
    backend = AsyncRoutingBackend(backend_name='dedup', backends={'sink': sink})
    register_default_tracker(Tracker(backends={'dedup': backend}))
    return backend, sink


def batch(*numbers):
    return [{'name': 'edx.test.dedup', 'data': {'seq': number}} for number in numbers]


def test_a_batch_id_seen_before_is_skipped_and_counted_and_a_new_one_is_delivered(dedup_tree):
    # pylint: disable=redefined-outer-name
    backend, sink = dedup_tree
    tasks.send_events.apply(args=('dedup', batch(1, 2)), kwargs={'batch_id': 'file:0'})
    tasks.send_events.apply(args=('dedup', batch(1, 2)), kwargs={'batch_id': 'file:0'})
    tasks.send_events.apply(args=('dedup', batch(3)), kwargs={'batch_id': 'file:90'})
    tasks.send_events.apply(args=('dedup', batch(4)))  # no id: never skipped
    tasks.send_events.apply(args=('dedup', batch(4)))
    assert sink.events == [1, 2, 3, 4, 4]
    assert backend.stats == {'duplicate': 2}


def test_without_a_dedup_cache_a_batch_id_changes_nothing(dedup_tree, settings):
    # pylint: disable=redefined-outer-name
    settings.EVENT_TRACKING_DEDUP_CACHE = None
    _, sink = dedup_tree
    tasks.send_events.apply(args=('dedup', batch(1)), kwargs={'batch_id': 'file:0'})
    tasks.send_events.apply(args=('dedup', batch(1)), kwargs={'batch_id': 'file:0'})
    assert sink.events == [1, 1]


def test_a_retry_for_the_nested_backends_that_failed_is_not_taken_for_a_duplicate(dedup_tree):
    # pylint: disable=redefined-outer-name
    _, sink = dedup_tree
    tasks.send_events.apply(args=('dedup', batch(1)), kwargs={'batch_id': 'file:0'})
    tasks.send_events.apply(args=('dedup', batch(1)), kwargs={'batch_id': 'file:0', 'nested_backends': ['sink']})
    assert sink.events == [1, 1]


class Failing:
    def send(self, event):
        raise RuntimeError('down')


@pytest.mark.parametrize('task, args', [
    (tasks.send_event, ('analytics', batch(1)[0])),
    (tasks.send_events, ('analytics', batch(1, 2))),
])
def test_what_a_nested_backend_lost_is_exported_under_its_own_path(task, args, register_default_tracker, monkeypatch):
    """As RoutingBackend labels a child's failures with the child's path, so does the worker when it gives up."""
    from prometheus_client import REGISTRY  # pylint: disable=import-outside-toplevel
    from eventtracking import metrics  # pylint: disable=import-outside-toplevel
    from eventtracking.backends.async_routing import AsyncRoutingBackend  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(tasks, 'MAX_RETRIES', 0)  # give up on the first failure
    backend = AsyncRoutingBackend(backend_name='analytics', backends={'broken': Failing(), 'sink': Collector()})
    register_default_tracker(Tracker(backends={'analytics': backend}))

    def exported(path):
        return REGISTRY.get_sample_value('eventtracking_events_dropped_total',
                                         {'reason': 'backend_error', 'backend': path}) or 0

    metrics.enable('prometheus')
    try:
        before = exported('analytics.broken'), exported('analytics')
        task.apply(args=args)
        after = exported('analytics.broken'), exported('analytics')
    finally:
        metrics.enable(None)
    lost = len(args[1]) if isinstance(args[1], list) else 1
    assert (after[0] - before[0], after[1] - before[1]) == (lost, 0)
    assert backend.stats == {'backend_error': lost}


class FailsOnceOn:
    """Collects ``seq``s; raises the first time it is sent the event ``seq``."""

    def __init__(self, seq):
        self.seq, self.events = seq, []

    def send(self, event):
        if event['data']['seq'] == self.seq:
            self.seq = None
            raise RuntimeError('down for a moment')
        self.events.append(event['data']['seq'])


def test_nested_backends_that_failed_on_different_events_each_get_only_their_own_again(
        register_default_tracker, monkeypatch):
    from eventtracking.backends.async_routing import AsyncRoutingBackend  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(tasks, 'COUNTDOWN', 0)
    first, second = FailsOnceOn(1), FailsOnceOn(2)
    backend = AsyncRoutingBackend(backend_name='analytics', backends={'first': first, 'second': second})
    register_default_tracker(Tracker(backends={'analytics': backend}))

    tasks.send_events.apply(args=('analytics', batch(1, 2, 3)), kwargs={'batch_id': 'file:0'})

    assert (sorted(first.events), sorted(second.events)) == ([1, 2, 3], [1, 2, 3]), 'each event once in each'
    assert backend.stats == {}
