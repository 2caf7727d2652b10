"""FileBackend: the tracking log written straight to a file, byte for byte LoggerBackend's lines."""

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from eventtracking.backends.file import FileBackend
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import ImproperlyConfigured, UnserializableEventError
from eventtracking.stats import OVERSIZE, WRITE_ERROR
from eventtracking.tracker import Tracker

PLUS_TWO = timezone(timedelta(hours=2))

EVENTS = [
    {'name': 'edx.ünïcode.event', 'timestamp': datetime(2013, 10, 3, 8, 24, 55, 123456, tzinfo=timezone.utc),
     'data': {'float': 1.5, 'list': [1, 'two', None, True], 'day': date(2013, 10, 3),
              'text': 'caf\u00e9 \u2603 \U0001f600'},
     'context': {'user_id': 10938, 'entered': datetime(2013, 10, 3, 10, 24, 55, tzinfo=PLUS_TWO)}},
    {'name': 'naive', 'timestamp': datetime(2020, 1, 2, 3, 4, 5), 'data': {}, 'context': {}},
    {'name': 'big', 'data': {'x': 'y' * 2000}},
    {'name': 'edx.video.played', 'data': {'code': '\u4e2d\u6587', 'n': 2 ** 70, 'nested': {'a': [{'b': None}]}}},
]


def logger_backend_bytes(tmp_path, events, **options):
    """What LoggerBackend with a FileHandler (message only) writes for ``events``."""
    path = tmp_path / 'logger.log'
    handler = logging.FileHandler(path, encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(message)s'))
    target = logging.getLogger('tests.file.compare')
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    target.propagate = False
    try:
        backend = LoggerBackend(name=target.name, **options)
        for event in events:
            backend.send(event)
    finally:
        target.removeHandler(handler)
        handler.close()
    return path.read_bytes()


@pytest.mark.parametrize('options', [{}, {'max_event_size': None}, {'encoder': 'orjson', 'max_event_size': None}])
def test_lines_are_byte_identical_to_logger_backend(tmp_path, options):
    if options.get('encoder') == 'orjson':
        pytest.importorskip('orjson')
    path = tmp_path / 'file.log'
    backend = FileBackend(path, **options)
    for event in EVENTS:
        backend.send(event)
    backend.close()
    written = path.read_bytes()
    assert written == logger_backend_bytes(tmp_path, EVENTS, **options)
    assert len(written.splitlines()) == (3 if options == {} else 4)


def test_oversize_events_are_dropped_and_counted_in_a_tree(tmp_path, caplog):
    path = tmp_path / 'file.log'
    tracker = Tracker({'file': FileBackend(path, max_event_size=120)})
    tracker.emit('small', {})
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.file'):
        tracker.emit('large', {'x': 'y' * 100})
    assert [json.loads(line)['name'] for line in path.read_text().splitlines()] == ['small']
    assert tracker.stats == {OVERSIZE: 1}
    assert tracker.get_backend('file').stats == {OVERSIZE: 1}
    (record,) = [r for r in caplog.records if r.name == 'eventtracking.backends.file']
    assert "'large'" in record.getMessage() and 'y' * 10 not in record.getMessage()


def test_unserializable_event_raises_called_directly_and_is_counted_in_a_tree(tmp_path):
    backend = FileBackend(tmp_path / 'file.log')
    with pytest.raises(UnserializableEventError):
        backend.send({'name': 'x', 'data': {1, 2}})
    router = RoutingBackend({'file': backend})
    router.send({'name': 'x', 'data': {1, 2}})
    assert router.stats == {'unserializable': 1}


@pytest.mark.parametrize('make_path, message', [
    (lambda tmp: tmp / 'missing' / 'tracking.log', 'does not exist'),
    (lambda tmp: tmp, 'is a folder'),
])
def test_configuration_errors_name_the_path(tmp_path, make_path, message):
    path = make_path(tmp_path)
    with pytest.raises(ImproperlyConfigured, match=message) as raised:
        FileBackend(path)
    assert repr(str(path)) in str(raised.value)


@pytest.mark.parametrize('options, message', [
    ({'max_event_size': -1}, 'max_event_size'), ({'max_event_size': '10'}, 'max_event_size'),
    ({'encoder': 'ujson'}, 'encoder'), ({'path': ''}, 'path'), ({'path': 3.5}, 'path'),
])
def test_bad_options_fail_at_construction(tmp_path, options, message):
    options = {'path': tmp_path / 'x.log', **options}
    with pytest.raises(ImproperlyConfigured, match=message):
        FileBackend(**options)


def test_django_system_check_reports_a_missing_folder(settings, tmp_path):
    from eventtracking.django.checks import check_tree_settings  # pylint: disable=import-outside-toplevel
    missing = str(tmp_path / 'nowhere' / 'tracking.log')
    settings.EVENT_TRACKING_BACKENDS = {
        'tracking_logs': {'ENGINE': 'eventtracking.backends.file.FileBackend', 'OPTIONS': {'path': missing}},
    }
    settings.EVENT_TRACKING_PROCESSORS = []
    (message,) = check_tree_settings()
    assert message.id == 'eventtracking.E004'
    assert "EVENT_TRACKING_BACKENDS['tracking_logs']" in message.msg and repr(missing) in message.msg
    settings.EVENT_TRACKING_BACKENDS['tracking_logs']['OPTIONS']['path'] = str(tmp_path / 'tracking.log')
    assert check_tree_settings() == []


def test_rotation_by_rename_then_by_unlink_loses_no_line(tmp_path):
    path = tmp_path / 'tracking.log'
    backend = FileBackend(path)
    for i in range(10):
        backend.send({'name': 'before', 'data': {'i': i}})
    os.rename(path, tmp_path / 'tracking.log.1')
    for i in range(10):
        backend.send({'name': 'after-rename', 'data': {'i': i}})
    os.unlink(path)
    for i in range(10):
        backend.send({'name': 'after-unlink', 'data': {'i': i}})
    backend.close()
    rotated = [json.loads(line)['name'] for line in (tmp_path / 'tracking.log.1').read_text().splitlines()]
    current = [json.loads(line)['name'] for line in path.read_text().splitlines()]
    assert rotated == ['before'] * 10
    assert current == ['after-unlink'] * 10
    assert backend.stats == {}


def test_rotation_while_threads_write_loses_no_line(tmp_path):
    path = tmp_path / 'tracking.log'
    backend = FileBackend(path)
    per_thread = 2000
    started = threading.Barrier(5)

    def write(thread):
        started.wait()
        for i in range(per_thread):
            backend.send({'name': 'x', 'data': {'t': thread, 'i': i}})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    for generation in range(1, 4):
        while not path.exists():
            time.sleep(0.001)
        os.rename(path, tmp_path / f'tracking.log.{generation}')
    for thread in threads:
        thread.join()
    backend.close()
    seen, count = set(), 0
    for log in tmp_path.iterdir():
        for line in log.read_text().splitlines():
            data = json.loads(line)['data']
            seen.add((data['t'], data['i']))
            count += 1
    assert len(seen) == count == 4 * per_thread


def test_a_full_disk_is_counted_and_logged_once_never_raised(caplog):
    if not os.path.exists('/dev/full'):
        pytest.skip('no /dev/full on this system')
    backend = FileBackend('/dev/full')
    tracker = Tracker({'file': backend})
    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.file'):
        for _ in range(5):
            backend.send({'name': 'edx.secret', 'data': {'password': 'hunter2'}})
            tracker.emit('edx.secret', {'password': 'hunter2'})
    assert backend.stats == {WRITE_ERROR: 10}
    assert tracker.stats == {WRITE_ERROR: 10}
    (record,) = [r for r in caplog.records if r.name == 'eventtracking.backends.file']
    assert 'write_error' in record.getMessage() and "'/dev/full'" in record.getMessage()
    assert 'hunter2' not in record.getMessage()


SHORT_WRITE = """
import json, os, resource, signal, sys
from eventtracking.backends.file import FileBackend

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write past the limit fails with EFBIG instead
path = sys.argv[1]
backend = FileBackend(path, max_event_size=None)
backend.send({'name': 'first', 'data': {'pad': 'x' * 100}})
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 50, hard))
backend.send({'name': 'cut', 'data': {'pad': 'y' * 200}})  # 50 bytes written, then no room
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again, as when the disk is cleaned up
backend.send({'name': 'after'})
backend.close()
print(json.dumps(backend.stats))
"""


def test_a_line_cut_short_by_a_full_disk_does_not_corrupt_the_next(tmp_path):
    """A real short write: the file size limit (RLIMIT_FSIZE) of a child process, reached mid-line."""
    path = tmp_path / 'tracking.log'
    result = subprocess.run([sys.executable, '-c', SHORT_WRITE, str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {WRITE_ERROR: 1}
    first, fragment, after = path.read_bytes().split(b'\n')[:3]
    assert json.loads(first)['name'] == 'first'
    assert len(fragment) == 50 and fragment.startswith(b'{"name": "cut"')
    assert json.loads(after) == {'name': 'after'}
    assert path.read_bytes().endswith(b'\n') and path.read_bytes().count(b'\n') == 3


def test_a_path_that_cannot_be_opened_later_is_counted_then_recovers(tmp_path, caplog):
    folder = tmp_path / 'logs'
    folder.mkdir()
    path = folder / 'tracking.log'
    backend = FileBackend(path)
    backend.send({'name': 'one'})
    os.unlink(path)
    folder.rmdir()
    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.file'):
        backend.send({'name': 'lost'})
        backend.send({'name': 'lost'})
    assert backend.stats == {WRITE_ERROR: 2}
    assert [r.name for r in caplog.records].count('eventtracking.backends.file') == 1
    folder.mkdir()
    backend.send({'name': 'two'})
    assert [json.loads(line)['name'] for line in path.read_text().splitlines()] == ['two']
    assert backend.stats == {WRITE_ERROR: 2}


def test_close_then_send_opens_the_file_again(tmp_path):
    path = tmp_path / 'tracking.log'
    backend = FileBackend(str(path))
    backend.send({'name': 'a'})
    backend.close()
    backend.close()
    backend.send({'name': 'b'})
    backend.close()
    assert [json.loads(line)['name'] for line in path.read_text().splitlines()] == ['a', 'b']


PROCESSES, THREADS, LINES = 4, 4, 5000


def _repeat(i):
    """Lines of different lengths: most under 1 KB, one in 500 beyond 4 KB."""
    return 40 if i % 500 == 0 else i % 4


def _write_from_threads(backend, process):
    payload = 'p' * (100 + 37 * process)

    def write(thread):
        for i in range(LINES):
            data = {'p': process, 't': thread, 'i': i, 'pad': payload * _repeat(i)}
            backend.send({'name': 'concurrent', 'data': data})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    backend.close()


def test_processes_and_threads_never_tear_or_interleave_lines(tmp_path):
    """One backend, opened before the fork (as under gunicorn's preload), written by every child's threads."""
    path = str(tmp_path / 'tracking.log')
    backend = FileBackend(path, max_event_size=None)
    backend.send({'name': 'parent', 'data': {'p': -1, 't': 0, 'i': 0, 'pad': ''}})
    context = multiprocessing.get_context('fork')
    workers = [context.Process(target=_write_from_threads, args=(backend, p)) for p in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    seen, count = set(), 0
    with open(path, 'rb') as log:
        for line in log:
            data = json.loads(line)['data']
            if data['p'] >= 0:
                assert data['pad'] == 'p' * (100 + 37 * data['p']) * _repeat(data['i'])
            seen.add((data['p'], data['t'], data['i']))
            count += 1
    assert len(seen) == count == PROCESSES * THREADS * LINES + 1


def test_a_relative_path_stays_where_it_was_when_the_directory_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = FileBackend('tracking.log')
    assert backend.path == str(tmp_path / 'tracking.log')
    (tmp_path / 'elsewhere').mkdir()
    monkeypatch.chdir(tmp_path / 'elsewhere')
    backend.send({'name': 'a'})
    backend.close()
    assert json.loads((tmp_path / 'tracking.log').read_text())['name'] == 'a'
