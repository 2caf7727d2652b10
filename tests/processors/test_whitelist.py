"""NameWhitelistProcessor: only allowed names go on."""

import pytest

from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.processors.whitelist import NameWhitelistProcessor


@pytest.mark.parametrize('whitelist', [None, 'edx.event', b'edx', 5, object()])
def test_whitelist_must_be_a_non_string_collection(whitelist):
    with pytest.raises(TypeError, match='whitelist'):
        NameWhitelistProcessor(whitelist=whitelist)


@pytest.mark.parametrize('whitelist', [['a', 'b'], ('a', 'b'), {'a', 'b'}, frozenset({'a', 'b'}), iter(['a', 'b'])])
def test_accepts_any_collection_and_ignores_extra_options(whitelist):
    processor = NameWhitelistProcessor(whitelist=whitelist, unused_option=1)
    assert processor({'name': 'a'}) == {'name': 'a'}


def test_single_event_is_returned_or_stopped():
    processor = NameWhitelistProcessor(whitelist=['allowed'])
    event = {'name': 'allowed', 'data': {}}
    assert processor(event) is event
    with pytest.raises(EventEmissionExit):
        processor({'name': 'other'})


def test_list_of_events_is_filtered():
    processor = NameWhitelistProcessor(whitelist=['a', 'c'])
    events = [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}]
    assert processor(events) == [{'name': 'a'}, {'name': 'c'}]
