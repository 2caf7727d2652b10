"""System checks: every configuration mistake reported at start-up with its own id and its setting path."""

import logging

import pytest
from django.core import checks as django_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from eventtracking.django import DjangoTracker
from eventtracking.django.checks import check_event_tracking_settings
from eventtracking.exceptions import ImproperlyConfigured
from tests.django.test_django_tracker import ALLOWLIST_FILTER, TRACKING_LOGS, seed_tree

LOGGER = 'eventtracking.backends.logger.LoggerBackend'
ROUTING = 'eventtracking.backends.routing.RoutingBackend'
REGEX_FILTER = 'eventtracking.processors.regex_filter.RegexFilter'
RECORDER = {'ENGINE': 'tests.django.helpers.RecordingBackend'}


def routing(backends=None, processors=None):
    """An ENGINE node of a RoutingBackend with these children."""
    options = {}
    if backends is not None:
        options['backends'] = backends
    if processors is not None:
        options['processors'] = processors
    return {'ENGINE': ROUTING, 'OPTIONS': options}


@pytest.fixture
def configure(settings):
    """Set the tracking settings (backends, processors, others) and return the check's messages."""
    def run(backends=None, processors=None, **others):
        settings.EVENT_TRACKING_ENABLED = True
        settings.EVENT_TRACKING_BACKENDS = {'r': RECORDER} if backends is None else backends
        settings.EVENT_TRACKING_PROCESSORS = [] if processors is None else processors
        for name, value in others.items():
            setattr(settings, name, value)
        return check_event_tracking_settings()
    return run


def only(messages, check_id):
    """The one message with ``check_id``; fails if there is not exactly one, or any other."""
    assert [message.id for message in messages] == [check_id], [str(message) for message in messages]
    return messages[0]


@pytest.mark.parametrize('name', ['caliper', 'xapi'])
def test_seed_trees_pass(configure, name):
    assert configure(seed_tree(name, f'tests.{name}')) == []


def test_a_complete_valid_configuration_passes(configure):
    messages = configure(
        {'log': TRACKING_LOGS, 'filtered': routing({'r': {'ENGINE': 'tests.django.helpers.RecordingBackend'}},
                                                  [ALLOWLIST_FILTER])},
        [{'ENGINE': 'eventtracking.processors.whitelist.NameWhitelistProcessor', 'OPTIONS': {'whitelist': ['a']}}],
        TRACKING_IGNORE_URL_PATTERNS=[r'^/heartbeat', r'^/static/'],
        EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES=['tests.django.helpers.course_context'],
        EVENT_TRACKING_CONTEXT_LOCATOR='eventtracking.locator.ThreadLocalContextLocator',
    )
    assert messages == []


def test_e001_engine_cannot_be_imported(configure):
    message = only(configure({'xapi': routing({'xapi': {'ENGINE': 'no_such_package.backend.engine'}})}),
                   'eventtracking.E001')
    assert message.level == django_checks.ERROR
    assert message.msg.startswith(
        "EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backends']['xapi']['ENGINE']: "
        "cannot import 'no_such_package.backend.engine'")
    assert "No module named 'no_such_package'" in message.msg


def test_e001_missing_class_in_existing_module(configure):
    message = only(configure(processors=[{'ENGINE': 'eventtracking.processors.regex_filter.RegexFiltr'}]),
                   'eventtracking.E001')
    assert message.msg.startswith("EVENT_TRACKING_PROCESSORS[0]['ENGINE']: cannot import")


@pytest.mark.parametrize('node, path', [
    ({'ENGINE': 42}, "EVENT_TRACKING_BACKENDS['b']['ENGINE']"),
    ({'ENGINE': LOGGER, 'OPTIONS': ['name', 'x']}, "EVENT_TRACKING_BACKENDS['b']['OPTIONS']"),
    ({'OPTIONS': {'name': 'x'}}, "EVENT_TRACKING_BACKENDS['b']"),
])
def test_e002_malformed_node(configure, node, path):
    message = only(configure({'b': node}), 'eventtracking.E002')
    assert message.msg.startswith(f'{path}: ')


def test_e003_option_the_class_does_not_take(configure):
    message = only(configure(seed_tree('xapi', 'tests.xapi', outer_engine=ROUTING)), 'eventtracking.E003')
    assert message.msg == (
        "EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backend_name']: eventtracking.backends.routing.RoutingBackend "
        "does not accept the option 'backend_name' (it accepts: backends, processors)")


def test_e003_uses_the_options_a_kwargs_class_lists(configure):
    message = only(configure({'log': {'ENGINE': LOGGER, 'OPTIONS': {'name': 'x', 'max_size': 10}}}),
                   'eventtracking.E003')
    assert message.msg.startswith("EVENT_TRACKING_BACKENDS['log']['OPTIONS']['max_size']: ")
    assert 'level, max_event_size, name' in message.msg


def test_e003_required_option_missing(configure):
    message = only(configure(processors=[{'ENGINE': 'tests.django.helpers.Strict'}]), 'eventtracking.E003')
    assert message.msg == "EVENT_TRACKING_PROCESSORS[0]['OPTIONS']: tests.django.helpers.Strict requires the option(s) size"


@pytest.mark.parametrize('backends, processors, path, text', [
    (None, [{'ENGINE': 'tests.django.helpers.Strict', 'OPTIONS': {'size': -1}}],
     'EVENT_TRACKING_PROCESSORS[0]', 'ValueError: size must not be negative'),
    ({'log': {'ENGINE': LOGGER, 'OPTIONS': {'level': 'loud'}}}, [],
     "EVENT_TRACKING_BACKENDS['log']", "ImproperlyConfigured: LoggerBackend level must be one of"),
    (None, [{'ENGINE': 'eventtracking.processors.whitelist.NameWhitelistProcessor', 'OPTIONS': {'whitelist': 'abc'}}],
     'EVENT_TRACKING_PROCESSORS[0]', 'TypeError: The NameWhitelistProcessor must be passed a collection'),
])
def test_e004_constructor_raised(configure, backends, processors, path, text):
    message = only(configure(backends, processors), 'eventtracking.E004')
    assert message.msg.startswith(f'{path}: ')
    assert text in message.msg


@pytest.mark.parametrize('backends, path', [
    ({'nosend': {'ENGINE': 'tests.django.helpers.NoSend'}}, "EVENT_TRACKING_BACKENDS['nosend']"),
    ({'outer': routing({'inner': {'ENGINE': REGEX_FILTER}})}, "EVENT_TRACKING_BACKENDS['outer']['OPTIONS']['backends']['inner']"),
    ({'text': 'eventtracking.backends.logger.LoggerBackend'}, "EVENT_TRACKING_BACKENDS['text']"),
])
def test_e005_backend_without_send(configure, backends, path):
    message = only(configure(backends), 'eventtracking.E005')
    assert message.msg.startswith(f'{path}: used as a backend')


def test_e006_processor_not_callable_names_the_path(configure):
    tree = seed_tree('xapi', 'tests.xapi')
    tree['xapi']['OPTIONS']['processors'] = [{'ENGINE': 'tests.django.helpers.NotCallable'}]
    message = only(configure(tree), 'eventtracking.E006')
    assert message.msg.startswith("EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['processors'][0]: used as a processor")


def test_e006_top_level_processor(configure):
    message = only(configure(processors=[{'ENGINE': LOGGER}]), 'eventtracking.E006')
    assert message.msg.startswith('EVENT_TRACKING_PROCESSORS[0]: used as a processor, but an instance of '
                                  'eventtracking.backends.logger.LoggerBackend is not callable')


def test_e007_bad_regular_expression(configure):
    tree = seed_tree('xapi', 'tests.xapi')
    tree['xapi']['OPTIONS']['processors'] = [
        {'ENGINE': REGEX_FILTER, 'OPTIONS': {'regular_expressions': ['edx.course.enrollment.activated', 'edx.(']}}]
    message = only(configure(tree), 'eventtracking.E007')
    assert message.msg.startswith(
        "EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['processors'][0]['OPTIONS']['regular_expressions'][1]: "
        "'edx.(' is not a valid regular expression")


def test_e007_expressions_not_a_list(configure):
    message = only(configure(processors=[{'ENGINE': REGEX_FILTER, 'OPTIONS': {'regular_expressions': 'edx.*'}}]),
                   'eventtracking.E007')
    assert message.msg.startswith("EVENT_TRACKING_PROCESSORS[0]['OPTIONS']['regular_expressions']: must be a list")


def test_e008_bad_filter_type(configure):
    message = only(configure(processors=[{'ENGINE': REGEX_FILTER, 'OPTIONS': {'filter_type': 'whitelist'}}]),
                   'eventtracking.E008')
    assert message.msg == ("EVENT_TRACKING_PROCESSORS[0]['OPTIONS']['filter_type']: 'whitelist' is not a RegexFilter "
                           "filter type: use 'allowlist' or 'blocklist'")


def test_e009_settings_of_the_wrong_type(configure):
    messages = configure([{'ENGINE': LOGGER}], {'ENGINE': REGEX_FILTER})
    assert [message.id for message in messages] == ['eventtracking.E009', 'eventtracking.E009']
    assert messages[0].msg.startswith('EVENT_TRACKING_BACKENDS: must be a dict')
    assert messages[1].msg.startswith('EVENT_TRACKING_PROCESSORS: must be a list')


def test_e010_bad_ignore_pattern(configure):
    message = only(configure(TRACKING_IGNORE_URL_PATTERNS=[r'^/ok', r'^/broken(']), 'eventtracking.E010')
    assert message.msg.startswith("TRACKING_IGNORE_URL_PATTERNS[1]: '^/broken(' is not a valid regular expression")


@pytest.mark.parametrize('entry, text', [
    ('tests.django.helpers.no_such_function', 'does not define'),
    ('tests.django.helpers.NOT_A_FUNCTION', 'is not callable'),
])
def test_e011_bad_context_callable(configure, entry, text):
    message = only(configure(EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES=['tests.django.helpers.course_context', entry]),
                   'eventtracking.E011')
    assert message.msg.startswith('EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES[1]: ')
    assert text in message.msg


def test_e012_bad_context_locator(configure):
    message = only(configure(EVENT_TRACKING_CONTEXT_LOCATOR='eventtracking.locator.NoSuchLocator'), 'eventtracking.E012')
    assert 'EVENT_TRACKING_CONTEXT_LOCATOR' in message.msg


def test_w001_unknown_key_next_to_engine(configure):
    message = only(configure({'log': {'ENGINE': LOGGER, 'OPTION': {'name': 'x'}}}), 'eventtracking.W001')
    assert message.level == django_checks.WARNING
    assert message.msg.startswith("EVENT_TRACKING_BACKENDS['log']['OPTION']: ignored")
    assert message.hint == "Did you mean 'OPTIONS'?"


def test_w002_middleware_before_authentication(configure):
    messages = configure(MIDDLEWARE=[
        'eventtracking.django.middleware.TrackMiddleware',
        'django.contrib.sessions.middleware.SessionMiddleware',
        'django.contrib.auth.middleware.AuthenticationMiddleware',
    ])
    assert [message.id for message in messages] == ['eventtracking.W002', 'eventtracking.W002']


def test_w003_backends_without_enabled(settings, configure):
    configure({'log': TRACKING_LOGS})
    del settings.EVENT_TRACKING_ENABLED
    only(check_event_tracking_settings(), 'eventtracking.W003')


def test_every_problem_is_reported_at_once_and_only_where_it_is(configure):
    tree = seed_tree('xapi', 'tests.xapi', outer_engine=ROUTING)
    tree['xapi']['OPTIONS']['processors'].append({'ENGINE': REGEX_FILTER, 'OPTIONS': {'filter_type': 'both'}})
    tree['xapi']['OPTIONS']['backends']['xapi']['ENGINE'] = 'dummy_placeholder.backend.engine'
    messages = configure(tree, [{'ENGINE': 'tests.django.helpers.NotCallable'}])
    assert sorted(message.id for message in messages) == [
        'eventtracking.E001', 'eventtracking.E003', 'eventtracking.E006', 'eventtracking.E008']
    assert not any(message.id == 'eventtracking.E004' for message in messages)


BAD_CONFIGURATIONS = {
    'import': ({'b': {'ENGINE': 'no_such_package.Backend'}}, []),
    'option': ({'b': {'ENGINE': LOGGER, 'OPTIONS': {'nmae': 'x'}}}, []),
    'constructor': ({'b': {'ENGINE': LOGGER, 'OPTIONS': {'level': 'loud'}}}, []),
    'send': ({'outer': routing({'inner': {'ENGINE': 'tests.django.helpers.NoSend'}})}, []),
    'callable': ({}, [{'ENGINE': 'tests.django.helpers.NotCallable'}]),
    'regex': ({}, [{'ENGINE': REGEX_FILTER, 'OPTIONS': {'regular_expressions': ['(']}}]),
    'filter type': ({}, [{'ENGINE': REGEX_FILTER, 'OPTIONS': {'filter_type': 'whitelist'}}]),
}


@pytest.mark.parametrize('name', sorted(BAD_CONFIGURATIONS))
def test_what_the_checks_reject_the_tracker_refuses_to_build(configure, name):
    """The checks and the construction agree: an error found at start-up is never discovered at emit time."""
    backends, processors = BAD_CONFIGURATIONS[name]
    assert any(message.is_serious() for message in configure(backends, processors))
    with pytest.raises((ValueError, TypeError, ImproperlyConfigured)):
        DjangoTracker()


def test_manage_py_check_reports_the_errors(configure):
    tree = seed_tree('xapi', 'tests.xapi')
    tree['xapi']['OPTIONS']['processors'][0]['OPTIONS']['regular_expressions'] = ['edx.(']
    configure(tree)
    with pytest.raises(SystemCheckError) as raised:
        call_command('check')
    report = str(raised.value)
    assert '(eventtracking.E007)' in report
    assert "EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['processors'][0]['OPTIONS']['regular_expressions'][0]" in report


def test_manage_py_check_with_the_tag(configure, capsys):
    configure(seed_tree('xapi', 'tests.xapi'))
    call_command('check', tags=['eventtracking'])
    assert 'System check identified no issues' in capsys.readouterr().out


def test_processors_in_a_tuple_are_checked_too(configure):
    message = only(configure({'outer': routing({}, ({'ENGINE': 'tests.django.helpers.NotCallable'},))}),
                   'eventtracking.E006')
    assert message.msg.startswith("EVENT_TRACKING_BACKENDS['outer']['OPTIONS']['processors'][0]: ")


def test_non_string_keys_next_to_engine(configure):
    only(configure({'log': {'ENGINE': LOGGER, 1: 'x'}}), 'eventtracking.W001')


LOGGER = 'eventtracking.backends.logger.LoggerBackend'
SEGMENT = 'eventtracking.backends.segment.SegmentBackend'


@pytest.fixture
def tracking_logger():
    """The logger 'tests.checks.tracking', without level or handler, not propagating; restored afterwards."""
    logger = logging.getLogger('tests.checks.tracking')
    saved = logger.handlers[:], logger.level, logger.propagate, logger.disabled
    logger.handlers[:] = []
    logger.propagate = False
    yield logger
    logger.handlers[:], level, logger.propagate, logger.disabled = saved
    logger.setLevel(level)


def logger_backend(level='info'):
    return {'ENGINE': LOGGER, 'OPTIONS': {'name': 'tests.checks.tracking', 'level': level}}


def test_w060_a_logger_whose_level_is_above_the_backend_s(configure, tracking_logger):
    tracking_logger.addHandler(logging.NullHandler())
    tracking_logger.setLevel(logging.WARNING)

    message = only(configure({'outer': routing({'log': logger_backend()})}), 'eventtracking.W060')

    assert "EVENT_TRACKING_BACKENDS['outer']['OPTIONS']['backends']['log']" in message.msg
    assert 'effective level WARNING' in message.msg and 'INFO' in message.hint


def test_w060_a_disabled_logger(configure, tracking_logger):
    tracking_logger.addHandler(logging.NullHandler())
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.disabled = True

    assert 'is disabled' in only(configure({'log': logger_backend()}), 'eventtracking.W060').msg


def test_w060_every_handler_s_level_is_above_the_backend_s(configure, tracking_logger):
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()  # pytest's log capture may have put its handlers here for the test's call
    tracking_logger.addHandler(logging.NullHandler(logging.WARNING))

    message = only(configure({'log': logger_backend()}), 'eventtracking.W060')

    assert 'every handler' in message.msg and '(WARNING)' in message.msg and "LOGGING['handlers']" in message.hint
    tracking_logger.addHandler(logging.NullHandler(logging.INFO))  # one handler that writes is enough
    assert configure({'log': logger_backend()}) == []


def test_w061_a_logger_without_any_handler(configure, tracking_logger):
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()  # pytest's log capture may have put its handlers here for the test's call

    message = only(configure({'log': logger_backend()}), 'eventtracking.W061')

    assert "EVENT_TRACKING_BACKENDS['log']" in message.msg and 'no handler' in message.msg


def test_no_warning_when_the_last_resort_takes_the_lines_or_a_handler_does(configure, tracking_logger):
    tracking_logger.setLevel(logging.INFO)
    tracking_logger.handlers.clear()  # as above
    assert configure({'log': logger_backend('warning')}) == []

    tracking_logger.addHandler(logging.NullHandler())
    assert configure({'log': logger_backend()}) == []


def test_w066_a_segment_client_without_a_write_key(configure, monkeypatch):
    from eventtracking.backends import segment  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(segment.analytics, 'default_client', None)
    monkeypatch.setattr(segment.analytics, 'write_key', None)
    message = only(configure({'segment': {'ENGINE': SEGMENT}}), 'eventtracking.W066')
    assert "EVENT_TRACKING_BACKENDS['segment']" in message.msg

    monkeypatch.setattr(segment.analytics, 'write_key', 'a-write-key')
    assert configure({'segment': {'ENGINE': SEGMENT}}) == []


def test_w065_a_segment_backend_without_the_library_warned_by_the_check_and_logged_once(
        configure, monkeypatch, caplog):
    from eventtracking.backends import segment  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(segment, 'analytics', None)
    monkeypatch.setattr(segment, '_UNAVAILABLE_SAID', [])

    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.segment'):
        messages = configure({'segment': {'ENGINE': SEGMENT}})
        DjangoTracker()  # the tracker built after the checks, as at start-up

    assert "pip install 'eventtracking[segment]'" in only(messages, 'eventtracking.W065').hint
    assert len([record for record in caplog.records if 'not installed' in record.getMessage()]) == 1
