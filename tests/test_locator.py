"""Context locators: one stack per process, per thread, or per contextvars context."""

import asyncio
import contextvars
import threading
from collections import OrderedDict

import pytest

from eventtracking.locator import ContextVarLocator, DefaultContextLocator, ThreadLocalContextLocator
from eventtracking.tracker import Tracker


def run_in_thread(function):
    results = []
    thread = threading.Thread(target=lambda: results.append(function()))
    thread.start()
    thread.join()
    return results[0]


def test_default_locator_is_one_ordered_mapping_for_every_thread():
    locator = DefaultContextLocator()
    assert isinstance(locator.get(), OrderedDict)
    locator.get()['a'] = {'x': 1}
    assert run_in_thread(locator.get) is locator.get()


def test_thread_local_locator_gives_each_thread_its_own_mapping():
    locator = ThreadLocalContextLocator()
    locator.get()['main'] = {'x': 1}
    other = run_in_thread(lambda: dict(locator.get()))
    assert other == {}
    assert isinstance(locator.get(), OrderedDict)
    assert list(locator.get()) == ['main']


def test_thread_local_locator_creates_threading_local_lazily(monkeypatch):
    locator = ThreadLocalContextLocator()
    assert locator.thread_local_data is None

    class PatchedLocal:
        """Stands in for a gevent-style patched threading.local, installed after import."""

    monkeypatch.setattr('eventtracking.locator.threading.local', PatchedLocal)
    locator.get()
    assert isinstance(locator.thread_local_data, PatchedLocal)


def test_contextvar_locator_behaves_like_an_ordered_mapping():
    locator = ContextVarLocator()
    stack = locator.get()
    stack['a'] = {'x': 1}
    stack['b'] = {'x': 2}
    stack['a'] = {'x': 3}
    assert list(stack) == ['a', 'b']
    assert list(stack.values()) == [{'x': 3}, {'x': 2}]
    assert list(stack.items()) == [('a', {'x': 3}), ('b', {'x': 2})]
    assert 'a' in stack and len(stack) == 2 and stack['b'] == {'x': 2}
    assert stack.get('missing') is None
    assert stack == OrderedDict([('a', {'x': 3}), ('b', {'x': 2})])
    del stack['a']
    assert list(stack) == ['b']
    with pytest.raises(KeyError):
        del stack['a']
    assert stack.pop('b') == {'x': 2}
    assert stack.pop('b', 'gone') == 'gone'
    stack['c'] = {}
    stack.clear()
    assert len(stack) == 0


def test_contextvar_locator_threads_start_empty():
    tracker = Tracker(context_locator=ContextVarLocator())
    tracker.enter_context('main', {'thread': 'main'})
    assert run_in_thread(tracker.resolve_context) == {}
    assert tracker.resolve_context() == {'thread': 'main'}


def test_contextvar_locator_tasks_inherit_a_copy_and_do_not_leak_back():
    tracker = Tracker(context_locator=ContextVarLocator())

    async def child(name, seen):
        seen[name + '.inherited'] = tracker.resolve_context()
        tracker.enter_context('child', {'task': name})
        await asyncio.sleep(0)
        seen[name + '.own'] = tracker.resolve_context()
        tracker.exit_context('request')
        seen[name + '.after_exit'] = tracker.resolve_context()

    async def main():
        seen = {}
        tracker.enter_context('request', {'request': 1})
        await asyncio.gather(child('one', seen), child('two', seen))
        seen['parent'] = tracker.resolve_context()
        return seen

    seen = asyncio.run(main())
    assert seen['one.inherited'] == seen['two.inherited'] == {'request': 1}
    assert seen['one.own'] == {'request': 1, 'task': 'one'}
    assert seen['two.own'] == {'request': 1, 'task': 'two'}
    assert seen['one.after_exit'] == {'task': 'one'}
    assert seen['parent'] == {'request': 1}


def test_contextvar_locators_are_independent_of_each_other():
    first, second = ContextVarLocator(), ContextVarLocator()
    first.get()['a'] = {}
    assert len(second.get()) == 0


def test_contextvar_locator_copy_context_snapshot():
    locator = ContextVarLocator()
    locator.get()['before'] = {}
    snapshot = contextvars.copy_context()
    locator.get()['after'] = {}
    assert snapshot.run(lambda: list(locator.get())) == ['before']
