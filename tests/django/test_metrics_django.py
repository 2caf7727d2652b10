"""Django: EVENT_TRACKING_METRICS and its checks (E100-E102), the internal metrics view, and
``manage.py eventtracking_status`` against real spool directories."""

import io
import json
import os
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import Http404
from django.test import RequestFactory

from eventtracking import metrics
from eventtracking.django import metrics_setup
from eventtracking.django.views import metrics as metrics_view
from eventtracking.spool import Spool
from tests.django.test_async_routing_django import tree
from tests.test_status import killed_owner


@pytest.fixture(autouse=True)
def metrics_off_afterwards():
    yield
    metrics.enable(None)


def ids(messages):
    return [message.id for message in messages]


# --- the setting and its checks -------------------------------------------------------------------------------------


def test_no_setting_is_no_metrics(settings):
    assert metrics_setup.check_metrics() == []
    assert metrics_setup.enable_from_settings() is None
    assert metrics.enabled() is None


def test_a_kind_turns_the_export_on(settings):
    settings.EVENT_TRACKING_METRICS = 'prometheus'
    assert metrics_setup.check_metrics() == []
    assert metrics_setup.enable_from_settings() == 'prometheus'
    assert metrics.enabled() == 'prometheus'


def test_an_unknown_kind_is_e090_and_metrics_stay_off(settings, caplog):
    settings.EVENT_TRACKING_METRICS = 'statsd'
    [message] = metrics_setup.check_metrics()
    assert message.id == 'eventtracking.E100' and message.msg.startswith('EVENT_TRACKING_METRICS: must be None')
    assert metrics_setup.enable_from_settings() is None
    assert metrics.enabled() is None
    assert 'Metrics are not exported: EVENT_TRACKING_METRICS' in caplog.text


def test_a_missing_library_is_e101_naming_the_extra(settings, monkeypatch):
    settings.EVENT_TRACKING_METRICS = 'opentelemetry'
    for name in ('opentelemetry', 'opentelemetry.metrics'):  # as if never installed, also when imported before
        monkeypatch.setitem(sys.modules, name, None)
    [message] = metrics_setup.check_metrics()
    assert message.id == 'eventtracking.E101'
    assert message.hint == "pip install '<eventtracking checkout or wheel>[opentelemetry]' (eventtracking is not on PyPI)"


def test_an_unusable_multiprocess_directory_is_e092(settings, monkeypatch, tmp_path):
    settings.EVENT_TRACKING_METRICS = 'prometheus'
    monkeypatch.setenv('PROMETHEUS_MULTIPROC_DIR', str(tmp_path / 'missing'))
    assert ids(metrics_setup.check_metrics()) == ['eventtracking.E102']
    monkeypatch.setenv('PROMETHEUS_MULTIPROC_DIR', str(tmp_path))
    assert metrics_setup.check_metrics() == []


def test_the_check_runs_with_manage_py_check(settings):
    settings.EVENT_TRACKING_METRICS = 42
    with pytest.raises(CommandError, match=r'eventtracking\.E100\) EVENT_TRACKING_METRICS: must be None'):
        call_command('check', stderr=io.StringIO(), stdout=io.StringIO())


# --- the view -------------------------------------------------------------------------------------------------------


def test_the_view_serves_the_prometheus_metrics_and_404_when_off(settings):
    request = RequestFactory().get('/metrics')
    with pytest.raises(Http404):
        metrics_view(request)
    metrics.enable('prometheus')
    metrics.emitted()
    response = metrics_view(request)
    assert response.status_code == 200 and response['Content-Type'].startswith('text/plain')
    assert b'eventtracking_events_emitted_total ' in response.content
    openmetrics = metrics_view(RequestFactory().get('/metrics', HTTP_ACCEPT='application/openmetrics-text'))
    assert openmetrics['Content-Type'].startswith('application/openmetrics-text')


# --- manage.py eventtracking_status ---------------------------------------------------------------------------------


def status(*args):
    out = io.StringIO()
    try:
        call_command('eventtracking_status', *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_status_lists_the_configured_backends_and_exits_0_when_all_is_well(settings, tmp_path, monkeypatch):
    monkeypatch.delenv('PROMETHEUS_MULTIPROC_DIR', raising=False)
    settings.EVENT_TRACKING_BACKENDS = tree(spool_dir=str(tmp_path))
    held = Spool(str(tmp_path), 'analytics.xapi.async')
    held.append({'name': 'edx.test.held', 'data': {}})
    try:
        code, out = status()
        json_code, json_out = status('--json')
    finally:
        held.close()
    assert code == 0, out
    assert f"Spool directory {tmp_path}\n  backend 'analytics.xapi.async': 1 event(s)" in out
    assert f'live (pid {os.getpid()})' in out
    assert json_code == 0
    [backend] = json.loads(json_out)['spools'][0]['backends']
    assert backend['backend'] == 'analytics.xapi.async' and backend['events'] == 1


def test_status_exits_1_for_an_orphaned_spool_and_over_max_age(settings, tmp_path, monkeypatch):
    monkeypatch.delenv('PROMETHEUS_MULTIPROC_DIR', raising=False)
    settings.EVENT_TRACKING_BACKENDS = tree(spool_dir=str(tmp_path))
    pid = killed_owner(tmp_path, 'analytics.xapi.async', 3)
    code, out = status()
    assert code == 1
    assert f'ORPHANED (pid {pid} is gone), 3 event(s)' in out and '1 problem(s):' in out
    code, out = status('--max-age', '0')
    assert code == 1 and 'over --max-age 0 s' in out


def test_status_without_any_spool_dir_says_so(settings):
    settings.EVENT_TRACKING_BACKENDS = tree()
    with pytest.raises(CommandError, match='has a spool_dir') as raised:
        status()
    assert raised.value.returncode == 2  # a usage error, not an unhealthy spool (1)


def test_a_negative_max_age_is_a_usage_error_exit_2(settings, tmp_path):
    settings.EVENT_TRACKING_BACKENDS = tree(spool_dir=str(tmp_path))
    with pytest.raises(CommandError, match='--max-age') as raised:
        status('--max-age', '-5')
    assert raised.value.returncode == 2
