"""What SegmentBackend counts after handing events to the real Segment client, which posts to a loopback server.

Failed uploads (reported by the client through ``on_error``) are counted as
``publish_error``; so are events still queued when the process exits and the
bounded flush at exit did not get them out. An event over the client's 32 KB
limit is not handed over: ``oversize``, logged by name only.
"""

import json
import logging
import subprocess
import sys
import textwrap
import time

import pytest

from eventtracking.backends import segment
from eventtracking.backends.routing import RoutingBackend
from eventtracking.backends.segment import SegmentBackend

pytestmark = pytest.mark.server


def page_view(number=0, **data):
    return {
        'name': 'edx.bi.course.upgrade.clicked',
        'data': dict({'number': number}, **data),
        'context': {'user_id': 42, 'agent': 'Mozilla/5.0'},
    }


@pytest.fixture
def client_for(httpserver, monkeypatch):
    """A function making the Segment default client post to ``httpserver`` (answering ``status``)."""
    clients = []

    def make(status=200, **options):
        httpserver.expect_request('/v1/batch', method='POST').respond_with_json({'success': status == 200},
                                                                                status=status)
        options = dict({'max_retries': 0, 'upload_interval': 0.01}, **options)
        client = segment.analytics.Client('test-write-key', host=httpserver.url_for('/').rstrip('/'), **options)
        monkeypatch.setattr(segment.analytics, 'default_client', client)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown()


def test_uploads_the_server_refuses_are_counted_as_publish_error(client_for, caplog):
    client = client_for(status=500)
    backend = SegmentBackend()

    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.segment'):
        for number in range(30):
            backend.send(page_view(number))
        client.flush()

    assert backend.stats == {'publish_error': 30}
    lines = [record for record in caplog.records if record.name == 'eventtracking.backends.segment']
    assert len(lines) == 1  # the first at once, the others within the minute held back
    assert 'publish_error' in lines[0].getMessage() and 'Mozilla' not in caplog.text


def test_an_on_error_set_by_the_site_still_runs(client_for):
    seen = []
    client = client_for(status=500, on_error=lambda error, batch: seen.append(len(batch)))
    backend = SegmentBackend()

    backend.send(page_view())
    client.flush()

    assert seen == [1]
    assert backend.stats == {'publish_error': 1}


def test_a_site_on_error_that_raises_does_not_keep_the_loss_from_being_counted(client_for):
    def broken(error, batch):
        raise RuntimeError('the site\'s callback is broken')

    client = client_for(status=500, on_error=broken)
    backend = SegmentBackend()
    for number in range(5):
        backend.send(page_view(number))
    client.flush()
    assert backend.stats == {'publish_error': 5}


class Secretive:
    """A value the Segment client cannot send: it would log it whole (its str holds a secret) and leave it out."""

    def __str__(self):
        return 'SECRET-in-str'

    __repr__ = __str__


@pytest.mark.parametrize('event, reason', [
    (dict(page_view(), context={'user_id': {'pw': 'SECRET-in-user-id'}}), 'unserializable'),
    (page_view(token=Secretive()), 'unserializable'),
    (page_view(nested={'deeper': [Secretive()]}), 'unserializable'),
])
def test_an_event_the_client_would_log_values_of_is_dropped_and_counted_by_name_only(
        client_for, httpserver, caplog, event, reason):
    client = client_for()
    root = RoutingBackend(backends={'segment': SegmentBackend()})

    with caplog.at_level(logging.DEBUG):
        root.send(event)
    client.flush()

    assert root.stats == {reason: 1}
    assert 'SECRET' not in caplog.text
    assert not httpserver.log
    assert any("'edx.bi.course.upgrade.clicked'" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize('event, why', [
    (dict(page_view(), name=12345), 'the Segment client does not take its name'),
    (dict(page_view(), context={'user_id': Secretive()}), 'the Segment client does not take its user_id'),
    (page_view(loop=[]), "the Segment client could not serialize it (RecursionError)"),
])
def test_what_the_client_refuses_after_the_call_is_counted_and_logged_by_name_and_reason_only(
        client_for, httpserver, caplog, event, why):
    if 'loop' in event['data']:
        event['data']['loop'].append(event['data'])
    client = client_for()
    backend = SegmentBackend()

    with caplog.at_level(logging.DEBUG):
        backend.send(event)
    client.flush()

    assert backend.stats == {'unserializable': 1}
    assert not httpserver.log
    [line] = [record.getMessage() for record in caplog.records if record.name == 'eventtracking.backends.segment']
    assert line.endswith(f'(unserializable): {why}')
    assert 'SECRET' not in caplog.text


def test_a_client_without_a_write_key_raises_which_is_counted_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(segment.analytics, 'default_client', None)
    monkeypatch.setattr(segment.analytics, 'write_key', None)
    backend = SegmentBackend()
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.segment'):
        backend.send(page_view(password='SECRET'))
    assert backend.stats == {'backend_error': 1}
    assert 'the Segment client has no write key' in caplog.text and 'SECRET' not in caplog.text


def test_the_client_lines_keep_their_values_outside_the_backends_calls(caplog):
    with caplog.at_level(logging.DEBUG, logger='segment'):
        logging.getLogger('segment').debug('queueing: %s', {'data': 'VISIBLE'})
    assert 'VISIBLE' in caplog.text


def test_values_the_client_knows_how_to_send_still_go(client_for, httpserver):
    import datetime  # pylint: disable=import-outside-toplevel
    import decimal  # pylint: disable=import-outside-toplevel
    import enum  # pylint: disable=import-outside-toplevel

    class Mode(enum.Enum):
        AUDIT = 'audit'

    client = client_for()
    backend = SegmentBackend()
    backend.send(page_view(price=decimal.Decimal('9.99'), at=datetime.datetime(2024, 1, 1), on=datetime.date(2024, 1, 2),
                           tags={'a'}, mode=Mode.AUDIT, raw=b'bytes', count=3.5))
    client.flush()
    assert backend.stats == {}
    (sent,) = [event for request, _ in httpserver.log for event in json.loads(request.get_data())['batch']]
    assert sent['properties']['data']['price'] == 9.99 and sent['properties']['data']['mode'] == 'audit'


def test_accepted_uploads_count_nothing(client_for, httpserver):
    client = client_for()
    backend = SegmentBackend()

    for number in range(5):
        backend.send(page_view(number))
    client.flush()

    assert backend.stats == {}
    assert sum(len(json.loads(request.get_data())['batch']) for request, _ in httpserver.log) == 5


def test_an_event_over_the_32_kb_limit_is_dropped_counted_and_logged_by_name_only(client_for, httpserver, caplog):
    client = client_for()
    root = RoutingBackend(backends={'segment': SegmentBackend()})
    secret = 'hunter2-' + 'x' * 40_000

    with caplog.at_level(logging.DEBUG):
        root.send(page_view(password=secret))
        root.send(page_view(1))
    client.flush()

    assert root.stats == {'oversize': 1}
    assert sum(len(json.loads(request.get_data())['batch']) for request, _ in httpserver.log) == 1
    assert 'hunter2' not in caplog.text
    assert any("'edx.bi.course.upgrade.clicked'" in record.getMessage() and 'oversize' in record.getMessage()
               for record in caplog.records)


EXITING = '''
import logging, sys
logging.basicConfig(level=logging.WARNING, format='%(name)s %(levelname)s %(message)s')
logging.getLogger('segment').setLevel(logging.CRITICAL)
from segment import analytics
from eventtracking.backends.segment import SegmentBackend
upload_size = int(sys.argv[2]) if len(sys.argv) > 2 else 10
exit_timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
analytics.default_client = analytics.Client('test-write-key', host=sys.argv[1], max_retries=2,
                                            upload_size=upload_size, upload_interval=0.01)
backend = SegmentBackend(exit_timeout=exit_timeout)
for number in range(2000):
    backend.send({'name': 'edx.test.exit', 'data': {'number': number}, 'context': {'user_id': 42}})
print('queued', flush=True)
'''


def test_events_still_queued_at_exit_are_flushed_within_the_timeout_then_counted(httpserver):
    httpserver.expect_request('/v1/batch', method='POST').respond_with_json({'success': False}, status=500)
    started = time.monotonic()

    finished = subprocess.run([sys.executable, '-c', textwrap.dedent(EXITING), httpserver.url_for('/').rstrip('/')],
                              capture_output=True, text=True, timeout=60, check=False)

    assert finished.returncode == 0, finished.stderr
    assert time.monotonic() - started < 30
    lines = [line for line in finished.stderr.splitlines() if line.startswith('eventtracking.backends.segment')]
    at_exit = [line for line in lines if 'at exit' in line]
    assert len(at_exit) == 1, finished.stderr
    left = int(at_exit[0].split('at exit: ')[1].split()[0])
    assert 0 < left <= 2000


def test_at_exit_the_queue_is_uploaded_whole_when_the_server_answers(httpserver):
    """The client's own exit handler stops its consumer after the upload under way: without the backend's wait,
    most of a queue of 2,000 events is discarded."""
    httpserver.expect_request('/v1/batch', method='POST').respond_with_json({'success': True})

    finished = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(EXITING), httpserver.url_for('/').rstrip('/'), '100', '20'],
        capture_output=True, text=True, timeout=60, check=False)

    assert finished.returncode == 0, finished.stderr
    assert 'at exit' not in finished.stderr
    received = [event for request, _ in httpserver.log for event in json.loads(request.get_data())['batch']]
    assert sorted(event['properties']['data']['number'] for event in received) == list(range(2000))


def test_a_backend_only_built_later_as_the_checks_do_does_not_take_the_counts(client_for):
    client = client_for(status=500)
    sending = SegmentBackend()
    sending.send(page_view())
    client.flush()

    built_only = SegmentBackend()
    sending.send(page_view(1))
    client.flush()

    assert sending.stats == {'publish_error': 2}
    assert built_only.stats == {}
