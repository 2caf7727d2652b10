"""The progress bar: on a terminal with tqdm installed, and nowhere else."""

import fcntl
import io
import os
import pty
import select
import struct
import sys
import termios
from unittest import mock

import pytest

from eventtracking.cli.progress import NoProgress, progress_bar


@pytest.fixture(name='terminal')
def fixture_terminal():
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    stream = os.fdopen(secondary, 'w')
    yield stream, primary
    stream.close()
    os.close(primary)


def test_a_pipe_or_an_unknown_size_gets_no_bar(terminal):
    assert isinstance(progress_bar(1000, 'f', stream=io.StringIO(), output=terminal[0]), NoProgress)
    assert isinstance(progress_bar(None, 'f', stream=terminal[0], output=terminal[0]), NoProgress)


def test_output_piped_gets_no_bar_even_with_standard_error_on_a_terminal(terminal):
    pytest.importorskip('tqdm')
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, 'rb') as _, os.fdopen(write_end, 'w') as piped:
        assert isinstance(progress_bar(1000, 'f', stream=terminal[0], output=piped), NoProgress)
    with mock.patch.object(sys, 'stdout', io.StringIO()):
        assert isinstance(progress_bar(1000, 'f', stream=terminal[0]), NoProgress)
    with mock.patch.object(sys, 'stdout', terminal[0]):
        bar = progress_bar(1000, 'f', stream=terminal[0])
    assert not isinstance(bar, NoProgress)
    bar.close()


def test_without_tqdm_a_terminal_gets_no_bar(terminal):
    with mock.patch.dict(sys.modules, {'tqdm': None}):
        bar = progress_bar(1000, 'f', stream=terminal[0], output=terminal[0])
    assert isinstance(bar, NoProgress)
    bar.update_to(500)
    bar.close()


def test_a_terminal_gets_a_bar_that_counts_bytes(terminal):
    pytest.importorskip('tqdm')
    stream, primary = terminal
    bar = progress_bar(1000, 'tracking.log', stream=stream, output=stream)
    assert not isinstance(bar, NoProgress)
    bar.update_to(1000)
    stream.flush()
    readable, _, _ = select.select([primary], [], [], 10)
    assert readable and b'tracking.log' in os.read(primary, 4096)
    bar.close()
