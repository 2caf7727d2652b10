"""RoutingBackend asks filtering processors' ``accepts`` directly, and keeps every processor's meaning."""

import logging

from eventtracking.backends.routing import RoutingBackend
from eventtracking.processors import accepts_of, asks_accepts
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.processors.regex_filter import RegexFilter
from eventtracking.processors.whitelist import NameWhitelistProcessor


class Kept:
    """Keeps what it receives."""

    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)


class CountingFilter:
    """A filter marked as only asking ``accepts``; counts how it was used."""

    mutates_events = False

    def __init__(self, allowed):
        self.allowed = allowed
        self.calls = 0
        self.asked = 0

    @asks_accepts
    def __call__(self, event):
        self.calls += 1
        if self.accepts(event):
            return event
        raise EventEmissionExit()

    def accepts(self, event):
        self.asked += 1
        return event['name'] in self.allowed


def test_a_marked_filter_is_asked_directly_and_a_stopped_event_is_counted():
    kept = Kept()
    processor = CountingFilter({'yes'})
    routing = RoutingBackend(backends={'kept': kept}, processors=[processor])
    routing.send({'name': 'yes'})
    routing.send({'name': 'no'})
    assert [event['name'] for event in kept.events] == ['yes']
    assert (processor.asked, processor.calls) == (2, 0)
    assert routing.stats == {'filtered': 1}
    assert processor({'name': 'yes'}) == {'name': 'yes'}


def test_accepts_of_the_two_filters_and_of_subclasses():
    whitelist = NameWhitelistProcessor(whitelist=['a'])
    regex = RegexFilter('allowlist', ['a'])
    assert accepts_of(whitelist) == whitelist.accepts
    assert accepts_of(regex) == regex.accepts
    assert accepts_of(lambda event: event) is None

    class Louder(NameWhitelistProcessor):
        def __call__(self, event):
            return super().__call__(event)

    class Stricter(NameWhitelistProcessor):
        def accepts(self, event):
            return super().accepts(event) and event.get('data', {}).get('ok', False)

    assert accepts_of(Louder(whitelist=['a'])) is None
    stricter = Stricter(whitelist=['a'])
    assert accepts_of(stricter) == stricter.accepts


def test_a_subclass_that_overrides_call_is_called():
    class Renaming(NameWhitelistProcessor):
        def __call__(self, event):
            event = super().__call__(event)
            event['name'] = event['name'].upper()
            return event

    kept = Kept()
    RoutingBackend(backends={'kept': kept}, processors=[Renaming(whitelist=['a'])]).send({'name': 'a'})
    assert kept.events == [{'name': 'A'}]


def test_a_subclass_that_overrides_accepts_is_obeyed_in_a_tree():
    class Stricter(NameWhitelistProcessor):
        def accepts(self, event):
            return super().accepts(event) and event['data'].get('ok', False)

    kept = Kept()
    routing = RoutingBackend(backends={'kept': kept}, processors=[Stricter(whitelist=['a'])])
    routing.send({'name': 'a', 'data': {'ok': True}})
    routing.send({'name': 'a', 'data': {}})
    routing.send({'name': 'b', 'data': {'ok': True}})
    assert kept.events == [{'name': 'a', 'data': {'ok': True}}]
    assert routing.stats == {'filtered': 2}


def test_a_list_of_events_still_goes_through_the_whitelist_call():
    kept = Kept()
    RoutingBackend(backends={'kept': kept}, processors=[NameWhitelistProcessor(whitelist=['a'])]).send(
        [{'name': 'a'}, {'name': 'b'}]
    )
    assert kept.events == [[{'name': 'a'}]]


def test_a_failing_accepts_is_a_processor_error_and_the_event_goes_on(caplog):
    kept = Kept()
    routing = RoutingBackend(backends={'kept': kept}, processors=[NameWhitelistProcessor(whitelist=['a'])])
    with caplog.at_level(logging.ERROR, logger='eventtracking'):
        routing.send({'name': ['unhashable']})
    assert kept.events == [{'name': ['unhashable']}]
    assert routing.stats == {'processor_error': 1}
    assert caplog.records[0].exc_info is not None


def test_changes_to_the_processors_list_take_effect():
    kept = Kept()
    routing = RoutingBackend(backends={'kept': kept}, processors=[NameWhitelistProcessor(whitelist=['a'])])
    routing.send({'name': 'b'})
    routing.processors[0] = NameWhitelistProcessor(whitelist=['b'])
    routing.send({'name': 'b'})
    routing.processors = [RegexFilter('blocklist', ['b'])]
    routing.send({'name': 'b'})
    routing.processors.append(lambda event: dict(event, seen=True))
    routing.processors.pop(0)
    routing.send({'name': 'b'})
    assert kept.events == [{'name': 'b'}, {'name': 'b', 'seen': True}]
