"""``manage.py eventtracking_spool``: list spool files; ``--replay`` publishes them to a real worker."""

import io
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from eventtracking.backends.async_routing import AsyncRoutingBackend
from eventtracking.spool import Spool
from eventtracking.tracker import Tracker
from tests.django.test_async_routing_django import tree
from tests.servers import CollectingBackend


def left_behind(directory, backend, batches):
    """A spool file of ``backend`` that no process holds, with these batches of ``seq`` numbers."""
    spool = Spool(str(directory), backend)
    for batch in batches:
        for number in batch:
            spool.append({'name': 'edx.test.spooled', 'data': {'seq': number}})
    spool.close()


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command('eventtracking_spool', *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_lists_each_file_with_its_events_and_whether_a_process_holds_it(tmp_path):
    left_behind(tmp_path, 'analytics.xapi', [[1, 2], [3]])
    held = Spool(str(tmp_path), 'caliper')
    held.append({'name': 'edx.test.held', 'data': {}})
    try:
        out, _ = run('--spool-dir', str(tmp_path))
    finally:
        held.close()

    lines = out.splitlines()
    assert lines[0] == f'{tmp_path}: 2 spool file(s)'
    [xapi] = [line for line in lines if "backend 'analytics.xapi'" in line]
    assert ', 3 event(s), oldest ' in xapi and 'held' not in xapi
    [caliper] = [line for line in lines if "backend 'caliper'" in line]
    assert caliper.endswith('held by a running process')
    assert lines[-1] == '4 event(s) wait in the spool'


def test_it_finds_the_spool_dirs_in_the_settings(settings, tmp_path):
    settings.EVENT_TRACKING_BACKENDS = tree(spool_dir=str(tmp_path))
    left_behind(tmp_path, 'analytics.xapi.async', [[1]])
    out, _ = run()
    assert out.splitlines()[0] == f'{tmp_path}: 1 spool file(s)'


def test_without_a_spool_dir_it_says_so(settings):
    settings.EVENT_TRACKING_BACKENDS = tree()
    with pytest.raises(CommandError, match='has a spool_dir'):
        run()


@pytest.mark.server
def test_replay_publishes_what_nobody_holds_and_removes_the_file(
        tmp_path, celery_worker_thread, register_default_tracker):
    sink = CollectingBackend()
    register_default_tracker(Tracker(backends={'replayed': AsyncRoutingBackend(backends={'sink': sink},
                                                                               backend_name='replayed')}))
    left_behind(tmp_path, 'replayed', [[1, 2], [3]])

    out, err = run('--spool-dir', str(tmp_path), '--replay')

    assert err == ''
    assert "Backend 'replayed': published 3 event(s)" in out
    assert out.splitlines()[-1] == 'Published 3 event(s); 0 event(s) left in the spool'  # not the total before
    assert sorted(event['data']['seq'] for event in sink.wait_for(3)) == [1, 2, 3]
    assert os.listdir(tmp_path) == []


def test_replay_with_the_broker_down_keeps_the_spool_and_fails_the_command(tmp_path):
    from tests.backends.test_async_routing import current  # pylint: disable=import-outside-toplevel
    from celery import Celery  # pylint: disable=import-outside-toplevel
    from tests.servers import free_port  # pylint: disable=import-outside-toplevel

    left_behind(tmp_path, 'replayed', [[1, 2]])
    dead = Celery('eventtracking-dead-spool', broker=f'redis://127.0.0.1:{free_port()}/0', set_as_current=False)
    dead.finalize()
    with current(dead), pytest.raises(CommandError, match="spool of 'replayed' could not be published"):
        run('--spool-dir', str(tmp_path), '--replay')
    dead.close()
    assert len([name for name in os.listdir(tmp_path) if name.endswith('.spool')]) == 1  # kept for the next try


def test_replay_with_the_broker_down_says_what_is_left(tmp_path):
    from tests.backends.test_async_routing import current  # pylint: disable=import-outside-toplevel
    from celery import Celery  # pylint: disable=import-outside-toplevel
    from tests.servers import free_port  # pylint: disable=import-outside-toplevel

    left_behind(tmp_path, 'replayed', [[1, 2]])
    dead = Celery('eventtracking-dead-spool-left', broker=f'redis://127.0.0.1:{free_port()}/0', set_as_current=False)
    dead.finalize()
    out = io.StringIO()
    with current(dead), pytest.raises(CommandError):
        call_command('eventtracking_spool', '--spool-dir', str(tmp_path), '--replay', stdout=out, stderr=io.StringIO())
    dead.close()
    assert out.getvalue().splitlines()[-1] == 'Published 0 event(s); 2 event(s) left in the spool'
