"""System checks a newcomer needs: dead ends that lose every event (W080-W082), and classes subclassing dict."""

from collections import OrderedDict

import pytest
from django.core.management import call_command

from eventtracking.django import DjangoTracker
from eventtracking.django.checks import check_event_tracking_settings

ROUTING = 'eventtracking.backends.routing.RoutingBackend'
RECORDER = {'ENGINE': 'tests.django.helpers.RecordingBackend'}
HERE = __name__


class DictBackend(dict):
    """A valid backend whose class subclasses dict (it keeps the events it is sent under their names)."""

    def send(self, event):
        self.setdefault(event['name'], []).append(event)


class DictProcessor(OrderedDict):
    """A valid processor whose class subclasses dict: it counts the events it sees by name."""

    def __call__(self, event):
        self[event['name']] = self.get(event['name'], 0) + 1
        return event


class DictNotCallable(OrderedDict):
    """Dict-like, but neither a backend nor a processor."""


def messages(settings, **values):
    """Set the tracking settings (enabled unless told) and return the check's messages as ``(id, text)``."""
    values.setdefault('EVENT_TRACKING_ENABLED', True)
    for name, value in values.items():
        setattr(settings, name, value)
    return [(message.id, message.msg) for message in check_event_tracking_settings()]


def test_backend_and_processor_classes_that_subclass_dict_pass_the_checks_and_work(settings):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {
        'dict': {'ENGINE': f'{HERE}.DictBackend'},
        'routed': {'ENGINE': ROUTING, 'OPTIONS': {
            'backends': {'dict': {'ENGINE': f'{HERE}.DictBackend'}},
            'processors': [{'ENGINE': f'{HERE}.DictProcessor'}],
        }},
    }
    settings.EVENT_TRACKING_PROCESSORS = [{'ENGINE': f'{HERE}.DictProcessor'}]
    assert check_event_tracking_settings() == []
    call_command('check', tags=['eventtracking'])

    built = DjangoTracker()
    built.emit('edx.dict.works', {'n': 1})
    assert [event['data'] for event in built.get_backend('dict')['edx.dict.works']] == [{'n': 1}]
    assert built.processors[0] == {'edx.dict.works': 1}


def test_a_dict_like_processor_that_is_not_callable_is_reported_as_not_callable(settings):
    found = messages(settings, EVENT_TRACKING_BACKENDS={'r': RECORDER},
                     EVENT_TRACKING_PROCESSORS=[{'ENGINE': f'{HERE}.DictNotCallable'}])
    assert found == [('eventtracking.E006', 'EVENT_TRACKING_PROCESSORS[0]: used as a processor, but an instance of '
                                            f'{HERE}.DictNotCallable is not callable')]


def test_a_dict_like_backend_without_send_is_reported_as_such(settings):
    found = messages(settings, EVENT_TRACKING_BACKENDS={'b': {'ENGINE': f'{HERE}.DictNotCallable'}})
    assert found == [('eventtracking.E005', "EVENT_TRACKING_BACKENDS['b']: used as a backend, but an instance of "
                                            f'{HERE}.DictNotCallable has no callable "send" method')]


def test_a_plain_dict_without_engine_is_still_malformed(settings):
    found = messages(settings, EVENT_TRACKING_BACKENDS={'b': {'OPTIONS': {}}},
                     EVENT_TRACKING_PROCESSORS=[OrderedDict(OPTIONS={})])
    assert [check_id for check_id, _ in found] == ['eventtracking.E002', 'eventtracking.E002']
    assert all("has no 'ENGINE' key" in text for _, text in found)


def test_w080_enabled_without_backends(settings):
    del settings.EVENT_TRACKING_BACKENDS
    found = messages(settings, EVENT_TRACKING_ENABLED=True)
    assert found == [('eventtracking.W080', 'EVENT_TRACKING_ENABLED is True but EVENT_TRACKING_BACKENDS is not set, '
                                            'so the default tracker has no backend and every event goes nowhere')]


def test_w082_enabled_with_backends_set_but_empty(settings):
    found = messages(settings, EVENT_TRACKING_ENABLED=True, EVENT_TRACKING_BACKENDS={})
    assert found == [('eventtracking.W082', 'EVENT_TRACKING_ENABLED is True but EVENT_TRACKING_BACKENDS is empty, '
                                            'so the default tracker has no backend and every event goes nowhere')]
    assert messages(settings, EVENT_TRACKING_ENABLED=False, EVENT_TRACKING_BACKENDS={}) == []


def test_w082_can_be_silenced_when_sending_nowhere_is_intended(settings, capsys):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {}
    call_command('check', tags=['eventtracking'])
    assert 'eventtracking.W082' in capsys.readouterr().err
    settings.SILENCED_SYSTEM_CHECKS = ['eventtracking.W082']
    call_command('check', tags=['eventtracking'])
    assert 'W082' not in capsys.readouterr().err


@pytest.mark.parametrize('values', [
    {'EVENT_TRACKING_ENABLED': False},
    {'EVENT_TRACKING_ENABLED': True, 'EVENT_TRACKING_BACKENDS': {'r': RECORDER}},
])
def test_no_w080_when_backends_are_set_or_tracking_is_off(settings, values):
    if 'EVENT_TRACKING_BACKENDS' not in values and hasattr(settings, 'EVENT_TRACKING_BACKENDS'):
        del settings.EVENT_TRACKING_BACKENDS
    assert messages(settings, **values) == []


def test_w081_a_routing_backend_without_backends_anywhere_in_the_tree(settings):
    found = messages(
        settings, EVENT_TRACKING_ENABLED=True,
        EVENT_TRACKING_BACKENDS={
            'top': {'ENGINE': ROUTING},
            'outer': {'ENGINE': ROUTING, 'OPTIONS': {'backends': {
                'inner': {'ENGINE': ROUTING, 'OPTIONS': {'backends': {}, 'processors': []}},
                'fine': {'ENGINE': ROUTING, 'OPTIONS': {'backends': {'r': RECORDER}}},
            }}},
        },
        EVENT_TRACKING_PROCESSORS=[],
    )
    assert found == [
        ('eventtracking.W081', "EVENT_TRACKING_BACKENDS['top']: RoutingBackend has no backends, so every event it is "
                               'sent goes nowhere'),
        ('eventtracking.W081', "EVENT_TRACKING_BACKENDS['outer']['OPTIONS']['backends']['inner']: RoutingBackend has "
                               'no backends, so every event it is sent goes nowhere'),
    ]

