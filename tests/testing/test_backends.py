"""InMemoryBackend: keeps what it receives, a private copy of each event when it sits in a routing tree."""

import threading

import pytest

from eventtracking.backends.routing import RoutingBackend
from eventtracking.isolation import mutates_events
from eventtracking.testing import InMemoryBackend
from eventtracking.tracker import Tracker


class MutatingBackend:
    def send(self, event):
        event['data']['changed'] = True


def test_keeps_events_in_order():
    backend = InMemoryBackend()
    backend.send({'name': 'a'})
    backend.send({'name': 'b'})
    assert backend.events == [{'name': 'a'}, {'name': 'b'}]


def test_is_handed_a_private_copy_in_a_routing_tree():
    assert mutates_events(InMemoryBackend())
    kept = InMemoryBackend()
    data = {'a': 1}
    tracker = Tracker(backends={'kept': kept, 'zz_mutating': MutatingBackend()})
    tracker.emit('x', data)
    assert kept.events[0]['data'] == {'a': 1}
    data['a'] = 2
    assert kept.events[0]['data'] == {'a': 1}


def test_what_it_keeps_is_not_shared_with_a_sibling():
    first, second = InMemoryBackend(), InMemoryBackend()
    RoutingBackend(backends={'first': first, 'second': second}).send({'name': 'x', 'data': {'a': 1}})
    assert first.events == second.events
    assert first.events[0] is not second.events[0]
    first.events[0]['data']['a'] = 'changed'
    assert second.events[0]['data'] == {'a': 1}


def test_clear():
    backend = InMemoryBackend()
    backend.send({'name': 'a'})
    backend.clear()
    assert backend.events == []
    assert repr(backend) == '<InMemoryBackend with 0 event(s)>'


def test_rejects_options():
    with pytest.raises(TypeError):
        InMemoryBackend(unknown=True)  # pylint: disable=unexpected-keyword-arg


def test_receives_from_many_threads():
    backend = InMemoryBackend()
    tracker = Tracker(backends={'mem': backend})
    threads = [threading.Thread(target=lambda: [tracker.emit('t') for _ in range(500)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(backend.events) == 4000
