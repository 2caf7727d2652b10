"""The spool: JSON-lines files of unpublished batches, owned by one process at a time through flock."""

import os
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from eventtracking.backoff import Backoff
from eventtracking.batching import BatchPublisher
from eventtracking.spool import Spool, backend_of, spool_files
from eventtracking.stats import EventCounters

from kombu.utils import json  # pylint: disable=wrong-import-order  # kombu comes with the celery extra


def spool(directory, name='analytics.xapi'):
    return Spool(str(directory), name, json.dumps, json.loads)


def test_spooled_batches_come_back_as_celery_json_would_deliver_them(tmp_path):
    india = timezone(timedelta(hours=5, minutes=30))
    first = [{'name': 'edx.a', 'data': {'at': datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=india),
                                        'due': date(2024, 12, 31), 'price': Decimal('9.99'),
                                        'id': uuid.UUID(int=7), 'naive': datetime(2024, 1, 1, 8, 0)}}]
    second = [{'name': 'edx.b', 'data': {'seq': 1}}, {'name': 'edx.c', 'data': {'tuple': (1, 2)}}]
    owner = spool(tmp_path)
    owner.append(first)
    owner.append(second)
    assert owner.pending() == 3

    published = []
    assert owner.replay(published.append) is True

    assert published[0] == first
    assert type(published[0][0]['data']['at']) is datetime
    assert published[0][0]['data']['at'].utcoffset() == timedelta(hours=5, minutes=30)
    assert type(published[0][0]['data']['due']) is date and type(published[0][0]['data']['id']) is uuid.UUID
    assert published[1] == [{'name': 'edx.b', 'data': {'seq': 1}}, {'name': 'edx.c', 'data': {'tuple': [1, 2]}}]
    assert owner.pending() == 0


def test_a_held_file_is_never_taken_by_another_owner_and_a_released_one_is(tmp_path):
    owner, other = spool(tmp_path), spool(tmp_path)
    owner.append([{'name': 'edx.a', 'data': {}}, {'name': 'edx.b', 'data': {}}])

    assert other.adopt_orphans() == 0

    owner.close()
    [(path, backend)] = spool_files(str(tmp_path))
    assert backend == 'analytics.xapi'
    assert other.adopt_orphans() == 2
    assert spool(tmp_path).adopt_orphans() == 0, 'a file has one owner at a time'
    published = []
    assert other.replay(published.append) is True
    assert published == [[{'name': 'edx.a', 'data': {}}, {'name': 'edx.b', 'data': {}}]]
    assert not os.path.exists(path)


def test_a_failed_replay_resumes_after_the_last_published_batch(tmp_path):
    owner = spool(tmp_path)
    for number in range(3):
        owner.append([{'name': 'edx.a', 'data': {'seq': number}}])
    published = []

    def publish_twice(events):
        if len(published) == 2:
            raise ConnectionError('broker down')
        published.append(events[0]['data']['seq'])

    with pytest.raises(ConnectionError):
        owner.replay(publish_twice)
    assert owner.pending() == 1
    assert owner.replay(lambda events: published.append(events[0]['data']['seq'])) is True
    assert published == [0, 1, 2]


def test_backends_do_not_take_each_others_files(tmp_path):
    dotted = spool(tmp_path, 'a.b')
    dotted.append([{'name': 'edx.a', 'data': {}}])
    dotted.close()

    assert spool(tmp_path, 'a').adopt_orphans() == 0
    assert spool(tmp_path, 'a/b').adopt_orphans() == 0
    assert spool(tmp_path, 'a.b').adopt_orphans() == 1
    assert sorted(backend_of(os.path.basename(path)) for path, _ in spool_files(str(tmp_path))) == ['a.b']


def test_an_empty_file_is_removed_when_its_owner_closes_it(tmp_path):
    owner = spool(tmp_path)
    owner.append([{'name': 'edx.a', 'data': {}}])
    owner.replay(lambda events: None)
    owner.close()
    assert os.listdir(tmp_path) == []


def test_backoff_has_full_jitter_first_retry_within_a_second_and_a_cap():
    now = [100.0]
    highest = Backoff(first=1.0, cap=60.0, clock=lambda: now[0], rand=lambda: 0.999999)
    delays = [highest.failed() for _ in range(10)]
    assert delays[0] < 1.0
    assert delays[1] == pytest.approx(2.0, rel=1e-3) and delays[2] == pytest.approx(4.0, rel=1e-3)
    assert max(delays) == pytest.approx(60.0, rel=1e-3)
    assert highest.waiting()
    now[0] += 61
    assert not highest.waiting()
    lowest = Backoff(clock=lambda: now[0], rand=lambda: 0.0)
    assert lowest.failed() == 0.0 and not lowest.waiting()
    highest.succeeded()
    assert highest.failures == 0 and highest.remaining() == 0.0


def test_an_event_the_spool_cannot_encode_costs_only_itself_and_is_counted(tmp_path):
    counters = EventCounters()
    publisher = BatchPublisher('analytics', publish=None, counters=counters, spool=spool(tmp_path, 'analytics'))
    batch = [{'name': 'good', 'data': {'n': number}} for number in range(9)]
    batch.insert(4, {'name': 'bad', 'data': {'value': object()}})
    assert publisher.spool_batch(batch)
    assert counters.snapshot() == {'spooled': 9, 'unserializable': 1}
    assert publisher.spool.pending() == 9


def test_a_spool_is_read_in_chunks_whatever_its_size(tmp_path):
    from eventtracking.spool import read_batches  # pylint: disable=import-outside-toplevel

    path = tmp_path / 'lines'
    lines = [f'{{"n": {number}, "pad": "{"x" * (number % 7)}"}}\n'.encode() for number in range(500)]
    path.write_bytes(b''.join(lines) + b'{"cut": ')  # the last line, being written, is not complete
    descriptor = os.open(path, os.O_RDONLY)
    try:
        for chunk in (5, 17, 64, 1 << 20):
            read = list(read_batches(descriptor, chunk=chunk))
            assert [line for line, _ in read] == lines
            assert [end for _, end in read] == [sum(map(len, lines[:n + 1])) for n in range(500)]
        middle = sum(map(len, lines[:250]))
        assert [line for line, _ in read_batches(descriptor, middle, chunk=9)] == lines[250:]
    finally:
        os.close(descriptor)
