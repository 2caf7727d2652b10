"""The routing backend: registration, processor chain, fan-out, isolation, failures."""

import logging
from unittest import mock

import pytest

from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import UnserializableEventError
from eventtracking.processors.exceptions import EventEmissionExit, NoBackendEnabled, NoTransformerImplemented


class Keeping:
    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)


class Trusted(Keeping):
    """Declares it does not change events; keeps them only to let the test look."""

    mutates_events = False


class Mutating(Keeping):
    def send(self, event):
        event['data']['nested']['value'] = 'mutated'
        event['data']['new'] = 1
        event['context'].clear()
        super().send(event)


def an_event():
    return {'name': 'x.y', 'data': {'nested': {'value': 'original'}, 'list': [1, {'a': 2}]}, 'context': {'c': 1}}


def test_backends_are_registered_in_sorted_key_order():
    order = []

    class Recording:
        def __init__(self, name):
            self.name = name

        def send(self, event):
            order.append(self.name)

    names = ['zeta', 'alpha', 'mu', 'beta']
    router = RoutingBackend(backends={name: Recording(name) for name in names})
    assert list(router.backends) == sorted(names)
    router.send(an_event())
    assert order == sorted(names)


def test_register_backend_requires_a_callable_send():
    router = RoutingBackend()
    for bad in (object(), type('NoCallableSend', (), {'send': 'not callable'})()):
        with pytest.raises(ValueError, match='send'):
            router.register_backend('bad', bad)
    with pytest.raises(ValueError):
        RoutingBackend(backends={'bad': object()})


def test_register_processor_requires_a_callable():
    with pytest.raises(ValueError, match='not callable'):
        RoutingBackend(processors=[42])
    router = RoutingBackend()
    router.register_processor(lambda event: event)
    assert len(router.processors) == 1


def test_backends_added_after_construction_are_used():
    router = RoutingBackend()
    late = Keeping()
    router.register_backend('late', late)
    direct = Keeping()
    router.backends['direct'] = direct
    router.send(an_event())
    assert len(late.events) == len(direct.events) == 1
    del router.backends['direct']
    router.backends.setdefault('other', Keeping())
    router.send(an_event())
    assert len(direct.events) == 1
    assert len(router.backends['other'].events) == 1


def test_processors_run_in_order_and_may_replace_or_keep_the_event():
    calls = []

    def first(event):
        calls.append('first')
        event['data']['first'] = True

    def second(event):
        calls.append('second')
        return {'name': 'replaced', 'data': dict(event['data'], second=True)}

    def third(event):
        calls.append('third')

    kept = Keeping()
    RoutingBackend(backends={'kept': kept}, processors=[first, second, third]).send(an_event())
    assert calls == ['first', 'second', 'third']
    assert kept.events[0]['name'] == 'replaced'
    assert kept.events[0]['data']['first'] is True and kept.events[0]['data']['second'] is True


def test_event_emission_exit_drops_the_event_silently_and_counts_it(caplog):
    def stop(event):
        raise EventEmissionExit()

    after = mock.Mock()
    kept = Keeping()
    router = RoutingBackend(backends={'kept': kept}, processors=[stop, after])
    with caplog.at_level(logging.DEBUG):
        router.send(an_event())
    assert kept.events == []
    after.assert_not_called()
    assert caplog.records == []
    assert router.stats == {'filtered': 1}


def test_process_event_lets_event_emission_exit_through():
    def stop(event):
        raise EventEmissionExit()

    with pytest.raises(EventEmissionExit):
        RoutingBackend(processors=[stop]).process_event(an_event())


def test_failing_processor_is_logged_with_traceback_and_the_chain_goes_on(caplog):
    def broken(event):
        raise ZeroDivisionError('processor bug')

    def marker(event):
        event['data']['marked'] = True

    kept = Keeping()
    router = RoutingBackend(backends={'kept': kept}, processors=[broken, marker])
    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.routing'):
        router.send(an_event())
    assert kept.events[0]['data']['marked'] is True
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info[0] is ZeroDivisionError
    assert "'x.y'" in record.getMessage()
    assert router.stats == {'processor_error': 1}


def test_process_event_returns_the_processed_event():
    router = RoutingBackend(processors=[lambda event: {'name': 'new'}])
    assert router.process_event(an_event()) == {'name': 'new'}


@pytest.mark.parametrize('exception', [NoTransformerImplemented, NoBackendEnabled])
def test_skipping_exceptions_are_logged_at_info(caplog, exception):
    class Skipping:
        def send(self, event):
            raise exception('nothing to do')

    kept = Keeping()
    router = RoutingBackend(backends={'a': Skipping(), 'b': kept})
    with caplog.at_level(logging.DEBUG, logger='eventtracking.backends.routing'):
        router.send(an_event())
    assert len(kept.events) == 1
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert exception.__name__ in record.getMessage()
    assert router.stats == {'skipped': 1}


def test_failing_backend_is_logged_and_the_others_still_receive(caplog):
    class Failing:
        def send(self, event):
            raise ConnectionError('down')

    kept = Keeping()
    router = RoutingBackend(backends={'a': Failing(), 'b': kept})
    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.routing'):
        router.send(an_event())
    assert len(kept.events) == 1
    (record,) = caplog.records
    assert record.exc_info[0] is ConnectionError
    assert "'a'" in record.getMessage() and "'x.y'" in record.getMessage()
    assert router.stats == {'backend_error': 1}


def test_event_dropped_by_a_backend_is_one_warning_without_traceback(caplog):
    class Refusing:
        def send(self, event):
            raise UnserializableEventError('cannot encode a set', event['name'])

    router = RoutingBackend(backends={'refusing': Refusing()})
    with caplog.at_level(logging.DEBUG, logger='eventtracking.backends.routing'):
        router.send(an_event())
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    message = record.getMessage()
    assert "'x.y'" in message and "'refusing'" in message and 'unserializable' in message
    assert router.stats == {'unserializable': 1}


def test_send_to_backends_never_raises():
    class Failing:
        def send(self, event):
            raise RuntimeError('x')

    RoutingBackend(backends={'a': Failing()}).send_to_backends(an_event())


def test_caller_event_is_untouched_by_processors_and_backends():
    def mutate(event):
        event['data']['nested']['value'] = 'processor'
        event['data']['list'][1]['a'] = 'processor'

    event = an_event()
    RoutingBackend(backends={'m': Mutating()}, processors=[mutate]).send(event)
    assert event == an_event()


def test_siblings_do_not_see_each_others_changes():
    first, second, trusted = Mutating(), Keeping(), Trusted()
    event = an_event()
    RoutingBackend(backends={'a': first, 'b': second, 'c': trusted}).send(event)
    assert second.events[0] == an_event()
    assert trusted.events[0] == an_event()
    assert first.events[0]['data']['nested']['value'] == 'mutated'
    assert event == an_event()


def test_sibling_routing_branches_with_mutating_processors_are_isolated():
    def mutate(event):
        event['data']['nested']['value'] = 'branch one'
        event['context']['branch'] = 1

    one, two = Keeping(), Keeping()
    event = an_event()
    RoutingBackend(backends={
        'one': RoutingBackend(backends={'kept': one}, processors=[mutate]),
        'two': RoutingBackend(backends={'kept': two}),
    }).send(event)
    assert one.events[0]['data']['nested']['value'] == 'branch one'
    assert two.events[0] == an_event()
    assert event == an_event()


def test_trusted_components_share_the_event_without_copying():
    trusted = Trusted()

    def trusted_processor(event):
        return None

    trusted_processor.mutates_events = False
    event = an_event()
    RoutingBackend(backends={'t': trusted}, processors=[trusted_processor]).send(event)
    assert trusted.events[0] is event


def test_untrusted_backends_each_get_their_own_copy():
    one, two = Keeping(), Keeping()
    event = an_event()
    RoutingBackend(backends={'one': one, 'two': two}).send(event)
    assert one.events[0] == two.events[0] == event
    assert one.events[0] is not event and two.events[0] is not event
    assert one.events[0]['data'] is not two.events[0]['data']


def test_stats_sum_the_subtree():
    def stop(event):
        raise EventEmissionExit()

    class Failing:
        def send(self, event):
            raise RuntimeError('x')

    child = RoutingBackend(backends={'fail': Failing()})
    filtered = RoutingBackend(backends={'k': Keeping()}, processors=[stop])
    root = RoutingBackend(backends={'child': child, 'filtered': filtered})
    for _ in range(3):
        root.send(an_event())
    assert child.stats == {'backend_error': 3}
    assert filtered.stats == {'filtered': 3}
    assert root.stats == {'backend_error': 3, 'filtered': 3}
    assert root.counters.snapshot() == {}


def test_a_mock_backend_without_stats_does_not_break_stats():
    backend = mock.Mock()
    router = RoutingBackend(backends={'mock': backend})
    router.send(an_event())
    backend.send.assert_called_once()
    assert router.stats == {}


def test_event_too_deep_to_copy_is_dropped_and_counted(caplog):
    deep = leaf = {}
    for _ in range(100_000):
        leaf['x'] = {}
        leaf = leaf['x']
    kept = Keeping()
    router = RoutingBackend(backends={'kept': kept})
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.routing'):
        router.send({'name': 'deep', 'data': deep})
    assert kept.events == []
    assert router.stats == {'uncopyable': 1}
    assert "'deep'" in caplog.text


def test_cyclic_event_is_copied_with_its_cycle():
    data = {'a': 1}
    data['self'] = data
    kept = Keeping()
    RoutingBackend(backends={'kept': kept}).send({'name': 'cycle', 'data': data})
    received = kept.events[0]['data']
    assert received is not data
    assert received['self'] is received


def test_event_holding_an_uncopyable_object_is_dropped_for_the_branches_that_need_a_copy(caplog):
    import threading  # pylint: disable=import-outside-toplevel

    trusted, untrusted = Trusted(), Keeping()

    def mutating_processor(event):
        event['data']['seen'] = True

    router = RoutingBackend(backends={
        'a_trusted': trusted,
        'b_untrusted': untrusted,
        'c_processed': RoutingBackend(processors=[mutating_processor], backends={'kept': Keeping()}),
    })
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.routing'):
        router.send({'name': 'locked', 'data': {'lock': threading.Lock()}})
    assert len(trusted.events) == 1
    assert untrusted.events == []
    assert router.stats == {'uncopyable': 2}
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert all("'locked'" in message and "cannot pickle '_thread.lock'" in message for message in warnings)


def test_processed_is_send_without_the_fan_out_isolated_and_counted(caplog):
    def rename(event):
        event['data']['nested']['value'] = 'processed'

    def stop_y(event):
        if event['name'] == 'y':
            raise EventEmissionExit

    router = RoutingBackend(processors=[stop_y, rename], backends={'kept': Keeping()})
    caller = an_event()

    processed = router.processed(caller)

    assert processed['data']['nested']['value'] == 'processed'
    assert caller == an_event()  # the copy was processed, not the caller's event
    assert router.backends['kept'].events == []  # nothing sent
    assert router.processed(dict(an_event(), name='y')) is None
    deep = an_event()
    for _ in range(100_000):
        deep = {'data': deep}
    with caplog.at_level(logging.WARNING):
        assert router.processed(dict(an_event(), data=deep)) is None
    assert router.stats == {'filtered': 1, 'uncopyable': 1}
    assert "'x.y'" in caplog.text


def test_processed_without_processors_is_the_event_itself():
    event = an_event()
    assert RoutingBackend(backends={'kept': Keeping()}).processed(event) is event
