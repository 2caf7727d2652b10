"""eventtracking replay: every line back through the Django-configured tree, original timestamp and context kept."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
import tracemalloc

import pytest

from eventtracking.cli import main
from eventtracking.cli.reader import to_native
from eventtracking.processors.legacy import LegacyFieldMappingProcessor
from eventtracking.processors.regex_filter import RegexFilter
from eventtracking.testing import InMemoryBackend
from eventtracking.tracker import Tracker
from tests.cli.helpers import TUTOR_PREFIX, gzip_file, run_cli, sample_events, write_log
from tests.cli.test_main import CONSOLE_SCRIPT

LEGACY_TREE = {
    'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
    'OPTIONS': {
        'processors': [{'ENGINE': 'eventtracking.processors.legacy.LegacyFieldMappingProcessor'}],
        'backends': {'log': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                             'OPTIONS': {'name': 'tracking', 'max_event_size': None}}},
    },
}
NATIVE_TREE = {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
               'OPTIONS': {'name': 'tracking', 'max_event_size': None}}


def write_settings(folder, output, tree):
    """A Django settings module in ``folder`` whose tracker writes the tracking log ``output`` with LoggerBackend."""
    (folder / 'replay_settings.py').write_text(textwrap.dedent(f'''
        SECRET_KEY = 'replay-test'
        USE_TZ = True
        INSTALLED_APPS = ['eventtracking.django']
        EVENT_TRACKING_ENABLED = True
        EVENT_TRACKING_BACKENDS = {{'tracking_logs': {tree!r}}}
        EVENT_TRACKING_PROCESSORS = []
        LOGGING = {{
            'version': 1,
            'formatters': {{'message': {{'format': '%(message)s'}}}},
            'handlers': {{'file': {{'class': 'logging.FileHandler', 'filename': {str(output)!r},
                                    'formatter': 'message', 'encoding': 'utf-8'}}}},
            'loggers': {{'tracking': {{'handlers': ['file'], 'level': 'INFO', 'propagate': False}}}},
        }}
    '''))
    return 'replay_settings'


@pytest.fixture(name='recorded')
def fixture_recorded(register_default_tracker):
    backend = InMemoryBackend()
    register_default_tracker(Tracker({'memory': backend}))
    return backend.events


def test_native_lines_are_replayed_as_the_events_that_were_emitted(tmp_path, recorded, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(), prefix=TUTOR_PREFIX)
    assert main(['replay', str(gzip_file(path))]) == 0
    assert recorded == sample_events()
    assert all(event['timestamp'].tzinfo is not None for event in recorded)
    assert capsys.readouterr().err == 'replayed 6 events, skipped 0 lines\n'


def test_legacy_lines_are_replayed_as_native_events(tmp_path, recorded):
    path = tmp_path / 'tracking.log'
    texts = write_log(path, sample_events(), legacy=True)
    assert main(['replay', str(path)]) == 0
    assert recorded == [to_native(json.loads(text)) for text in texts]
    processor = LegacyFieldMappingProcessor()
    for event, emitted in zip(recorded, sample_events()):
        assert event['timestamp'] == emitted['timestamp']
        assert event['data'] == emitted['data']
        assert processor(event) == processor(emitted)


def test_time_window_and_skipped_lines(tmp_path, recorded, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events())
    with open(path, 'a', encoding='utf-8') as log:
        log.write('not json\n{"name": "no.time", "data": {}}\n')
    status = main(['replay', str(path), '--since', '2024-03-01T08:35', '--until', '2024-03-01T09:35'])
    assert status == 1
    assert [event['timestamp'] for event in recorded] == [event['timestamp'] for event in sample_events()[1:4]]
    assert capsys.readouterr().err.splitlines() == [
        f'{path}:7: skipped: no JSON object on the line',
        f'{path}:8: skipped: the event has no timestamp',
        'replayed 3 events, skipped 2 lines',
    ]


class Failing:
    """A backend that fails for one event name: the routing backend counts it as backend_error."""

    def send(self, event):
        if event['name'] == 'problem_check':
            raise RuntimeError('the analytics store is down')


def test_anything_lost_in_the_tree_exits_1(tmp_path, register_default_tracker, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3))
    register_default_tracker(Tracker({'failing': Failing()}))
    assert main(['replay', str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == \
        "replayed 3 events, skipped 0 lines; dropped or failed in the tree: {'backend_error': 1}"


def test_events_filtered_on_purpose_are_not_a_failure(tmp_path, register_default_tracker, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(3))
    backend = InMemoryBackend()
    register_default_tracker(Tracker({'memory': backend}, processors=[RegexFilter('allowlist', [r'^edx\.'])]))
    assert main(['replay', str(path)]) == 0
    assert [event['name'] for event in backend.events] == ['edx.video.played', 'edx.course.enrollment.activated']
    assert capsys.readouterr().err.splitlines()[-1] == \
        "replayed 3 events, skipped 0 lines; not lost (filtered on purpose, skipped by a backend or spooled): " \
        "{'filtered': 1}"


def test_a_time_before_year_1_in_utc_is_skipped(tmp_path, recorded, capsys):
    path = tmp_path / 'tracking.log'
    path.write_text('{"name": "early", "timestamp": "0001-01-01T00:00:00+01:00"}\n')
    assert main(['replay', str(path)]) == 1
    assert recorded == []
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:1: skipped: the timestamp '0001-01-01T00:00:00+01:00' cannot be converted to UTC",
        'replayed 0 events, skipped 1 line',
    ]


def test_a_deeply_nested_line_is_skipped_not_a_traceback(tmp_path, recorded, capsys):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    with open(path, 'a', encoding='utf-8') as log:
        log.write('{"a":' * 100_000 + '\n')
    assert main(['replay', str(path)]) == 1
    assert len(recorded) == 1
    assert capsys.readouterr().err.splitlines() == [
        f'{path}:2: skipped: the JSON object on the line is nested too deeply',
        'replayed 1 event, skipped 1 line',
    ]


@pytest.mark.parametrize('legacy', [False, True])
def test_replay_through_a_logger_backend_writes_the_input_again(tmp_path, legacy):
    source = tmp_path / 'source.log'
    texts = write_log(source, sample_events(), legacy=legacy, prefix=TUTOR_PREFIX)
    output = tmp_path / 'replayed.log'
    settings = write_settings(tmp_path, output, LEGACY_TREE if legacy else NATIVE_TREE)
    result = run_cli('replay', '--settings', settings, source, cwd=tmp_path, command=[str(CONSOLE_SCRIPT)])
    assert (result.returncode, result.stderr) == (0, 'replayed 6 events, skipped 0 lines\n')
    assert output.read_text(encoding='utf-8').splitlines() == texts


def test_without_settings_or_tracker_replay_exits_2(tmp_path):
    path = tmp_path / 'tracking.log'
    write_log(path, sample_events(1))
    env = {key: value for key, value in os.environ.items() if key != 'DJANGO_SETTINGS_MODULE'}
    result = subprocess.run([sys.executable, '-m', 'eventtracking', 'replay', str(path)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, check=False)
    assert (result.returncode, result.stderr) == (
        2, 'eventtracking replay: needs Django settings: give --settings MODULE or set DJANGO_SETTINGS_MODULE\n')
    result = run_cli('replay', '--settings', 'no_such_settings', path, cwd=tmp_path)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.startswith('eventtracking replay: cannot set Django up with the settings no_such_settings:')
    (tmp_path / 'disabled.py').write_text("SECRET_KEY = 'x'\nINSTALLED_APPS = ['eventtracking.django']\n")
    result = run_cli('replay', '--settings', 'disabled', path, cwd=tmp_path)
    assert result.returncode == 2 and 'register no default tracker' in result.stderr


class Counting:
    """A backend that only counts: nothing kept, so memory measures the reading."""

    def __init__(self):
        self.count = 0

    def send(self, event):  # pylint: disable=unused-argument
        self.count += 1


def _replay_peak(path, register_default_tracker):
    backend = Counting()
    register_default_tracker(Tracker({'count': backend}))
    tracemalloc.start()
    try:
        assert main(['replay', str(path)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return backend.count, peak


def _generate(path, lines):
    line = json.dumps({'name': 'edx.bulk', 'timestamp': '2024-03-01T08:00:00+00:00',
                       'data': {'pad': 'x' * 400}, 'context': {'user_id': 1}}) + '\n'
    with open(path, 'w', encoding='utf-8') as log:
        for _ in range(lines):
            log.write(line)


def test_replay_streams_in_constant_memory(tmp_path, register_default_tracker, capsys):
    small, large = tmp_path / 'small.log', tmp_path / 'large.log'
    _generate(small, 1000)
    _generate(large, 20000)  # about 10 MB
    small_count, small_peak = _replay_peak(small, register_default_tracker)
    large_count, large_peak = _replay_peak(large, register_default_tracker)
    capsys.readouterr()
    assert (small_count, large_count) == (1000, 20000)
    assert large_peak < small_peak * 1.5 + 64 * 1024, (small_peak, large_peak)
    assert large_peak < large.stat().st_size / 20


def test_progress_bar_on_a_terminal_only(tmp_path):
    pytest.importorskip('tqdm')
    path = tmp_path / 'tracking.log'
    _generate(path, 3000)
    settings = write_settings(tmp_path, tmp_path / 'out.log', NATIVE_TREE)
    piped = run_cli('replay', '--settings', settings, path, cwd=tmp_path)
    assert piped.stderr == 'replayed 3000 events, skipped 0 lines\n'
    assert _on_a_terminal(tmp_path, settings, path, stdout=subprocess.PIPE) == \
        b'replayed 3000 events, skipped 0 lines\r\n'  # output piped: no bar, as the issue asks
    shown = _on_a_terminal(tmp_path, settings, path)
    assert b'replayed 3000 events' in shown
    assert b'tracking.log' in shown and b'%' in shown  # tqdm's bar: the file's name and its percentage


def _on_a_terminal(tmp_path, settings, path, stdout=None):
    """What replay writes to a terminal that is its standard error (and its standard output, unless given)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    try:
        process = subprocess.run([sys.executable, '-m', 'eventtracking', 'replay', '--settings', settings, path],
                                 stdout=secondary if stdout is None else stdout, stderr=secondary, cwd=tmp_path,
                                 timeout=120, check=False)
        os.close(secondary)
        shown = b''
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert process.returncode == 0
    return shown
