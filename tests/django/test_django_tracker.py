"""DjangoTracker: backends and processors built from settings, the default tracker, the app config."""

import copy
import logging
import subprocess
import sys

import pytest
from django.apps import apps

from eventtracking import tracker
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.django import DjangoTracker, django_tracker
from eventtracking.django.apps import EventTrackingConfig
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.locator import ContextVarLocator, ThreadLocalContextLocator
from eventtracking.processors.regex_filter import RegexFilter
from tests.django.helpers import NamedRoutingBackend, RecordingBackend

ENROLLMENT_EVENTS = ['edx.course.enrollment.activated', 'edx.course.enrollment.deactivated']
ALLOWLIST_FILTER = {
    'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
    'OPTIONS': {'filter_type': 'allowlist', 'regular_expressions': list(ENROLLMENT_EVENTS)},
}
TRACKING_LOGS = {
    'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
    'OPTIONS': {'backends': {'logger': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                        'OPTIONS': {'name': 'tests.tracking_logs', 'max_event_size': 50000}}}},
}


def seed_tree(name, logger_name, outer_engine='tests.django.helpers.NamedRoutingBackend'):
    """The AsyncRoutingBackend / EventBusBackend example of the package description, with real classes.

    The outer ENGINE is a RoutingBackend that takes ``backend_name`` (as the
    Celery and event-bus routing backends do) and the placeholder
    ``'dummy.backend.engine'`` is a LoggerBackend.
    """
    return copy.deepcopy({
        name: {
            'ENGINE': outer_engine,
            'OPTIONS': {
                'backend_name': name,
                'processors': [ALLOWLIST_FILTER],
                'backends': {
                    name: {'ENGINE': 'eventtracking.backends.logger.LoggerBackend', 'OPTIONS': {'name': logger_name}},
                },
            },
        },
        'tracking_logs': TRACKING_LOGS,
    })


def test_setting_names_are_the_originals():
    assert django_tracker.DJANGO_BACKEND_SETTING_NAME == 'EVENT_TRACKING_BACKENDS'
    assert django_tracker.DJANGO_PROCESSOR_SETTING_NAME == 'EVENT_TRACKING_PROCESSORS'
    assert django_tracker.DJANGO_ENABLED_SETTING_NAME == 'EVENT_TRACKING_ENABLED'


@pytest.mark.parametrize('name', ['caliper', 'xapi'])
def test_seed_example_trees_build_and_route(settings, caplog, name):
    settings.EVENT_TRACKING_BACKENDS = seed_tree(name, f'tests.{name}')
    built = DjangoTracker()

    outer = built.get_backend(name)
    assert type(outer) is NamedRoutingBackend
    assert outer.backend_name == name
    assert [type(processor) for processor in outer.processors] == [RegexFilter]
    assert outer.processors[0].filter_type == 'allowlist'
    assert outer.processors[0].regular_expressions == frozenset(ENROLLMENT_EVENTS)
    assert type(outer.backends[name]) is LoggerBackend
    assert outer.backends[name].event_logger.name == f'tests.{name}'
    assert type(built.get_backend('tracking_logs').backends['logger']) is LoggerBackend
    assert list(built.backends) == sorted([name, 'tracking_logs'])

    with caplog.at_level(logging.INFO):
        built.emit('edx.course.enrollment.activated', {'course_id': 'course-v1:edX+DemoX+Demo'})
        built.emit('edx.video.played', {})
    filtered_branch = [record.getMessage() for record in caplog.records if record.name == f'tests.{name}']
    everything = [record.getMessage() for record in caplog.records if record.name == 'tests.tracking_logs']
    assert len(filtered_branch) == 1 and '"edx.course.enrollment.activated"' in filtered_branch[0]
    assert len(everything) == 2


def test_plain_routing_backend_does_not_take_backend_name(settings):
    """RoutingBackend has no backend_name option: the seed tree needs a routing backend that takes it."""
    settings.EVENT_TRACKING_BACKENDS = seed_tree(
        'xapi', 'tests.xapi', outer_engine='eventtracking.backends.routing.RoutingBackend')
    with pytest.raises(TypeError, match='backend_name') as raised:
        DjangoTracker()
    assert "EVENT_TRACKING_BACKENDS['xapi']" in ''.join(raised.value.__notes__)


def test_engine_nodes_are_built_anywhere_in_dicts_and_lists(settings):
    recording = 'tests.django.helpers.RecordingBackend'
    settings.EVENT_TRACKING_BACKENDS = {
        'outer': {
            'ENGINE': recording,
            'OPTIONS': {
                'size': 10,
                'mapping': {'first': {'ENGINE': recording, 'OPTIONS': {'foo': 'bar'}}, 'plain': {'a': [1, 2]}},
                'sequence': [{'ENGINE': recording}, 'text', {'deeper': [{'ENGINE': recording, 'OPTIONS': {'n': 3}}]}],
                'pair': ({'ENGINE': recording}, 7),
            },
        },
    }
    outer = DjangoTracker().get_backend('outer')

    options = outer.options
    assert options['size'] == 10
    assert type(options['mapping']['first']) is RecordingBackend
    assert options['mapping']['first'].options == {'foo': 'bar'}
    assert options['mapping']['plain'] == {'a': [1, 2]}
    assert type(options['sequence'][0]) is RecordingBackend
    assert options['sequence'][1] == 'text'
    assert type(options['sequence'][2]['deeper'][0]) is RecordingBackend
    assert options['sequence'][2]['deeper'][0].options == {'n': 3}
    assert type(options['pair'][0]) is RecordingBackend and options['pair'][1] == 7


def test_settings_are_not_changed_by_building(settings):
    tree = seed_tree('xapi', 'tests.xapi')
    settings.EVENT_TRACKING_BACKENDS = tree
    before = repr(tree)
    DjangoTracker()
    DjangoTracker()
    assert repr(settings.EVENT_TRACKING_BACKENDS) == before


def test_processors_come_from_their_setting_in_order(settings):
    settings.EVENT_TRACKING_BACKENDS = {'recorder': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}
    settings.EVENT_TRACKING_PROCESSORS = [
        {'ENGINE': 'tests.django.helpers.Tagger', 'OPTIONS': {'tag': 'first'}},
        {'ENGINE': 'tests.django.helpers.Tagger', 'OPTIONS': {'tag': 'second'}},
    ]
    built = DjangoTracker()
    assert [processor.tag for processor in built.processors] == ['first', 'second']
    built.emit('some.event', {'a': 1})
    assert built.get_backend('recorder').events[0]['data'] == {'a': 1, 'tagged': 'second'}


def test_custom_setting_names(settings):
    settings.OTHER_BACKENDS = {'recorder': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}
    settings.OTHER_PROCESSORS = [{'ENGINE': 'tests.django.helpers.Tagger', 'OPTIONS': {'tag': 'x'}}]
    built = DjangoTracker(backends_settings_name='OTHER_BACKENDS', processors_settings_name='OTHER_PROCESSORS')
    assert list(built.backends) == ['recorder']
    assert len(built.processors) == 1


def test_missing_settings_give_an_empty_tracker(settings):
    del settings.EVENT_TRACKING_BACKENDS
    del settings.EVENT_TRACKING_PROCESSORS
    built = DjangoTracker()
    assert not built.backends and not built.processors
    built.emit('nowhere', {})


@pytest.mark.parametrize('engine', [
    'no_such_package.backend.engine',
    'eventtracking.backends.logger.NoSuchBackend',
    'nodots',
    'eventtracking.backends.logger.',
])
def test_engine_that_cannot_be_imported_raises_value_error(settings, engine):
    settings.EVENT_TRACKING_BACKENDS = {'broken': {'ENGINE': engine}}
    with pytest.raises(ValueError) as raised:
        DjangoTracker()
    assert str(raised.value) == f'Cannot find class {engine}'
    assert isinstance(raised.value.__cause__, ImportError)
    assert "EVENT_TRACKING_BACKENDS['broken']" in ''.join(raised.value.__notes__)


def test_nested_engine_that_cannot_be_imported_raises_value_error(settings):
    settings.EVENT_TRACKING_BACKENDS = {
        'outer': {'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
                  'OPTIONS': {'processors': [{'ENGINE': 'no_such_package.Processor'}]}},
    }
    with pytest.raises(ValueError) as raised:
        DjangoTracker()
    assert str(raised.value) == 'Cannot find class no_such_package.Processor'
    assert "EVENT_TRACKING_BACKENDS['outer']['OPTIONS']['processors'][0]" in ''.join(raised.value.__notes__)


def test_constructor_errors_propagate(settings):
    settings.EVENT_TRACKING_BACKENDS = {'log': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                                'OPTIONS': {'nmae': 'typo'}}}
    with pytest.raises(TypeError, match='nmae'):
        DjangoTracker()
    settings.EVENT_TRACKING_BACKENDS = {}
    settings.EVENT_TRACKING_PROCESSORS = [{'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                                           'OPTIONS': {'regular_expressions': ['edx.(']}}]
    with pytest.raises(ImproperlyConfigured, match=r'edx\.\('):
        DjangoTracker()


def test_original_helper_methods_still_build_trees():
    built = DjangoTracker.__new__(DjangoTracker)
    tree = {'a': [{'ENGINE': 'tests.django.helpers.RecordingBackend', 'OPTIONS': {'x': 1}}], 'b': 'plain'}
    result = built._instantiate_objects(tree)  # pylint: disable=protected-access
    assert type(result['a'][0]) is RecordingBackend and result['a'][0].options == {'x': 1}
    assert result['b'] == 'plain'
    single = built._instantiate_from_dict({'ENGINE': 'tests.django.helpers.Tagger', 'OPTIONS': {'tag': 't'}})
    assert single.tag == 't'


def test_contexts_are_kept_in_context_variables_by_default(settings):
    settings.EVENT_TRACKING_BACKENDS = {}
    assert type(DjangoTracker().context_locator) is ContextVarLocator


def test_context_locator_setting(settings):
    settings.EVENT_TRACKING_BACKENDS = {}
    settings.EVENT_TRACKING_CONTEXT_LOCATOR = 'eventtracking.locator.ThreadLocalContextLocator'
    assert type(DjangoTracker().context_locator) is ThreadLocalContextLocator
    settings.EVENT_TRACKING_CONTEXT_LOCATOR = 'eventtracking.locator.NoSuchLocator'
    with pytest.raises(ImproperlyConfigured, match='EVENT_TRACKING_CONTEXT_LOCATOR'):
        DjangoTracker()
    settings.EVENT_TRACKING_CONTEXT_LOCATOR = 'eventtracking.processors.exceptions.EventEmissionExit'
    with pytest.raises(ImproperlyConfigured, match='no get'):
        DjangoTracker()


def test_context_locator_argument_wins(settings):
    settings.EVENT_TRACKING_BACKENDS = {}
    locator = ThreadLocalContextLocator()
    assert DjangoTracker(context_locator=locator).context_locator is locator


def test_override_default_tracker_when_enabled(settings):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {'recorder': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}
    django_tracker.override_default_tracker()
    default = tracker.get_tracker()
    assert type(default) is DjangoTracker
    tracker.emit('through.module.function', {'x': 1})
    assert [event['name'] for event in default.get_backend('recorder').events] == ['through.module.function']


@pytest.mark.parametrize('enabled', [False, None])
def test_override_default_tracker_when_not_enabled(settings, enabled):
    tracker.TRACKERS.clear()
    if enabled is None:
        del settings.EVENT_TRACKING_ENABLED
    else:
        settings.EVENT_TRACKING_ENABLED = enabled
    django_tracker.override_default_tracker()
    with pytest.raises(KeyError):
        tracker.get_tracker()


def test_app_config():
    config = apps.get_app_config('eventtracking_django')
    assert type(config) is EventTrackingConfig
    assert config.name == 'eventtracking.django'
    assert config.label == 'eventtracking_django'


def test_ready_registers_a_django_tracker(settings):
    tracker.TRACKERS.clear()
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {'recorder': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}
    apps.get_app_config('eventtracking_django').ready()
    assert type(tracker.get_tracker()) is DjangoTracker


def test_ready_logs_a_broken_configuration_instead_of_crashing(settings, caplog):
    tracker.TRACKERS.clear()
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {'broken': {'ENGINE': 'no_such_package.Backend'}}
    with caplog.at_level(logging.ERROR, logger='eventtracking.django.apps'):
        apps.get_app_config('eventtracking_django').ready()
    assert 'manage.py check' in caplog.text
    assert 'Cannot find class no_such_package.Backend' in caplog.text
    with pytest.raises(KeyError):
        tracker.get_tracker()


def test_routing_backend_subclass_sees_built_children(settings):
    settings.EVENT_TRACKING_BACKENDS = {
        'outer': {'ENGINE': 'eventtracking.backends.routing.RoutingBackend', 'OPTIONS': {
            'backends': {'inner': {'ENGINE': 'tests.django.helpers.RecordingBackend'}}}},
    }
    outer = DjangoTracker().get_backend('outer')
    assert type(outer) is RoutingBackend and type(outer.backends['inner']) is RecordingBackend


def test_importing_without_django_names_the_extra():
    program = (
        "import sys\n"
        "sys.modules['django'] = None\n"
        "import eventtracking.tracker\n"
        "try:\n"
        "    import eventtracking.django\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    result = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, check=True, timeout=60)
    assert "pip install '<eventtracking checkout or wheel>[django]'" in result.stdout


@pytest.mark.parametrize('backends, processors, message', [
    ([{'ENGINE': 'tests.django.helpers.RecordingBackend'}], [], 'EVENT_TRACKING_BACKENDS: must be a dict'),
    ({}, {'ENGINE': 'tests.django.helpers.Tagger'}, 'EVENT_TRACKING_PROCESSORS: must be a list'),
])
def test_settings_of_the_wrong_type_raise_type_error(settings, backends, processors, message):
    settings.EVENT_TRACKING_BACKENDS = backends
    settings.EVENT_TRACKING_PROCESSORS = processors
    with pytest.raises(TypeError, match=message):
        DjangoTracker()


def test_ready_connects_the_event_bus_handler():
    from openedx_events.analytics.signals import TRACKING_EVENT_EMITTED  # pylint: disable=import-outside-toplevel

    from eventtracking.django.apps import connect_event_bus_handler  # pylint: disable=import-outside-toplevel
    from eventtracking.handlers import send_tracking_log_to_backends  # pylint: disable=import-outside-toplevel

    apps.get_app_config('eventtracking_django').ready()
    assert connect_event_bus_handler() is True
    live = [entry[1]() for entry in TRACKING_EVENT_EMITTED.receivers]
    assert live.count(send_tracking_log_to_backends) == 1


def test_without_openedx_events_no_handler_is_connected(monkeypatch):
    from eventtracking.django import apps as apps_module  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(apps_module.importlib.util, 'find_spec', lambda name: None)
    assert apps_module.connect_event_bus_handler() is False
