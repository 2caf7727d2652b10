"""The spool: batches of events that could not be published yet, kept on disk until the broker is back.

A spool directory holds append-only JSON-lines files, each line one batch::

    {"backend": "analytics.xapi", "events": [...]}

Each process writes its own file, named ``<backend>@<host>-<pid>-<created>-<random>.jsonl``
(the backend name %-quoted, ``created`` in seconds since the epoch), and holds an exclusive ``fcntl.flock`` on it for
as long as it owns it. The lock dies with the process, so a file whose lock
can be taken belongs to nobody: the next process using the same directory
for the same backend takes it over, publishes its lines and removes it. Two
processes can never hold one file.

Lines are encoded by the ``dumps``/``loads`` functions given (Celery's JSON,
``kombu.utils.json``, so a spooled event comes back as the worker would have
received it). A batch is published at least once: a crash between a
publish and the note that it was published replays it.
"""

import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from urllib.parse import quote, unquote

from eventtracking.ratelimit import RateLimitedLog

LOG = RateLimitedLog(logging.getLogger(__name__))

SUFFIX = '.jsonl'


def file_prefix(backend_name):
    """The start of the names of ``backend_name``'s spool files."""
    return quote(backend_name, safe='') + '@'


def backend_of(filename):
    """The backend name a spool file belongs to, from its file name (None if it is no spool file)."""
    if not filename.endswith(SUFFIX) or '@' not in filename:
        return None
    return unquote(filename.split('@', 1)[0])


def try_lock(path):
    """Open ``path`` and take its exclusive lock without waiting; return the descriptor, or None.

    None when another process holds the lock, or when the file is gone or
    was removed by its last owner between the listing and the lock.
    """
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(descriptor).st_nlink == 0:
            raise FileNotFoundError(path)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


READ_CHUNK = 1 << 20
"""Bytes read from a spool file at a time: a spool of any size is read in constant memory (plus one line)."""


def read_batches(descriptor, offset=0, chunk=READ_CHUNK):
    """Yield ``(line, end offset)`` for every complete line of the file from ``offset``, reading ``chunk`` bytes
    at a time (the file's size when this starts is where it stops; a line cut short there is left)."""
    size = os.fstat(descriptor).st_size
    position = offset
    pending = b''
    while position + len(pending) < size:
        data = os.pread(descriptor, min(chunk, size - position - len(pending)), position + len(pending))
        if not data:
            return
        lines = (pending + data).split(b'\n')
        pending = lines.pop()
        for line in lines:
            position += len(line) + 1
            yield line + b'\n', position


class _File:
    __slots__ = ('path', 'descriptor', 'offset', 'pending')

    def __init__(self, path, descriptor, pending=0):
        self.path = path
        self.descriptor = descriptor
        self.offset = 0
        self.pending = pending


class Spool:
    """The spool files of one backend in ``directory``: this process's own, and those it took over."""

    def __init__(self, directory, backend_name, dumps, loads):
        self.directory = directory
        self.backend_name = backend_name
        self.dumps = dumps
        self.loads = loads
        self._prefix = file_prefix(backend_name)
        self._lock = threading.Lock()
        self._own = None
        self._adopted = []

    def pending(self):
        """Events written to the spool files this process holds and not yet published."""
        with self._lock:
            return sum(file.pending for file in self._files())

    def _files(self):
        return self._adopted + ([self._own] if self._own is not None else [])

    def append(self, events):
        """Write ``events`` as one line of this process's own file; ``OSError`` if the disk refuses."""
        line = self.dumps({'backend': self.backend_name, 'events': events}).encode('utf-8') + b'\n'
        with self._lock:
            if self._own is None:
                self._own = self._create()
            written = os.write(self._own.descriptor, line)
            if written != len(line):
                raise OSError(f'short write to {self._own.path}: {written} of {len(line)} bytes')
            self._own.pending += len(events)

    def _create(self):
        os.makedirs(self.directory, exist_ok=True)
        name = f'{self._prefix}{socket.gethostname()}-{os.getpid()}-{int(time.time())}-{uuid.uuid4().hex[:8]}'
        temporary = os.path.join(self.directory, f'.{name}.tmp')
        descriptor = os.open(temporary, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        path = os.path.join(self.directory, name + SUFFIX)
        os.rename(temporary, path)
        return _File(path, descriptor)

    def adopt_orphans(self):
        """Take over the files of this backend that no live process holds; return how many events they hold."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return 0
        taken = 0
        with self._lock:
            held = {file.path for file in self._files()}
            for name in names:
                path = os.path.join(self.directory, name)
                if not name.startswith(self._prefix) or not name.endswith(SUFFIX) or path in held:
                    continue
                descriptor = try_lock(path)
                if descriptor is None:
                    continue
                file = _File(path, descriptor)
                file.pending = sum(self._count(line) for line, _ in read_batches(descriptor))
                self._adopted.append(file)
                taken += file.pending
        if taken:
            LOG.warning(('spool', self.backend_name, 'adopted'),
                        'Took over %d spooled event(s) of backend %r left by a process that ended', taken,
                        self.backend_name)
        return taken

    def _count(self, line):
        try:
            return len(self.loads(line)['events'])
        except Exception:  # pylint: disable=broad-except
            return 0

    def replay(self, publish):
        """Publish every spooled batch, oldest file first, with ``publish(events)``; stop at the first failure.

        Returns True when nothing is left. The exception ``publish`` raised
        propagates; the batches before it are not published again.
        """
        with self._lock:
            files = self._files()
        for file in files:
            for line, end in read_batches(file.descriptor, file.offset):
                events = self._decode(line, file)
                if events:
                    publish(events)
                with self._lock:
                    file.offset = end
                    file.pending = max(0, file.pending - len(events))
            self._finish(file)
        with self._lock:
            return not any(file.pending for file in self._files())

    def _decode(self, line, file):
        try:
            return self.loads(line)['events']
        except Exception:  # pylint: disable=broad-except
            LOG.error(('spool', self.backend_name, 'corrupt'),
                      'Skipped an unreadable line of spool file %s (a write cut short?)', file.path)
            return []

    def _finish(self, file):
        """Remove a file all of whose lines were published; empty this process's own file instead."""
        with self._lock:
            if file.offset < os.fstat(file.descriptor).st_size:
                return
            if file is self._own:
                os.ftruncate(file.descriptor, 0)
                file.offset = 0
                file.pending = 0
                return
            self._adopted.remove(file)
        _remove(file)

    def close(self):
        """Let go of every file: an empty one is removed, one with events left is left for the next process."""
        with self._lock:
            files = self._files()
            self._own = None
            self._adopted = []
        for file in files:
            if os.fstat(file.descriptor).st_size <= file.offset:
                _remove(file)
            else:
                os.close(file.descriptor)

    def forget_after_fork(self):
        """In a child process after ``fork``: drop the parent's files (its descriptors stay the parent's)."""
        for file in self._files():
            try:
                os.close(file.descriptor)
            except OSError:
                pass
        self._lock = threading.Lock()
        self._own = None
        self._adopted = []


def _remove(file):
    try:
        os.unlink(file.path)
    except OSError:
        pass
    os.close(file.descriptor)


def spool_files(directory):
    """The spool files in ``directory`` as ``(path, backend name)``, oldest name first."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [(os.path.join(directory, name), backend_of(name)) for name in names if backend_of(name) is not None]


def created_at(filename):
    """When the spool file was created (seconds since the epoch), from its name; None if the name does not say."""
    try:
        return int(filename[:-len(SUFFIX)].rsplit('-', 2)[-2])
    except (ValueError, IndexError):
        return None


def describe(path, loads):
    """``{'events': n, 'batches': n, 'size': bytes, 'held': bool}`` for one spool file.

    ``held`` is True while a live process owns the file (it will publish it
    itself); the lock taken to find out is let go at once.
    """
    descriptor = try_lock(path)
    held = descriptor is None
    if held:
        descriptor = os.open(path, os.O_RDONLY)
    try:
        events = batches = 0
        for line, _ in read_batches(descriptor):
            batches += 1
            try:
                events += len(loads(line)['events'])
            except Exception:  # pylint: disable=broad-except
                pass
        return {'events': events, 'batches': batches, 'size': os.fstat(descriptor).st_size, 'held': held}
    finally:
        os.close(descriptor)
