"""eventtracking.status and ``eventtracking status`` against real spool directories: a live owner, a killed one
(orphaned), quarantined records; --max-age, --json, exit statuses; Prometheus multiprocess files summed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eventtracking import spool as spool_module
from eventtracking.spool import Spool, frame, spool_files
from eventtracking.status import collect, render

ROOT = Path(__file__).resolve().parent.parent


def event(number):
    return {'name': 'edx.test.status', 'data': {'seq': number}}


def killed_owner(directory, backend, count):
    """Spool ``count`` events of ``backend`` from a child process, then SIGKILL it; return its pid."""
    script = textwrap.dedent(f'''
        import sys, time
        from eventtracking.spool import Spool
        spool = Spool({str(directory)!r}, {backend!r})
        for number in range({count}):
            spool.append({{'name': 'edx.test.status', 'data': {{'seq': number}}}})
        print('ready', flush=True)
        time.sleep(60)
    ''')
    child = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True,  # pylint: disable=consider-using-with
                             cwd=ROOT)
    try:
        assert child.stdout.readline().strip() == 'ready'
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    return child.pid


def quarantine(directory, backend):
    """A spool of ``backend`` with 2 good events and 2 records that are no events, published: 2 quarantined."""
    owner = Spool(directory, backend)
    owner.append(event(0))
    [(path, _)] = [item for item in spool_files(str(directory)) if os.path.basename(item[0]).startswith(backend)]
    owner.close()
    with open(path, 'ab') as file:
        file.write(frame(spool_module.encode(5), 1.0))  # a scalar where an event belongs
        file.write(frame(b'not a pickle', 1.0))
    log = Spool(directory, backend)
    log.adopt_orphans()
    log.append(event(1))
    batch = log.next_batch(100)
    while batch is not None:
        log.commit(batch)
        batch = log.next_batch(100)
    log.close()


@pytest.fixture
def live(tmp_path):
    """A spool of 'analytics' held by this process (3 events pending), closed after the test."""
    spool = Spool(tmp_path, 'analytics', clock=lambda: 1000.0)
    for number in range(3):
        spool.append(event(number))
    yield spool
    spool.close()


def test_a_live_spool_is_healthy_and_counted(tmp_path, live):
    status = collect([tmp_path], now=1030.0)
    [spool] = status['spools']
    [backend] = spool['backends']
    assert backend['backend'] == 'analytics' and backend['events'] == 3 and backend['oldest_age'] == 30.0
    assert backend['bytes'] == live.pending_bytes() > 0
    assert [(item['state'], item['owner_pid']) for item in backend['files']] == [('live', os.getpid())]
    assert status['healthy'] and status['problems'] == []
    assert render(status)[-1] == 'OK'


def test_max_age_makes_an_old_pending_event_a_problem(tmp_path, live):  # pylint: disable=unused-argument
    assert collect([tmp_path], max_age=60, now=1030.0)['healthy']
    status = collect([tmp_path], max_age=20, now=1030.0)
    assert not status['healthy']
    [(path, _)] = spool_files(str(tmp_path))
    assert status['problems'] == [f"{tmp_path}: the oldest pending event of backend 'analytics' in "
                                  f"{os.path.basename(path)} is 30 s old (over --max-age 20 s)"]


def test_the_spool_of_a_killed_process_is_orphaned(tmp_path, live):  # pylint: disable=unused-argument
    pid = killed_owner(tmp_path, 'analytics.xapi', 4)
    status = collect([tmp_path])
    backends = {item['backend']: item for item in status['spools'][0]['backends']}
    assert backends['analytics.xapi']['events'] == 4
    [orphan] = backends['analytics.xapi']['files']
    assert (orphan['state'], orphan['owner_pid']) == ('orphaned', pid)
    assert backends['analytics']['files'][0]['state'] == 'live'
    assert not status['healthy']
    [problem] = status['problems']
    assert f'is orphaned (its process {pid} is gone): 4 event(s) wait' in problem
    assert f'ORPHANED (pid {pid} is gone), 4 event(s)' in '\n'.join(render(status))


def test_quarantined_records_are_a_problem(tmp_path):
    quarantine(tmp_path, 'xapi')
    status = collect([tmp_path])
    [backend] = status['spools'][0]['backends']
    assert backend['quarantined'] == 2 and backend['events'] == 0
    assert [item['state'] for item in backend['files']] == ['quarantined']
    assert not status['healthy']
    assert 'holds 2 quarantined record(s)' in status['problems'][0]


def test_configured_backends_are_listed_when_nothing_waits(tmp_path):
    status = collect([], backends={'analytics': str(tmp_path), 'other': str(tmp_path / 'never-made')})
    by_directory = {item['directory']: item for item in status['spools']}
    assert [backend['backend'] for backend in by_directory[str(tmp_path)]['backends']] == ['analytics']
    assert by_directory[str(tmp_path / 'never-made')]['exists'] is False
    assert status['healthy']


# --- the command ----------------------------------------------------------------------------------------------------


def eventtracking(*args, env=None):
    return subprocess.run([sys.executable, '-m', 'eventtracking', *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, check=False, timeout=60)


def test_command_exit_status_0_when_healthy_1_when_not_and_json(tmp_path, live):  # pylint: disable=unused-argument
    env = dict(os.environ)
    env.pop('PROMETHEUS_MULTIPROC_DIR', None)
    healthy = eventtracking('status', '--spool-dir', str(tmp_path), env=env)
    assert healthy.returncode == 0, healthy.stderr
    assert "backend 'analytics': 3 event(s)" in healthy.stdout and healthy.stdout.endswith('OK\n')

    other = tmp_path / 'other'
    other.mkdir()
    killed_owner(other, 'xapi', 2)
    unhealthy = eventtracking('status', '--spool-dir', str(tmp_path), '--spool-dir', str(other), '--json', env=env)
    assert unhealthy.returncode == 1, unhealthy.stderr
    status = json.loads(unhealthy.stdout)
    assert [spool['directory'] for spool in status['spools']] == [str(tmp_path), str(other)]
    assert status['spools'][1]['backends'][0]['files'][0]['state'] == 'orphaned'
    assert status['healthy'] is False and len(status['problems']) == 1 and status['metrics'] is None

    old = eventtracking('status', '--spool-dir', str(tmp_path), '--max-age', '0', env=env)
    assert old.returncode == 1 and 'over --max-age 0 s' in old.stdout


def test_command_usage_errors_exit_2(tmp_path):
    not_a_directory = tmp_path / 'file'
    not_a_directory.write_text('x')
    assert eventtracking('status').returncode == 2  # --spool-dir is required
    assert eventtracking('status', '--spool-dir', str(tmp_path), '--max-age', '-1').returncode == 2
    wrong = eventtracking('status', '--spool-dir', str(not_a_directory))
    assert wrong.returncode == 2 and 'is not a directory' in wrong.stderr


def test_command_sums_the_prometheus_multiprocess_files_of_several_processes(tmp_path):
    directory = tmp_path / 'prometheus'
    directory.mkdir()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    script = textwrap.dedent('''
        from eventtracking import metrics
        from eventtracking.backends.routing import RoutingBackend
        from eventtracking.processors.whitelist import NameWhitelistProcessor
        from eventtracking.tracker import Tracker
        metrics.enable('prometheus')
        tracker = Tracker(backends={'analytics': RoutingBackend(
            processors=[NameWhitelistProcessor(whitelist=['kept'])], backends={})})
        for number in range(5):
            tracker.emit('other' if number % 2 else 'kept', {})
    ''')  # the counts reach the files at exit
    for _ in range(3):
        subprocess.run([sys.executable, '-c', script], env=env, cwd=ROOT, check=True, timeout=60)
    spools = tmp_path / 'spools'
    spools.mkdir()
    result = eventtracking('status', '--spool-dir', str(spools), '--json', env=env)
    assert result.returncode == 0, result.stderr
    sums = json.loads(result.stdout)['metrics']
    assert sums['eventtracking_events_emitted_total'] == 15
    assert sums['eventtracking_events_dropped_total{backend="analytics",reason="filtered"}'] == 6
    text = eventtracking('status', '--spool-dir', str(spools), '--prometheus-dir', str(directory),
                         env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=''))
    assert 'eventtracking_events_emitted_total 15' in text.stdout


def test_a_spool_file_removed_while_the_status_reads_it_is_left_out_not_a_crash(tmp_path, monkeypatch):
    """A live process removes a file it has published while the status command lists the directory."""
    pid = killed_owner(tmp_path, 'gone', 2)
    kept = Spool(str(tmp_path), 'kept')
    kept.append(event(0))
    real_try_lock = spool_module.try_lock

    def removed_first(path):
        if os.path.basename(path).startswith('gone@'):
            os.remove(path)  # as its owner does once all of it is published
        return real_try_lock(path)

    monkeypatch.setattr(spool_module, 'try_lock', removed_first)
    try:
        status = collect([str(tmp_path)])
    finally:
        kept.close()
    assert [backend['backend'] for backend in status['spools'][0]['backends']] == ['kept'], (pid, status)
