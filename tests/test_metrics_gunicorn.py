"""Prometheus' multiprocess mode across real gunicorn workers: the scraped totals are the exact sums of what every
worker counted (tests/metrics_app is the application; a real PROMETHEUS_MULTIPROC_DIR in tmp_path)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventtracking import metrics
from tests.servers import free_port, unavailable

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3
KEPT, OTHER, BIG, PUBLISHES = 60, 25, 15, 9


def _listening(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(('127.0.0.1', port)) == 0


def _worker_pids(master):
    try:
        children = Path(f'/proc/{master}/task/{master}/children').read_text(encoding='ascii').split()
    except OSError:
        return []
    return [int(pid) for pid in children]


@pytest.fixture
def gunicorn(tmp_path):
    """A gunicorn with 3 sync workers serving tests.metrics_app on a free loopback port: (base URL, master pid)."""
    try:
        import gunicorn as _  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        unavailable('gunicorn is not installed')
    multiproc = tmp_path / 'prometheus'
    multiproc.mkdir()
    port = free_port()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(multiproc),
               DJANGO_SETTINGS_MODULE='tests.metrics_app.settings',
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    log = (tmp_path / 'gunicorn.log').open('w')
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'gunicorn', '--workers', str(WORKERS), '--bind', f'127.0.0.1:{port}',
         '--config', 'python:tests.metrics_app.gunicorn_conf', '--timeout', '60',
         'tests.metrics_app.wsgi:application'],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not (
                _listening(port) and len(_worker_pids(process.pid)) == WORKERS):
            time.sleep(0.1)
        if process.poll() is not None or not _listening(port):
            log.flush()
            unavailable(f'gunicorn did not start: {(tmp_path / "gunicorn.log").read_text()[-2000:]}')
        yield f'http://127.0.0.1:{port}', process.pid, multiproc
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _scrape(base):
    """{(sample name, frozenset(labels)): value} of the eventtracking samples of one scrape of /metrics."""
    samples = {}
    for family in text_string_to_metric_families(_get(f'{base}/metrics').decode()):
        for sample in family.samples:
            if sample.name.startswith('eventtracking_'):
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def _scrape_settled(base, name, expected, **labels):
    """A scrape once ``name`` reached ``expected`` (each worker adds its counts at most FLUSH_INTERVAL late), and
    then a later one, which must show the same totals (nothing counted twice)."""
    deadline = time.monotonic() + 30
    while True:
        samples = _scrape(base)
        if _value(samples, name, **labels) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(2.5 * metrics.FLUSH_INTERVAL)
    later = _scrape(base)
    counters = {key: value for key, value in samples.items() if key[0].endswith(('_total', '_count', '_sum'))}
    assert {key: later.get(key) for key in counters} == counters
    return later


def test_scraped_totals_are_the_exact_sums_of_every_worker(gunicorn):
    base, master, multiproc = gunicorn
    paths = ['/emit/kept/'] * KEPT + ['/emit/other/'] * OTHER + ['/emit/big/'] * BIG + ['/publish/'] * PUBLISHES
    paths.sort(key=hash)  # mixed, so every worker sees every kind
    with ThreadPoolExecutor(max_workers=8) as pool:
        pids = Counter(json.loads(body)['pid'] for body in pool.map(lambda path: _get(base + path), paths))
    assert len(pids) >= 2, f'the requests reached one worker only: {pids}'
    assert len([name for name in os.listdir(multiproc) if name.startswith('counter_')]) >= len(pids)

    emitted = KEPT + OTHER + BIG
    samples = _scrape_settled(base, 'eventtracking_events_emitted_total', emitted)
    assert _value(samples, 'eventtracking_events_emitted_total') == emitted
    assert _value(samples, 'eventtracking_events_dropped_total', reason='filtered', backend='analytics') == OTHER
    assert _value(samples, 'eventtracking_events_dropped_total', reason='oversize', backend='tracking_logs') == BIG
    dropped = {labels: value for (name, labels), value in samples.items()
               if name == 'eventtracking_events_dropped_total'}
    assert sum(dropped.values()) == OTHER + BIG  # nothing else was dropped, in any backend
    assert _value(samples, 'eventtracking_events_published_total', backend='analytics') == 5 * PUBLISHES
    assert _value(samples, 'eventtracking_publish_duration_seconds_count', backend='analytics') == PUBLISHES
    assert _value(samples, 'eventtracking_publish_duration_seconds_sum', backend='analytics') == pytest.approx(
        0.2 * PUBLISHES)

    # every live worker registered a delivery of 2 queued events: summed; the oldest age is the largest
    workers = _worker_pids(master)
    assert len(workers) == WORKERS
    assert _value(samples, 'eventtracking_events_queued', backend='analytics') == 2 * WORKERS
    assert _value(samples, 'eventtracking_spool_pending_events', backend='analytics') == 10 * WORKERS
    assert _value(samples, 'eventtracking_spool_pending_bytes', backend='analytics') == 1000 * WORKERS
    assert _value(samples, 'eventtracking_oldest_pending_age_seconds', backend='analytics') == max(
        pid % 1000 for pid in workers)


def test_a_killed_workers_counts_stay_and_its_gauges_go(gunicorn):
    base, master, _ = gunicorn
    with ThreadPoolExecutor(max_workers=8) as pool:
        pids = Counter(json.loads(body)['pid'] for body in pool.map(lambda path: _get(base + path),
                                                                    ['/emit/other/'] * 30))
    _scrape_settled(base, 'eventtracking_events_emitted_total', 30)  # every worker wrote its counts
    victim = next(iter(pids))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = _worker_pids(master)
        if victim not in workers and len(workers) == WORKERS:
            break
        time.sleep(0.1)
    else:
        pytest.fail('gunicorn did not replace the killed worker')
    samples = _scrape_settled(base, 'eventtracking_events_emitted_total', 30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the replacement registers its delivery as it boots
        samples = _scrape(base)
        if _value(samples, 'eventtracking_events_queued', backend='analytics') == 2 * WORKERS:
            break
        time.sleep(0.1)
    assert _value(samples, 'eventtracking_events_dropped_total', reason='filtered', backend='analytics') == 30
    assert _value(samples, 'eventtracking_events_emitted_total') == 30
    assert _value(samples, 'eventtracking_events_queued', backend='analytics') == 2 * WORKERS


def test_a_gracefully_stopped_workers_last_counts_are_not_lost(gunicorn):
    """SIGHUP makes gunicorn stop every worker gracefully (SIGTERM), at once after the requests: what each counted
    in its last second reaches the files at its exit, not on the thread's next turn (which never comes)."""
    base, master, _ = gunicorn
    old = set(_worker_pids(master))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda path: _get(base + path), ['/emit/other/'] * 30))
    os.kill(master, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = set(_worker_pids(master))
        if not workers & old and len(workers) == WORKERS:
            break
        time.sleep(0.05)
    else:
        pytest.fail('gunicorn did not replace its workers')
    samples = _scrape(base)  # the new workers have counted nothing: every count is an old worker's
    assert _value(samples, 'eventtracking_events_emitted_total') == 30
    assert _value(samples, 'eventtracking_events_dropped_total', reason='filtered', backend='analytics') == 30
