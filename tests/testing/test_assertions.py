"""assert_event_matches and friends: the seed's examples, every tolerance, both payload layouts, the messages."""

from datetime import datetime, timezone

import pytest

from eventtracking.testing import (
    EventMatchTolerates, assert_event_matches, assert_events_equal, assert_events_match, get_event_differences,
    is_matching_event,
)

TOLERATES = EventMatchTolerates


class TestSeedExamples:
    """The four examples of the developer guide's "Assertions" section, as the guide describes them."""

    def test_string_payload_is_decoded_by_default(self):
        assert_event_matches(
            {'event': {'a': 'b'}},
            {'event': '{"a": "b"}'}
        )

    def test_unexpected_root_fields_are_ignored_by_default(self):
        assert_event_matches(
            {'event_type': 'test'},
            {'event_type': 'test', 'foo': 'bar'}
        )

    def test_unexpected_context_fields_are_ignored_by_default(self):
        assert_event_matches(
            {'event_type': 'test'},
            {'event_type': 'test', 'context': {'foo': 'bar'}}
        )

    def test_empty_tolerate_is_strict_and_raises(self):
        with pytest.raises(AssertionError) as raised:
            assert_event_matches(
                {'event_type': 'test'},
                {'event_type': 'test', 'context': {'foo': 'bar'}},
                tolerate=[]
            )
        assert '* context: only defined in actual' in str(raised.value)


class TestTolerances:

    def test_default_lenient_strict_sets(self):
        assert TOLERATES.default() == {
            TOLERATES.STRING_PAYLOAD, TOLERATES.ROOT_EXTRA_FIELDS, TOLERATES.CONTEXT_EXTRA_FIELDS}
        assert TOLERATES.lenient() == TOLERATES.default() | {TOLERATES.PAYLOAD_EXTRA_FIELDS}
        assert TOLERATES.strict() == set()

    def test_default_if_not_defined(self):
        assert TOLERATES.default_if_not_defined(None) == TOLERATES.default()
        assert TOLERATES.default_if_not_defined() == TOLERATES.default()
        chosen = {TOLERATES.STRING_PAYLOAD}
        assert TOLERATES.default_if_not_defined(chosen) is chosen
        empty = []
        assert TOLERATES.default_if_not_defined(empty) is empty

    def test_sets_returned_are_independent(self):
        first = TOLERATES.default()
        first.add(TOLERATES.PAYLOAD_EXTRA_FIELDS)
        assert TOLERATES.PAYLOAD_EXTRA_FIELDS not in TOLERATES.default()

    @pytest.mark.parametrize('payload_field', ['event', 'data'])
    def test_extra_payload_fields_fail_by_default(self, payload_field):
        expected = {payload_field: {'a': 1}}
        actual = {payload_field: {'a': 1, 'b': 2}}
        assert get_event_differences(expected, actual) == [f'{payload_field}.b: only defined in actual']
        assert is_matching_event(expected, actual, tolerate=TOLERATES.lenient())
        assert is_matching_event(expected, actual, tolerate=[TOLERATES.PAYLOAD_EXTRA_FIELDS])

    @pytest.mark.parametrize('payload_field', ['event', 'data'])
    def test_extra_payload_fields_in_nested_dicts_follow_the_payload_tolerance(self, payload_field):
        expected = {payload_field: {'module': {'id': 'x'}}}
        actual = {payload_field: {'module': {'id': 'x', 'display_name': 'Intro'}}}
        assert get_event_differences(expected, actual) == [
            f'{payload_field}.module.display_name: only defined in actual']
        assert is_matching_event(expected, actual, tolerate=TOLERATES.lenient())

    def test_extra_context_fields_each_tolerance_separately(self):
        expected = {'name': 'x', 'context': {'user_id': 1}}
        actual = {'name': 'x', 'context': {'user_id': 1, 'course': {'id': 'c', 'org': 'o'}}}
        assert get_event_differences(expected, actual, tolerate=[]) == ['context.course: only defined in actual']
        assert get_event_differences(expected, actual, tolerate=[TOLERATES.ROOT_EXTRA_FIELDS]) == [
            'context.course: only defined in actual']
        assert is_matching_event(expected, actual, tolerate=[TOLERATES.CONTEXT_EXTRA_FIELDS])

    def test_nested_context_dicts_follow_the_context_tolerance(self):
        expected = {'context': {'course': {'id': 'c'}}}
        actual = {'context': {'course': {'id': 'c', 'org': 'o'}}}
        assert is_matching_event(expected, actual)
        assert get_event_differences(expected, actual, tolerate=[TOLERATES.ROOT_EXTRA_FIELDS]) == [
            'context.course.org: only defined in actual']

    def test_a_whole_unexpected_context_or_payload_is_a_root_extra_field(self):
        expected = {'name': 'x'}
        actual = {'name': 'x', 'context': {'a': 1}, 'data': {'b': 2}}
        assert get_event_differences(expected, actual, tolerate=[TOLERATES.CONTEXT_EXTRA_FIELDS]) == [
            'context: only defined in actual', 'data: only defined in actual']
        assert is_matching_event(expected, actual, tolerate=[TOLERATES.ROOT_EXTRA_FIELDS])

    def test_extra_root_fields_fail_without_the_root_tolerance(self):
        expected = {'name': 'x'}
        actual = {'name': 'x', 'timestamp': 'now'}
        assert get_event_differences(expected, actual, tolerate=[TOLERATES.CONTEXT_EXTRA_FIELDS]) == [
            'timestamp: only defined in actual']

    @pytest.mark.parametrize('payload_field', ['event', 'data'])
    def test_string_payload_decoded_only_when_tolerated(self, payload_field):
        expected = {payload_field: {'a': 'b'}}
        actual = {payload_field: '{"a": "b"}'}
        assert is_matching_event(expected, actual, tolerate=[TOLERATES.STRING_PAYLOAD])
        assert get_event_differences(expected, actual, tolerate=[]) == [
            f"""{payload_field}: {{'a': 'b'}} != '{{"a": "b"}}' (expected != actual)"""]

    def test_decoded_string_payload_is_compared_field_by_field(self):
        differences = get_event_differences({'event': {'a': 'b'}}, {'event': '{"a": "c", "x": 1}'})
        assert differences == ["event.a: 'b' != 'c' (expected != actual)", 'event.x: only defined in actual']

    def test_a_string_payload_that_is_not_json_is_compared_as_a_string(self):
        assert is_matching_event({'event': 'not json'}, {'event': 'not json'})
        assert get_event_differences({'event': {'a': 1}}, {'event': 'not json'}) == [
            "event: {'a': 1} != 'not json' (expected != actual)"]

    def test_string_payload_in_both_compared_after_decoding(self):
        assert is_matching_event({'event': '{"a": 1, "b": 2}'}, {'event': '{"b": 2, "a": 1}'})
        assert not is_matching_event({'event': '{"a": 1, "b": 2}'}, {'event': '{"b": 2, "a": 1}'}, tolerate=[])

    def test_decoding_does_not_change_the_events(self):
        actual = {'event': '{"a": "b"}'}
        assert_event_matches({'event': {'a': 'b'}}, actual)
        assert actual == {'event': '{"a": "b"}'}

    def test_other_root_fields_holding_json_strings_are_not_decoded(self):
        assert not is_matching_event({'page': {'a': 'b'}}, {'page': '{"a": "b"}'}, tolerate=TOLERATES.lenient())

    @pytest.mark.parametrize('bad', ['string_payload', b'x', 3])
    def test_tolerate_must_be_a_collection(self, bad):
        with pytest.raises(TypeError, match='tolerate must be a collection of EventMatchTolerates flags'):
            assert_event_matches({}, {}, tolerate=bad)

    def test_unknown_tolerance_is_rejected(self):
        with pytest.raises(ValueError, match=r"Unknown tolerance\(s\) \['payload_extra'\]"):
            is_matching_event({}, {}, tolerate={'payload_extra'})


class TestDifferences:

    def test_equal_events_have_no_differences(self):
        event = {'name': 'x', 'data': {'a': [1, {'b': None}]}, 'context': {}}
        assert get_event_differences(event, dict(event), tolerate=[]) == []

    def test_missing_field_at_any_depth(self):
        assert get_event_differences({'context': {'foo': 1}}, {'context': {}}) == ['context.foo: not found in actual']
        assert get_event_differences({'data': {'a': {'b': 1}}}, {'data': {'a': {}}}) == [
            'data.a.b: not found in actual']
        assert get_event_differences({'name': 'x'}, {}) == ['name: not found in actual']

    def test_different_values_show_both_reprs(self):
        assert get_event_differences({'a': {'b': 1}}, {'a': {'b': 2}}) == ['a.b: 1 != 2 (expected != actual)']
        assert get_event_differences({'a': '1'}, {'a': 1}) == ["a: '1' != 1 (expected != actual)"]

    def test_only_defined_in_actual(self):
        assert get_event_differences({}, {'x': 1}, tolerate=[]) == ['x: only defined in actual']

    def test_every_difference_is_listed_in_order(self):
        expected = {'name': 'a', 'data': {'x': 1, 'y': 2}, 'context': {'u': 1}}
        actual = {'name': 'b', 'data': {'x': 1, 'z': 3}, 'context': {'u': 2}, 'extra': True}
        assert get_event_differences(expected, actual, tolerate=[]) == [
            "name: 'a' != 'b' (expected != actual)",
            'data.y: not found in actual',
            'data.z: only defined in actual',
            'context.u: 1 != 2 (expected != actual)',
            'extra: only defined in actual',
        ]

    def test_lists_are_compared_item_by_item(self):
        expected = {'data': {'items': [{'id': 1}, {'id': 2}]}}
        actual = {'data': {'items': [{'id': 1}, {'id': 3}]}}
        assert get_event_differences(expected, actual) == ['data.items[1].id: 2 != 3 (expected != actual)']

    def test_lists_of_different_lengths(self):
        assert get_event_differences({'data': {'ids': [1, 2]}}, {'data': {'ids': [1, 2, 3]}}) == [
            'data.ids: [1, 2] != [1, 2, 3] (expected != actual)']

    def test_tuples_and_lists_compare_alike(self):
        assert is_matching_event({'data': {'pair': (1, 2)}}, {'data': {'pair': [1, 2]}}, tolerate=[])

    def test_dicts_nested_in_lists_of_the_payload_follow_its_tolerance(self):
        expected = {'data': {'items': [{'id': 1}]}}
        actual = {'data': {'items': [{'id': 1, 'name': 'one'}]}}
        assert get_event_differences(expected, actual) == ['data.items[0].name: only defined in actual']
        assert is_matching_event(expected, actual, tolerate=TOLERATES.lenient())

    def test_type_mismatch(self):
        assert get_event_differences({'context': {'a': 1}}, {'context': None}) == [
            "context: {'a': 1} != None (expected != actual)"]

    def test_datetimes_compare_by_value(self):
        when = datetime(2013, 10, 3, 8, 24, 55, tzinfo=timezone.utc)
        assert is_matching_event({'timestamp': when}, {'timestamp': when.replace()}, tolerate=[])
        assert get_event_differences({'timestamp': when}, {'timestamp': when.replace(second=56)})[0].startswith(
            'timestamp: datetime.datetime(2013, 10, 3, 8, 24, 55')

    def test_not_an_event_at_all(self):
        assert get_event_differences({'name': 'x'}, None) == ["(event): {'name': 'x'} != None (expected != actual)"]


class TestFailureMessage:

    def test_lists_differences_then_expected_actual_and_tolerances(self):
        expected = {'name': 'edx.test', 'data': {'a': {'b': 1}}, 'context': {'foo': 'x'}}
        actual = {'name': 'edx.test', 'data': {'a': {'b': 2}, 'extra': 1}, 'context': {'user_id': 3}}
        with pytest.raises(AssertionError) as raised:
            assert_event_matches(expected, actual)
        message = str(raised.value)
        assert message == '\n'.join([
            'Event does not match the expected event (3 differences):',
            '  * data.a.b: 1 != 2 (expected != actual)',
            '  * data.extra: only defined in actual',
            '  * context.foo: not found in actual',
            '',
            'Expected event:',
            "  {'context': {'foo': 'x'}, 'data': {'a': {'b': 1}}, 'name': 'edx.test'}",
            '',
            'Actual event:',
            "  {'context': {'user_id': 3}, 'data': {'a': {'b': 2}, 'extra': 1}, 'name': 'edx.test'}",
            '',
            'Tolerating: context_extra_fields, root_extra_fields, string_payload',
        ])

    def test_one_difference_and_strict(self):
        with pytest.raises(AssertionError) as raised:
            assert_event_matches({'a': 1}, {'a': 2}, tolerate=[])
        message = str(raised.value)
        assert message.startswith('Event does not match the expected event (1 difference):\n'
                                  '  * a: 1 != 2 (expected != actual)\n')
        assert message.endswith('Tolerating: nothing (exact match)')

    def test_long_events_are_printed_one_top_level_field_per_line(self):
        actual = {'name': 'edx.course.enrollment.activated',
                  'data': {'course_id': 'course-v1:edX+DemoX+Demo_Course', 'mode': 'audit', 'user_id': 12345},
                  'context': {'path': '/api/enrollment/v1/enrollment', 'host': 'courses.example.com'}}
        with pytest.raises(AssertionError) as raised:
            assert_event_matches({'name': 'edx.course.enrollment.deactivated'}, actual)
        message = str(raised.value)
        actual_block = message.split('Actual event:\n')[1].split('\n\n')[0]
        lines = actual_block.splitlines()
        assert len(lines) == 3
        assert all(line.startswith('  ') and len(line) <= 100 for line in lines)
        assert "'mode': 'audit'" in actual_block

    def test_passing_assertion_returns_none(self):
        assert assert_event_matches({'name': 'x'}, {'name': 'x', 'data': {}}) is None


class TestAssertEventsEqual:

    def test_equal_events_pass(self):
        assert_events_equal({'name': 'x', 'data': {'a': 1}}, {'name': 'x', 'data': {'a': 1}})

    def test_any_extra_field_fails(self):
        with pytest.raises(AssertionError) as raised:
            assert_events_equal({'name': 'x'}, {'name': 'x', 'context': {}})
        assert '* context: only defined in actual' in str(raised.value)
        assert 'Tolerating: nothing (exact match)' in str(raised.value)

    def test_string_payload_is_not_decoded(self):
        with pytest.raises(AssertionError, match='event: .* != .*expected != actual'):
            assert_events_equal({'event': {'a': 'b'}}, {'event': '{"a": "b"}'})


class TestAssertEventsMatch:

    def test_pairwise_in_order_leniently(self):
        assert_events_match(
            [{'name': 'first', 'data': {'a': 'b'}}, {'name': 'second'}],
            [{'name': 'first', 'data': {'a': 'b', 'c': 'd'}, 'context': {}}, {'name': 'second', 'data': {}}],
        )

    def test_wrong_order_fails_with_each_pair(self):
        with pytest.raises(AssertionError) as raised:
            assert_events_match([{'name': 'first'}, {'name': 'second'}], [{'name': 'second'}, {'name': 'first'}])
        message = str(raised.value)
        assert message.startswith('\n'.join([
            'Event [0] does not match expected event [0]:',
            "  * name: 'first' != 'second' (expected != actual)",
            'Event [1] does not match expected event [1]:',
            "  * name: 'second' != 'first' (expected != actual)",
            '',
            'Expected events:',
            '  [0]',
            "    {'name': 'first'}",
        ]))
        assert 'Actual events:\n  [0]\n    {\'name\': \'second\'}' in message
        assert message.endswith('Tolerating: context_extra_fields, payload_extra_fields, '
                                'root_extra_fields, string_payload')

    def test_different_lengths(self):
        with pytest.raises(AssertionError) as raised:
            assert_events_match([{'name': 'a'}, {'name': 'b'}], [{'name': 'a'}])
        assert str(raised.value).startswith('Expected 2 events, got 1.\n')
        with pytest.raises(AssertionError, match=r'^Expected 1 event, got 0\.\n(.|\n)*Actual events:\n  \(none\)'):
            assert_events_match([{'name': 'a'}], [])

    def test_tolerate_applies_to_every_pair(self):
        with pytest.raises(AssertionError, match=r'data.c: only defined in actual'):
            assert_events_match([{'data': {'a': 1}}], [{'data': {'a': 1, 'c': 2}}], tolerate=TOLERATES.default())
