"""Isolation: nothing a branch does leaks to the caller or a sibling; checked on generated data."""

import copy
from datetime import date, datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from eventtracking.backends.routing import RoutingBackend
from eventtracking.isolation import copy_event, mutates_events
from eventtracking.tracker import Tracker

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
    st.datetimes(timezones=st.just(timezone.utc)), st.dates(), st.decimals(allow_nan=False),
)
json_like = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
    ),
    max_leaves=25,
)
data_dicts = st.dictionaries(st.text(max_size=4), json_like, max_size=5)
paths = st.lists(st.integers(min_value=0, max_value=10), max_size=6)


def scribble(value, path):
    """Change ``value`` in place somewhere along ``path``; return True if anything changed."""
    target = value
    for step in path:
        if isinstance(target, dict) and target:
            keys = sorted(target, key=repr)
            child = target[keys[step % len(keys)]]
            if isinstance(child, (dict, list)):
                target = child
                continue
            target[keys[step % len(keys)]] = ('scribbled', step)
            return True
        if isinstance(target, list) and target:
            child = target[step % len(target)]
            if isinstance(child, (dict, list)):
                target = child
                continue
            target[step % len(target)] = ('scribbled', step)
            return True
        break
    if isinstance(target, dict):
        target['scribbled'] = True
        return True
    if isinstance(target, list):
        target.append('scribbled')
        return True
    return False


class Keeping:
    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(copy.deepcopy(event))


class Scribbling:
    def __init__(self, path):
        self.path = path

    def send(self, event):
        scribble(event['data'], self.path)
        scribble(event['context'], self.path)


@settings(max_examples=150, deadline=None)
@given(data=data_dicts, context=data_dicts, processor_path=paths, backend_path=paths)
def test_no_change_leaks_to_the_caller_or_a_sibling(data, context, processor_path, backend_path):
    data_before = copy.deepcopy(data)
    context_before = copy.deepcopy(context)

    def scribbling_processor(event):
        scribble(event['data'], processor_path)
        scribble(event['context'], processor_path)

    sibling = Keeping()
    trusted_sibling = Keeping()
    trusted_sibling.mutates_events = False
    tracker = Tracker(backends={
        'a_changing_branch': RoutingBackend(processors=[scribbling_processor], backends={'x': Scribbling(backend_path)}),
        'b_changing_backend': Scribbling(backend_path),
        'c_sibling': RoutingBackend(backends={'kept': sibling, 'trusted': trusted_sibling}),
    })
    tracker.enter_context('ctx', context)
    tracker.emit('generated', data)

    assert data == data_before
    assert context == context_before
    for kept in (sibling, trusted_sibling):
        (event,) = kept.events
        assert event['data'] == (data_before or {})
        assert event['context'] == context_before


@settings(max_examples=150, deadline=None)
@given(value=json_like)
def test_copy_event_is_equal_and_shares_no_container(value):
    copied = copy_event(value)
    assert copied == value

    def containers(item):
        if isinstance(item, dict):
            yield item
            for child in item.values():
                yield from containers(child)
        elif isinstance(item, (list, tuple)):
            if isinstance(item, list):
                yield item
            for child in item:
                yield from containers(child)

    original_ids = {id(container) for container in containers(value)}
    assert not any(id(container) in original_ids for container in containers(copied))


def test_copy_event_shares_immutable_leaves_and_deep_copies_other_objects():
    class Custom:
        def __init__(self):
            self.items = [1]

    stamp = datetime(2013, 10, 3, tzinfo=timezone.utc)
    custom = Custom()
    value = {'s': 'text', 'd': stamp, 'day': date(2013, 1, 1), 'n': Decimal('1'), 'custom': custom, 't': ([1],)}
    copied = copy_event(value)
    assert copied['d'] is stamp and copied['s'] is value['s']
    assert copied['custom'] is not custom and copied['custom'].items == [1]
    assert copied['t'] == ([1],) and copied['t'][0] is not value['t'][0]


def test_mutates_events_marker():
    class Plain:
        pass

    class Promising:
        mutates_events = False

    def function(event):
        return event

    assert mutates_events(Plain())
    assert not mutates_events(Promising())
    assert mutates_events(function)
    function.mutates_events = False
    assert not mutates_events(function)
