"""compat/run.py's verdict: the original's tests that failed, judged against the list of expected failures."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(name='runner', scope='module')
def fixture_runner():
    spec = importlib.util.spec_from_file_location('compat_run', os.path.join(ROOT, 'compat', 'run.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


JUNIT = '''<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="eventtracking.backends.tests.test_mongodb.TestMongoBackend" name="test_authentication_settings">
    <failure message="no authenticate">...</failure></testcase>
  <testcase classname="eventtracking.backends.tests.test_mongodb_integration.TestMongoIntegration"
            name="test_sequential_events"><failure message="refused">...</failure></testcase>
  <testcase classname="eventtracking.backends.tests.test_mongodb_integration.TestMongoIntegration"
            name="test_sequential_events"><error message="teardown">...</error></testcase>
  <testcase classname="eventtracking.backends.tests.test_mongodb_performance.TestBackendPerformance"
            name="test_sequential_events"/>
  <testcase classname="eventtracking.tests.test_track" name="test_module_level_function"/>
  <testcase classname="eventtracking.backends.tests.test_segment.TestSegmentBackend" name="test_simple_emit">
    <failure message="not called">...</failure></testcase>
</testsuite></testsuites>
'''


def test_outcomes_are_read_by_test_id_and_a_teardown_error_fails_the_test(runner, tmp_path):
    path = tmp_path / 'results.xml'
    path.write_text(JUNIT)
    assert runner.outcomes(str(path)) == {
        runner.AUTHENTICATION: 'failed',
        runner.MONGODB_INTEGRATION[0]: 'failed',
        runner.MONGODB_INTEGRATION[1]: 'passed',
        'eventtracking/tests/test_track.py::test_module_level_function': 'passed',
        'eventtracking/backends/tests/test_segment.py::TestSegmentBackend::test_simple_emit': 'failed',
    }


def test_an_unexpected_failure_fails_the_run_and_is_named(runner, tmp_path):
    path = tmp_path / 'results.xml'
    path.write_text(JUNIT)
    lines, as_expected = runner.judge(runner.outcomes(str(path)), runner.expected_failures(mongodb_answers=False))
    assert not as_expected
    text = '\n'.join(lines)
    assert 'unexpected failures: 1\n  eventtracking/backends/tests/test_segment.py::TestSegmentBackend::test_simple_emit' \
        in text
    assert 'expected to fail but passed (update compat/run.py): 1' in text  # the performance test passed
    assert lines[-1].startswith('compat FAILED on ')
    assert lines[-1].endswith(': 2 passed, 2 expected failures, 2 unexpected')


def test_only_the_listed_failures_with_their_reasons_make_a_passing_run(runner):
    results = {runner.AUTHENTICATION: 'failed', 'eventtracking/tests/test_track.py::test_emit': 'passed'}
    results.update(dict.fromkeys(runner.MONGODB_INTEGRATION, 'failed'))
    lines, as_expected = runner.judge(results, runner.expected_failures(mongodb_answers=False))
    assert as_expected
    assert 'why: needs a MongoDB server on localhost:27017; none answers here' in '\n'.join(lines)
    assert lines[-1].endswith(': 1 passed, 3 expected failures, 0 unexpected')
    _, with_a_server = runner.judge(results, runner.expected_failures(mongodb_answers=True))
    assert not with_a_server, 'with a server answering, the integration tests must pass'
