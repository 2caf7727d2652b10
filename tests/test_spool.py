"""The spool: a write-ahead log of framed records, owned by one process at a time through flock, progress on disk."""

import collections
import enum
import json
import os
import pickle
import subprocess
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from eventtracking import spool as spool_module
from eventtracking.backoff import Backoff
from eventtracking.spool import Spool, SpoolFull, backend_of, frame, spool_files, spool_status


class Level(enum.IntEnum):
    HIGH = 3


def event(number, **data):
    return {'name': 'edx.test.spool', 'data': {'seq': number, **data}}


def drain(spool, limit=100):
    """Publish everything (as a publisher would): the batches, as (id, events)."""
    batches = []
    batch = spool.next_batch(limit)
    while batch is not None:
        batches.append((batch.id, batch.events))
        spool.commit(batch)
        batch = spool.next_batch(limit)
    return batches


def seqs(batches):
    return [item['data']['seq'] for _, events in batches for item in events]


def own_path(spool):
    [(path, _)] = spool_files(spool.directory)
    return path

def taken_over_after(tmp_path, *bad_records, before_takeover=None):
    """A new owner of an orphan file holding event 0 then ``bad_records`` (raw bytes), with event 1 appended.

    ``before_takeover(path)`` runs on the orphan's path before the new owner takes it over.
    """
    owner = Spool(tmp_path, 'xapi')
    owner.append(event(0))
    path = own_path(owner)
    owner.close()
    with open(path, 'ab') as file:
        for record in bad_records:
            file.write(record)
    if before_takeover is not None:
        before_takeover(path)
    log = Spool(tmp_path, 'xapi')
    log.adopt_orphans()
    log.append(event(1))
    return log



def test_events_come_back_as_equal_values_of_the_same_types(tmp_path):
    india = timezone(timedelta(hours=5, minutes=30))
    values = {'at': datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=india), 'due': date(2024, 12, 31),
              'when': time(8, 30), 'price': Decimal('9.99'), 'id': uuid.UUID(int=7),
              'naive': datetime(2024, 1, 1, 8, 0), 'nested': [{'a': None, 'b': 1.5, 'c': True}]}
    log = Spool(tmp_path, 'analytics.xapi')
    log.append(event(0, **values))
    assert log.pending() == 1

    [(_, [back])] = drain(log)

    assert back == event(0, **values)
    assert {key: type(value) for key, value in back['data'].items()} == {
        key: type(value) for key, value in event(0, **values)['data'].items()}
    assert back['data']['at'].utcoffset() == timedelta(hours=5, minutes=30)
    assert log.pending() == 0 and log.pending_bytes() == 0


def test_values_come_back_as_celerys_json_would_bring_them(tmp_path):
    """A datetime in a named zone keeps its instant and offset; a JSON type's subclass comes back as its base."""
    from zoneinfo import ZoneInfo  # pylint: disable=import-outside-toplevel

    from django.utils.safestring import mark_safe  # pylint: disable=import-outside-toplevel

    paris = datetime(2024, 7, 14, 10, 0, tzinfo=ZoneInfo('Europe/Paris'))
    values = {'at': paris, 'title': mark_safe('<b>Hi</b>'), 'level': Level.HIGH,
              'ordered': collections.OrderedDict(a=1), 'clock': time(8, 30, tzinfo=ZoneInfo('UTC'))}
    log = Spool(tmp_path, 'analytics.xapi')
    log.append(event(0, **values))

    [(_, [back])] = drain(log)

    data = back['data']
    assert data['at'] == paris and data['at'].utcoffset() == timedelta(hours=2)
    assert type(data['title']) is str and data['title'] == '<b>Hi</b>'
    assert type(data['level']) is int and data['level'] == 3
    assert data['ordered'] == {'a': 1} and data['clock'].utcoffset() == timedelta(0)
    assert [entry['quarantined'] for entry in spool_status(tmp_path)] == [0]


def test_a_record_naming_any_other_class_is_refused_when_read(tmp_path):
    """A record is never a way to run code: it may name only value types (and never makes an import)."""
    class Sneaky:  # pylint: disable=too-few-public-methods
        def __reduce__(self):
            return (os.system, ('true',))

    with pytest.raises(pickle.UnpicklingError, match='is not an event value'):
        spool_module.decode(pickle.dumps({'name': 'x', 'data': {'v': Sneaky()}}))
    with pytest.raises(pickle.UnpicklingError, match='is not an event value'):
        spool_module.decode(pickle.dumps({'name': 'x', 'data': {'v': {1, 2}.__class__}}))


def test_a_held_file_is_never_taken_and_a_released_one_is_taken_once_and_removed_when_published(tmp_path):
    owner, other = Spool(tmp_path, 'analytics.xapi'), Spool(tmp_path, 'analytics.xapi')
    owner.append(event(1))
    owner.append(event(2))
    assert other.adopt_orphans() == 0

    owner.close()
    assert [backend for _, backend in spool_files(str(tmp_path))] == ['analytics.xapi']
    assert other.adopt_orphans() == 2
    assert Spool(tmp_path, 'analytics.xapi').adopt_orphans() == 0, 'a file has one owner at a time'
    assert seqs(drain(other)) == [1, 2]
    assert os.listdir(tmp_path) == [], 'the published file and its progress are removed'


def test_a_batch_in_flight_when_the_owner_died_is_published_again_whole_with_the_same_id(tmp_path):
    owner = Spool(tmp_path, 'xapi')
    for number in range(10):
        owner.append(event(number))
    first = owner.next_batch(4)
    owner.commit(first)
    in_flight = owner.next_batch(4)
    assert [item['data']['seq'] for item in in_flight.events] == [4, 5, 6, 7]
    owner.append(event(10))
    owner.close()  # as a kill would leave it: progress says 0-3 published, 4-7 in flight

    heir = Spool(tmp_path, 'xapi')
    assert heir.adopt_orphans() == 7
    batches = drain(heir, limit=2)

    assert batches[0] == (in_flight.id, in_flight.events), 'the same batch, with the same id'
    assert seqs(batches) == list(range(4, 11)), 'nothing published before the batch in flight comes again'


def test_a_record_cut_short_at_the_end_is_cut_off_never_glued_to_the_next(tmp_path):
    owner = Spool(tmp_path, 'xapi')
    for number in range(3):
        owner.append(event(number))
    path = own_path(owner)
    owner.close()
    whole = frame(spool_module.encode(event(3)), 0.0)
    with open(path, 'ab') as file:
        file.write(whole[:len(whole) // 2])  # killed in the middle of the write

    heir = Spool(tmp_path, 'xapi')
    assert heir.adopt_orphans() == 3
    heir.append(event(4))
    assert seqs(drain(heir)) == [0, 1, 2, 4]
    assert [item for item in spool_status(str(tmp_path)) if item['state'] == 'quarantined'] == []


def test_garbage_and_a_record_that_is_no_event_are_quarantined_and_the_rest_published(tmp_path):
    log = taken_over_after(tmp_path, b'\x00garbage\xe7 bytes \xe7\x5a that frame nothing',
                           frame(spool_module.encode(5), 1.0),  # a scalar where an event belongs
                           frame(b'not a pickle', 1.0))

    corrupt = []
    batch = log.next_batch(100)
    while batch is not None:
        corrupt.append(batch.corrupt)
        log.commit(batch)
        batch = log.next_batch(100)

    assert sum(corrupt) == 3
    status = spool_status(str(tmp_path))
    [quarantine] = [item for item in status if item['state'] == 'quarantined']
    assert quarantine['quarantined'] == 3 and quarantine['backend'] == 'xapi'


def test_a_batch_read_again_after_a_failed_publish_moves_its_bad_record_aside_and_counts_it_once(tmp_path):
    log = taken_over_after(tmp_path, frame(b'not a pickle', 1.0))

    tries = [log.next_batch(100) for _ in range(3)]  # the broker refused the first two: the same batch again

    assert [(batch.id, seqs([(None, batch.events)]), batch.corrupt) for batch in tries] == [
        (tries[0].id, [0], 1)] + [(tries[0].id, [0], 0)] * 2
    log.commit(tries[-1])
    assert seqs(drain(log)) == [1]
    [quarantine] = [item for item in spool_status(str(tmp_path)) if item['state'] == 'quarantined']
    assert quarantine['quarantined'] == 1


def test_a_record_that_cannot_be_moved_aside_is_counted_and_blocks_nothing(tmp_path):
    """On a full disk (here: a directory where the quarantine file goes) the bad record is still passed over."""
    log = taken_over_after(tmp_path, frame(b'not a pickle', 1.0), before_takeover=lambda path: os.mkdir(
        path[:-len(spool_module.SUFFIX)] + spool_module.QUARANTINED))

    batch = log.next_batch(100)
    assert (seqs([(batch.id, batch.events)]), batch.corrupt) == ([0], 1)
    log.commit(batch)
    assert seqs(drain(log)) == [1]


def test_over_spool_max_bytes_an_event_is_refused_whole(tmp_path):
    log = Spool(tmp_path, 'xapi', max_bytes=300)
    accepted = 0
    with pytest.raises(SpoolFull):
        for number in range(100):
            log.append(event(number))
            accepted += 1
    assert 0 < accepted < 100
    assert os.path.getsize(own_path(log)) == log.pending_bytes() <= 300
    assert seqs(drain(log)) == list(range(accepted))
    log.append(event(100))  # room again once published
    assert log.pending() == 1


def test_a_spool_file_that_cannot_be_made_refuses_the_event_as_spool_full(tmp_path):
    """The directory cannot be made (a file is in the way; a read-only or full disk alike): the disk refused it."""
    (tmp_path / 'in-the-way').write_text('')
    log = Spool(tmp_path / 'in-the-way' / 'spool', 'xapi')
    with pytest.raises(SpoolFull, match='in-the-way'):
        log.append(event(0))
    assert log.pending() == 0


def test_the_progress_file_has_its_bytes_before_the_first_event_so_a_full_disk_cannot_stop_publishing(tmp_path):
    """Noting progress overwrites bytes already on disk: a disk the events filled still lets them be published."""
    log = Spool(tmp_path, 'xapi')
    log.append(event(0))
    [progress] = [name for name in os.listdir(tmp_path) if name.endswith(spool_module.PROGRESS)]
    assert os.path.getsize(tmp_path / progress) == spool_module._PROGRESS.size  # pylint: disable=protected-access
    log.close()


FILE_SIZE_LIMIT = """
import json, resource, sys
from eventtracking.spool import Spool, SpoolFull
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # SIGXFSZ is ignored by Python: a write fails with EFBIG
log = Spool(sys.argv[1], 'xapi')
accepted = refused = 0
for number in range(200):
    try:
        log.append({'name': 'edx.test.spool', 'data': {'seq': number}})
        accepted += 1
    except SpoolFull:
        refused += 1
batch = log.next_batch(1000)
log.commit(batch)  # all published: the file's bytes are no longer needed
later = 0
for number in range(10):
    try:
        log.append({'name': 'edx.test.spool', 'data': {'seq': number}})
        later += 1
    except SpoolFull:
        pass
print(json.dumps([accepted, refused, len(batch.events), later]))
"""


def test_a_published_own_file_that_filled_the_disk_gives_way_to_a_new_one(tmp_path):
    completed = subprocess.run([sys.executable, '-c', FILE_SIZE_LIMIT, str(tmp_path)], capture_output=True,
                               text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    accepted, refused, published, later = json.loads(completed.stdout)
    assert accepted > 0 and refused > 0 and published == accepted
    assert later == 10, 'once published, the full file is removed and the events go to a new one'


def test_an_orphan_that_cannot_be_taken_over_now_is_left_unlocked_for_a_later_try(tmp_path):
    owner = Spool(tmp_path, 'xapi')
    owner.append(event(0))
    path = own_path(owner)
    owner.close()
    progress = path[:-len(spool_module.SUFFIX)] + spool_module.PROGRESS
    os.unlink(progress)
    os.mkdir(progress)  # its progress cannot be written (as on a full disk)
    log = Spool(tmp_path, 'xapi')

    assert log.adopt_orphans() == 0
    os.rmdir(progress)
    assert Spool(tmp_path, 'xapi').adopt_orphans() == 1, 'the file is not left locked'


def test_backends_do_not_take_each_others_files(tmp_path):
    dotted = Spool(tmp_path, 'a.b')
    dotted.append(event(0))
    dotted.close()

    assert Spool(tmp_path, 'a').adopt_orphans() == 0
    assert Spool(tmp_path, 'a/b').adopt_orphans() == 0
    assert Spool(tmp_path, 'a.b').adopt_orphans() == 1
    assert [backend_of(os.path.basename(path)) for path, _ in spool_files(str(tmp_path))] == ['a.b']


def test_an_empty_own_file_is_removed_when_its_owner_closes_it(tmp_path):
    log = Spool(tmp_path, 'xapi')
    log.append(event(0))
    drain(log)
    log.close()
    log.close()
    assert os.listdir(tmp_path) == []


def test_spool_status_says_what_is_pending_who_holds_it_and_what_was_quarantined(tmp_path):
    clock = [1000.0]
    live = Spool(tmp_path, 'live.one', clock=lambda: clock[0])
    live.append(event(0))
    clock[0] = 1010.0
    live.append(event(1))
    left = Spool(tmp_path, 'left', clock=lambda: clock[0])
    for number in range(3):
        left.append(event(number))
    left.commit(left.next_batch(1))
    left.close()
    try:
        status = {item['backend']: item for item in spool_status(str(tmp_path), now=1030.0)}
    finally:
        live.close()

    assert status['live.one']['state'] == 'live' and status['live.one']['owner_pid'] == os.getpid()
    assert status['live.one']['events'] == 2 and status['live.one']['oldest_age'] == 30.0
    assert status['left']['state'] == 'orphaned'
    assert status['left']['events'] == 2, 'what was published is not pending'
    assert status['left']['bytes'] == os.path.getsize(status['left']['path']) - len(
        frame(spool_module.encode(event(0)), 0.0))
    assert status['left']['oldest_age'] == 20.0 and status['left']['quarantined'] == 0
    assert spool_status(str(tmp_path / 'missing')) == []


def test_spool_status_leaves_out_a_file_removed_since_the_directory_was_listed(tmp_path):
    """A live process removes a published file at any moment: the listing must not fail on it (a dangling
    name stands for a file removed between ``listdir`` and ``open``)."""
    log = Spool(tmp_path, 'xapi')
    log.append(event(0))
    os.symlink(tmp_path / 'gone', tmp_path / 'xapi@host-1-2-abcd.spool')
    os.symlink(tmp_path / 'gone', tmp_path / 'xapi@host-1-2-abcd.quarantined')
    try:
        status = spool_status(str(tmp_path))
    finally:
        log.close()
    assert [(item['backend'], item['events'], item['state']) for item in status] == [('xapi', 1, 'live')]


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
