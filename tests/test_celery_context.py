"""Contexts carried into Celery tasks: a real worker (a thread, solo pool) consuming from Redis on loopback."""

import json
import threading
import uuid
from datetime import datetime, timezone

import pytest
from celery import chain, group, shared_task

from eventtracking import celery as celery_context
from eventtracking import tracker
from eventtracking.locator import ThreadLocalContextLocator
from tests.servers import CollectingBackend

pytestmark = pytest.mark.server

RAN = 'tests.celery_context.ran'


def report(label, **extra):
    """Emit, from inside a task, which contexts are entered (names in order) and under what label."""
    stack = list(tracker.get_tracker().located_context.keys())
    tracker.emit(RAN, dict(extra, label=label, stack=stack, thread=threading.current_thread().name))


@shared_task(name='tests.celery_context.report_context')
def report_context(label):
    """A task that only reports its contexts."""
    report(label)


@shared_task(name='tests.celery_context.fail_after_report')
def fail_after_report(label):
    """A task that reports its contexts, then fails."""
    report(label)
    raise ValueError('this task always fails')


@shared_task(name='tests.celery_context.retry_twice', bind=True, max_retries=3)
def retry_twice(self, label):
    """Reports on every run; the first two runs enter a context of their own and then ask for a retry."""
    report(label, retries=self.request.retries)
    if self.request.retries < 2:
        with tracker.get_tracker().context('attempt', {'attempt': self.request.retries}):
            raise self.retry(countdown=0)


@shared_task(name='tests.celery_context.enter_in_worker')
def enter_in_worker(name, ctx):
    """Enter a context in the worker thread and leave it entered, as a worker-wide context set at start-up is."""
    tracker.get_tracker().enter_context(name, ctx)


@pytest.fixture(autouse=True)
def fresh_log():
    """Every test sees the first log line of each kind (none held back by an earlier test's)."""
    celery_context.RATE_LIMITED_LOG.reset()


@pytest.fixture
def propagating():
    """Propagation on in this process (publisher and worker) for the test; off again afterwards."""
    celery_context.propagate_context()
    yield
    celery_context.stop_propagating()


@pytest.fixture
def collected(register_default_tracker):
    """A default tracker with one stack of contexts per thread, whose events are collected."""
    backend = CollectingBackend()
    register_default_tracker(tracker.Tracker(backends={'collected': backend},
                                             context_locator=ThreadLocalContextLocator()))
    return backend


def reports(backend, label, count=1):
    """The events a task labelled ``label`` emitted in the worker (waits for ``count`` of them)."""
    def mine():
        return [event for event in backend.events if event['name'] == RAN and event['data']['label'] == label]

    with backend._condition:  # pylint: disable=protected-access
        backend._condition.wait_for(lambda: len(mine()) >= count, timeout=30)  # pylint: disable=protected-access
    found = mine()
    assert len(found) >= count, f'{label}: {len(found)} of {count} reports arrived'
    assert all(event['data']['thread'] != threading.current_thread().name for event in found)
    return found


def new_label():
    return uuid.uuid4().hex


def test_a_task_published_with_delay_carries_the_entered_context(celery_worker_thread, propagating, collected):
    label = new_label()
    with tracker.get_tracker().context('course', {'course_id': 'course-v1:edX+DemoX+Demo'}):
        report_context.delay(label)

    event = reports(collected, label)[0]
    assert event['context'] == {'course_id': 'course-v1:edX+DemoX+Demo'}
    assert event['data']['stack'] == ['course']


def test_nested_contexts_keep_their_names_and_order(celery_worker_thread, propagating, collected):
    label = new_label()
    default = tracker.get_tracker()
    with default.context('user', {'user_id': 7, 'shared': 'user'}):
        with default.context('course', {'course_id': 'C', 'shared': 'course'}):
            with default.context('request', {'path': '/x', 'ok': True, 'ratio': 0.5, 'none': None, 'list': [1]}):
                report_context.apply_async(args=(label,))

    event = reports(collected, label)[0]
    assert event['data']['stack'] == ['user', 'course', 'request']
    assert event['context'] == {'user_id': 7, 'course_id': 'C', 'shared': 'course', 'path': '/x', 'ok': True,
                                'ratio': 0.5, 'none': None, 'list': [1]}


def test_each_step_of_a_chain_and_each_task_of_a_group_carry_it(celery_worker_thread, propagating, collected):
    first, second, third, fourth = (new_label() for _ in range(4))
    with tracker.get_tracker().context('course', {'course_id': 'chained'}):
        chain(report_context.si(first), report_context.si(second)).apply_async()
        group(report_context.si(third), report_context.si(fourth)).apply_async()

    for label in (first, second, third, fourth):
        event = reports(collected, label)[0]
        assert event['context'] == {'course_id': 'chained'}, label
        assert event['data']['stack'] == ['course'], label


def test_every_retry_carries_the_context_of_the_first_run(celery_worker_thread, propagating, collected):
    label = new_label()
    with tracker.get_tracker().context('course', {'course_id': 'retried'}):
        retry_twice.delay(label)

    runs = reports(collected, label, count=3)
    assert [event['data']['retries'] for event in runs] == [0, 1, 2]
    for event in runs:
        assert event['context'] == {'course_id': 'retried'}
        assert event['data']['stack'] == ['course']


def test_contexts_are_exited_after_a_failing_task_and_do_not_leak_into_the_next(
        celery_worker_thread, propagating, collected):
    failing, after, other = new_label(), new_label(), new_label()
    default = tracker.get_tracker()
    with default.context('course', {'course_id': 'A'}):
        fail_after_report.delay(failing)
    reports(collected, failing)
    report_context.delay(after)
    with default.context('user', {'user_id': 2}):
        report_context.delay(other)

    assert reports(collected, failing)[0]['context'] == {'course_id': 'A'}
    nothing = reports(collected, after)[0]
    assert nothing['context'] == {}
    assert nothing['data']['stack'] == []
    assert nothing['data']['thread'] == reports(collected, failing)[0]['data']['thread']
    assert reports(collected, other)[0]['context'] == {'user_id': 2}
    assert reports(collected, other)[0]['data']['stack'] == ['user']


def test_a_worker_context_of_the_same_name_is_replaced_for_the_run_and_put_back(
        celery_worker_thread, propagating, collected):
    during, after = new_label(), new_label()
    enter_in_worker.delay('site', {'site': 'worker'})
    default = tracker.get_tracker()
    with default.context('course', {'course_id': 'C'}), default.context('site', {'site': 'request'}):
        report_context.delay(during)
    report_context.delay(after)

    assert reports(collected, during)[0]['data']['stack'] == ['course', 'site']
    assert reports(collected, during)[0]['context'] == {'course_id': 'C', 'site': 'request'}
    assert reports(collected, after)[0]['data']['stack'] == ['site']
    assert reports(collected, after)[0]['context'] == {'site': 'worker'}


def test_a_task_published_with_no_context_enters_nothing(celery_worker_thread, propagating, collected):
    headers = {'id': 'not-a-running-task'}
    celery_context.add_context_header(headers=headers)
    assert celery_context.HEADER not in headers

    label = new_label()
    report_context.delay(label)
    event = reports(collected, label)[0]
    assert event['context'] == {}
    assert event['data']['stack'] == []


def test_this_librarys_own_tasks_carry_no_context_header(propagating):  # pylint: disable=unused-argument
    tracker.register_tracker(tracker.Tracker())
    with tracker.get_tracker().context('request', {'user_id': 7}):
        for task in sorted(celery_context.OWN_TASKS):
            headers = {}
            celery_context.add_context_header(sender=task, headers=headers)
            assert headers == {}, task
        headers = {}
        celery_context.add_context_header(sender='myapp.tasks.grade', headers=headers)
    assert celery_context.HEADER in headers


def test_only_json_contexts_travel(celery_worker_thread, propagating, collected, caplog):
    label = new_label()
    default = tracker.get_tracker()
    with default.context('course', {'course_id': 'C'}), \
            default.context('when', {'at': datetime(2026, 11, 30, tzinfo=timezone.utc)}), \
            default.context('user', {'user_id': 3}):
        report_context.delay(label)

    event = reports(collected, label)[0]
    assert event['data']['stack'] == ['course', 'user']
    assert event['context'] == {'course_id': 'C', 'user_id': 3}
    assert "Context 'when' is not sent with tasks" in caplog.text
    assert '2026' not in caplog.text


def test_an_oversize_context_is_not_sent_and_is_counted(celery_worker_thread, collected, caplog):
    celery_context.propagate_context(max_bytes=100)
    try:
        label, small = new_label(), new_label()
        default = tracker.get_tracker()
        with default.context('course', {'course_id': 'secret-value-' + 'x' * 200}):
            report_context.delay(label)
        with default.context('course', {'course_id': 'short'}):
            report_context.delay(small)

        event = reports(collected, label)[0]
        assert event['context'] == {}
        assert event['data']['stack'] == []
        assert reports(collected, small)[0]['context'] == {'course_id': 'short'}
        assert default.stats == {'context_too_large': 1}
        assert 'over the limit of 100' in caplog.text
        assert "'course'" in caplog.text
        assert 'secret-value' not in caplog.text
    finally:
        celery_context.stop_propagating()


def test_a_worker_without_propagation_ignores_the_header(celery_worker_thread, celery_broker_app, collected):
    published = []

    def keep_header(headers=None, **kwargs):  # pylint: disable=unused-argument
        published.append(headers.get(celery_context.HEADER))

    other_app = object()
    celery_context.propagate_context(app=other_app)  # the publishing side for any app; the worker side only there
    from celery.signals import before_task_publish  # pylint: disable=import-outside-toplevel
    before_task_publish.connect(keep_header, weak=False, dispatch_uid='tests.keep_header')
    try:
        label = new_label()
        with tracker.get_tracker().context('course', {'course_id': 'ignored'}):
            report_context.delay(label)
        event = reports(collected, label)[0]
    finally:
        before_task_publish.disconnect(dispatch_uid='tests.keep_header')
        celery_context.stop_propagating()

    assert json.loads(published[0]) == [['course', {'course_id': 'ignored'}]]
    assert report_context.app is celery_broker_app
    assert event['context'] == {}
    assert event['data']['stack'] == []


def test_propagate_context_is_idempotent(celery_worker_thread, collected):
    celery_context.propagate_context()
    celery_context.propagate_context()
    try:
        label = new_label()
        with tracker.get_tracker().context('course', {'course_id': 'once'}):
            report_context.delay(label)
        assert reports(collected, label)[0]['data']['stack'] == ['course']
    finally:
        celery_context.stop_propagating()


def test_run_eagerly_the_task_sees_the_callers_contexts_and_leaves_them_entered(propagating, collected):
    label = new_label()
    default = tracker.get_tracker()
    with default.context('course', {'course_id': 'eager'}):
        report_context.apply(args=(label,))
        assert list(default.located_context.keys()) == ['course']

    event = [event for event in collected.events if event['data']['label'] == label][0]
    assert event['context'] == {'course_id': 'eager'}
    assert event['data']['thread'] == threading.current_thread().name


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '8192'])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match='max_bytes must be a positive integer'):
        celery_context.propagate_context(max_bytes=bad)


def run_with_header(collected, header, label=None):
    """Publish ``report_context`` with ``header`` as its context header, as a hostile publisher would."""
    label = label or new_label()
    report_context.apply_async(args=(label,), headers={celery_context.HEADER: header})
    return reports(collected, label)[0]


def test_a_header_naming_a_context_twice_is_ignored_and_leaks_into_no_later_task(
        celery_worker_thread, propagating, collected, caplog):
    header = json.dumps([['leak', {'secret': 'secret-value'}], ['leak', {'x': 1}]])
    event = run_with_header(collected, header)
    after = new_label()
    report_context.delay(after)

    assert event['context'] == {}
    assert event['data']['stack'] == []
    assert reports(collected, after)[0]['context'] == {}
    assert reports(collected, after)[0]['data']['stack'] == []
    assert tracker.get_tracker().stats == {'context_invalid': 1}
    assert 'it names a context twice' in caplog.text
    assert 'secret' not in caplog.text and 'leak' not in caplog.text


@pytest.mark.parametrize('header, reason', [
    ('[' * 100_000 + ']' * 100_000, 'nested more than 32 levels deep'),
    (json.dumps([['deep', {'a': json.loads('[' * 40 + ']' * 40)}]]), 'nested more than 32 levels deep'),
    ('not json', 'it is not JSON'),
    (json.dumps({'course': {'course_id': 'C'}}), 'not a list of [name, dict] pairs'),
    (json.dumps([['course', ['not', 'a', 'dict']]]), 'not a list of [name, dict] pairs'),
    (json.dumps([[7, {}]]), 'not a list of [name, dict] pairs'),
], ids=['100k-deep', 'deep-context', 'not-json', 'an-object', 'context-not-a-dict', 'name-not-a-string'])
def test_a_malformed_header_is_ignored_counted_and_logged_by_reason(
        celery_worker_thread, collected, caplog, header, reason):
    celery_context.propagate_context(max_bytes=1_000_000)
    try:
        event = run_with_header(collected, header)
    finally:
        celery_context.stop_propagating()
    assert event['context'] == {}
    assert event['data']['stack'] == []
    assert tracker.get_tracker().stats == {'context_invalid': 1}
    assert reason in caplog.text
    assert 'RecursionError' not in caplog.text


def test_a_header_over_the_limit_is_not_entered_on_the_worker(celery_worker_thread, propagating, collected, caplog):
    header = json.dumps([['big', {'blob': 'secret-value' * 300_000}]])  # 3.6 MB
    event = run_with_header(collected, header)
    assert event['context'] == {}
    assert tracker.get_tracker().stats == {'context_invalid': 1}
    assert 'over the limit of EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES' in caplog.text
    assert 'secret-value' not in caplog.text


def test_the_workers_stack_after_a_task_is_exactly_what_it_was_before(celery_worker_thread, propagating, collected):
    enter_in_worker.delay('site', {'site': 'worker', 'shared': 'site'})
    enter_in_worker.delay('org', {'org': 'worker', 'shared': 'org'})
    during, after = new_label(), new_label()
    with tracker.get_tracker().context('site', {'site': 'request'}):
        report_context.delay(during)
    report_context.delay(after)

    assert reports(collected, during)[0]['data']['stack'] == ['org', 'site']
    later = reports(collected, after)[0]
    assert later['data']['stack'] == ['site', 'org']
    assert later['context'] == {'site': 'worker', 'org': 'worker', 'shared': 'org'}


def test_a_header_check_names_each_reason_without_parsing_twice():
    assert celery_context.header_problem(json.dumps([['a', {}], ['b', {'x': [1, {'y': None}]}]])) is None
    assert celery_context.header_problem(b'[]') == 'not_a_string'
    assert celery_context.header_problem(json.dumps([['a', {'x': 'y' * 200}]]), max_bytes=100) == 'too_large'
    assert celery_context.header_problem(json.dumps([['a', {}], ['a', {}]])) == 'duplicate_names'
