"""A backend that appends each event as one JSON line to a file, with no ``logging`` in between.

The lines are byte for byte those of
:class:`~eventtracking.backends.logger.LoggerBackend` with the same options
(and a plain ``logging.FileHandler`` writing only the message). Each line is
written with one ``os.write`` on a file opened with ``O_APPEND``, so several
threads and processes may write the same file without tearing or
interleaving lines. When the file is moved away or removed (logrotate's
default ``create`` mode), the next line goes to a new file at ``path``, as
``logging.handlers.WatchedFileHandler`` does. A write that fails (disk
full, file no longer writable) is counted as ``write_error`` and logged
without flooding; it never raises into ``emit``. A line cut short (the
disk filled mid-line) is ended with a newline at once, or else before the
next line, so that the next line starts clean. See the documentation's
page "The tracking log" for settings, rotation, and reading the file.
"""

import errno
import logging
import os
import threading

from eventtracking.encoding import encode_event, event_encoder
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import ImproperlyConfigured
from eventtracking.forking import after_fork_in_child
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import OVERSIZE, WRITE_ERROR, EventCounters

MAX_EVENT_SIZE = 1024
"""The default ``max_event_size``: characters of the JSON line, as LoggerBackend's."""

OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0)
"""How the file is opened: for appending, created if missing, not inherited by programs this process runs."""

LOG = RateLimitedLog(logging.getLogger(__name__))



class FileBackend:
    """Append every event as one JSON line to the file ``path``.

    Options:

    ``path``
        The file to write (created when missing). Its folder must exist and
        it must not be a folder: either mistake raises ``ImproperlyConfigured``
        at construction, naming the path.
    ``max_event_size``
        The longest line written, in characters, newline excluded (default
        1024); a longer event is dropped and counted as ``oversize``.
        ``None``: no limit.
    ``encoder``
        ``'json'`` (default) or ``'orjson'``, as for
        :class:`~eventtracking.backends.logger.LoggerBackend`.

    Before each line, the backend compares the device and inode of ``path``
    with those of its open file and reopens ``path`` when they differ or it
    is gone (one ``os.stat``, about 2 µs). Lines are UTF-8.

    Called directly, :meth:`send` raises ``TypeError`` for a value it cannot
    serialize and ``ValueError`` for a circular structure, as LoggerBackend
    does. A file that cannot be opened or written never raises: the event is
    counted as ``write_error`` and one line is logged (then at most one a
    minute), naming the path, the event's name and the system's reason.
    """

    mutates_events = False

    def __init__(self, path, max_event_size=MAX_EVENT_SIZE, encoder='json'):
        self.path = _checked_path(path)
        if max_event_size is not None and (
            isinstance(max_event_size, bool) or not isinstance(max_event_size, int) or max_event_size < 0
        ):
            raise ImproperlyConfigured(
                f'FileBackend max_event_size must be a non-negative integer or None, not {max_event_size!r}'
            )
        self.max_event_size = max_event_size
        self.encoder = encoder
        self._encode = event_encoder(encoder, 'FileBackend')
        self.counters = EventCounters()
        self._lock = threading.Lock()
        self._fd = None
        self._identity = None
        self._cut_short = None  # (device, inode) of a file that ends with part of a line, until a newline ends it
        after_fork_in_child(self, FileBackend._new_lock)

    @property
    def stats(self):
        """Counts by reason of the events this backend dropped (``oversize``, ``write_error``)."""
        return self.counters.snapshot()

    def send(self, event):
        """Append ``event`` as one JSON line, unless it is longer than ``max_event_size``."""
        text = encode_event(self._encode, event)
        if self.max_event_size is not None and len(text) > self.max_event_size:
            self.counters.increment(OVERSIZE)
            LOG.warning(
                (self.path, OVERSIZE),
                'Dropped event %s (%s): its JSON is %d characters long, over the max_event_size of %d of file %r',
                safe_name(event_name(event)), OVERSIZE, len(text), self.max_event_size, self.path,
            )
            return
        line = (text + '\n').encode('utf-8')
        try:
            self._write(line)
        except OSError as exc:
            self.counters.increment(WRITE_ERROR)
            LOG.error(
                (self.path, WRITE_ERROR), 'Dropped event %s (%s): cannot write to %r: %s',
                safe_name(event_name(event)), WRITE_ERROR, self.path, exc.strerror or type(exc).__name__,
            )

    def _write(self, line):
        """Append ``line``; a line cut short (disk full mid-line) is ended with a newline, now or before the next."""
        fd = self._fd
        if fd is None or _identity(self.path) != self._identity:
            fd = self._reopen()
        identity = self._identity
        if self._cut_short is not None and self._cut_short == identity:
            line = b'\n' + line
        written = os.write(fd, line)
        if not written:
            raise OSError(errno.EIO, 'the file took none of the line')
        try:
            while written < len(line):  # a regular file writes all at once unless the disk is full
                more = os.write(fd, memoryview(line)[written:])
                if not more:
                    raise OSError(errno.EIO, 'the file took none of the rest of the line')
                written += more
        except OSError:
            self._cut_short = None if _wrote_newline(fd) else identity
            raise
        self._cut_short = None

    def _reopen(self):
        """Open ``path`` again (it is missing, or another file now) and return the descriptor to write to.

        The descriptor's number never changes once opened: the new file is
        put in its place with ``os.dup2``, so a thread writing at that moment
        without the lock writes whole lines to the old file or the new one,
        never to a descriptor closed or reused meanwhile.
        """
        with self._lock:
            identity = _identity(self.path)
            if self._fd is not None and identity is not None and identity == self._identity:
                return self._fd  # another thread reopened it meanwhile
            fd = os.open(self.path, OPEN_FLAGS, 0o666)
            status = os.fstat(fd)
            if self._fd is None:
                self._fd = fd
            else:
                os.dup2(fd, self._fd, inheritable=False)
                os.close(fd)
            self._identity = (status.st_dev, status.st_ino)
            return self._fd

    def _new_lock(self):
        """In a child process after ``fork``: another thread may have held the old lock."""
        self._lock = threading.Lock()

    def close(self):
        """Close the file; a later event opens it again. Call it when no other thread is sending."""
        with self._lock:
            fd, self._fd, self._identity = self._fd, None, None
            if fd is not None:
                os.close(fd)

    def __repr__(self):
        return f'FileBackend({self.path!r})'


def _wrote_newline(fd):
    """Try to end a line cut short with a newline; True when it was written."""
    try:
        return os.write(fd, b'\n') == 1
    except OSError:
        return False


def _identity(path):
    """The device and inode of the file at ``path``, or None when there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _checked_path(path):
    """``path`` made absolute (as ``logging.FileHandler`` does), so that a later ``chdir`` does not move the log.

    Raises ``ImproperlyConfigured`` naming it when its folder is missing or it is a folder.
    """
    try:
        path = os.fspath(path)
    except TypeError as exc:
        raise ImproperlyConfigured(f'FileBackend path must be a file path, not {path!r}') from exc
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ImproperlyConfigured('FileBackend path must be a file path, not an empty string')
    if os.path.isdir(path):
        raise ImproperlyConfigured(f'FileBackend path {path!r} is a folder: give the path of a file in it')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImproperlyConfigured(f'FileBackend path {path!r}: the folder {folder!r} does not exist')
    return os.path.abspath(path)
