"""The spool: a write-ahead log of events on local disk, one file per process and backend.

Each process appends the events of a backend to its own file in the spool
directory, named ``<backend>@<host>-<pid>-<created>-<random>.spool`` (the
backend name %-quoted), and holds an exclusive ``fcntl.flock`` on it for as
long as it owns it. The lock dies with the process, however it dies, so a
file whose lock can be taken belongs to nobody: the next process using the
directory for that backend takes it over and publishes what is left.

A file is a sequence of framed records, one event each: a 2-byte marker, the
payload's length (4 bytes), the wall time it was written (8), a CRC-32 of the
14 bytes before it and of the payload (4), then the payload. A record cut short (a process killed in the middle of a write, a full disk) is
cut off, never glued to the next one; bytes that do not frame a record, or a
payload that does not decode to an event, are moved aside to
``<file>.quarantined`` (framed the same way) and never block what follows.

Beside each file, ``<file>.progress`` holds how far the file is published and
the end of the batch in flight. A batch is read from the log, noted in
flight, published, then noted done: after a kill at any moment the next owner
publishes again at most that one batch, with the same batch id (the file's
name and the batch's offset), so a worker with a de-duplication cache
delivers it once. A fully published file is removed.

The payload is the event pickled, loaded back by an unpickler that knows only
the value types Celery's JSON serializer round-trips (datetimes, dates,
times, ``Decimal``, ``UUID``, fixed-offset time zones): an event comes back as
Celery's JSON would bring it, and is serialized by Celery when it is
published. A datetime in a named zone (zoneinfo, pytz, dateutil) is written
with its UTC offset, a subclass of a JSON type (Django's ``SafeString``, an
``IntEnum``) comes back as its base type; an event holding any other object
is quarantined when it is read back (Celery could not have sent it either).
The spool directory is trusted as the application's own files are.
"""

import copyreg
import fcntl
import io
import logging
import os
import pickle
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from datetime import datetime, time as dt_time, timezone
from urllib.parse import quote, unquote

from eventtracking.ratelimit import RateLimitedLog

LOG = RateLimitedLog(logging.getLogger(__name__))

SUFFIX = '.spool'
PROGRESS = '.progress'
QUARANTINED = '.quarantined'

DEFAULT_MAX_BYTES = 1 << 30
"""The default ``spool_max_bytes``: pending bytes of one backend's spool files held by one process."""

FSYNC_MODES = ('never', 'batch', 'always')
"""``spool_fsync``: never (the page cache survives a killed process), before each batch is published, or after
every event written."""

ROTATE_BYTES = 16 << 20
"""A fully published own file at least this long is removed and a new one started (else it is reused)."""

MAGIC = b'\xe7\x5a'
_HEAD = struct.Struct('<2sId')
_CRC = struct.Struct('<I')
HEADER = _HEAD.size + _CRC.size
MAX_RECORD = 1 << 26
_PROGRESS = struct.Struct('<QQI')

_ALLOWED = {
    'datetime': {'datetime', 'date', 'time', 'timedelta', 'timezone'},
    'decimal': {'Decimal'},
    'uuid': {'UUID', 'SafeUUID'},
    'collections': {'OrderedDict'},
}
"""The classes a record may name: the value types Celery's JSON serializer round-trips, and ``OrderedDict``."""

_PLAIN = (str, int, float, dict, list, tuple)


class SpoolFull(OSError):
    """The spool could not take the event: over ``spool_max_bytes``, or the disk refused it."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        # A subclass of a JSON type (Django's SafeString, an IntEnum) comes back as the value Celery's JSON would
        # give: its base type. Only a class already imported here is looked at: a record never imports a module.
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            for plain in _PLAIN:
                if issubclass(cls, plain):
                    return plain
        raise pickle.UnpicklingError(f'{module}.{name} is not an event value')


def _fixed_offset(value):
    """Reduce a datetime or time whose tzinfo is a zone (zoneinfo, pytz, dateutil) to one with its UTC offset.

    What Celery's JSON keeps of it (an ISO 8601 string with the offset), and what the unpickler accepts.
    """
    tzinfo = value.tzinfo
    if tzinfo is not None and tzinfo.__class__ is not timezone:
        offset = value.utcoffset()
        value = value.replace(tzinfo=None if offset is None else timezone(offset))
    return value.__reduce_ex__(5)


class _Pickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, datetime: _fixed_offset, dt_time: _fixed_offset}


def encode(event):
    """The payload of one record; ``TypeError``/``ValueError`` (and pickle's errors) for an event it cannot hold."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=5).dump(event)
    return buffer.getvalue()


def decode(payload):
    """The event of a payload; raises when it is no event (a dict)."""
    event = _Unpickler(io.BytesIO(payload)).load()
    if not isinstance(event, dict):
        raise ValueError(f'a record holds a {type(event).__name__}, not an event')
    return event


def frame(payload, when):
    """One record: the header of ``payload`` written at wall time ``when``, then the payload."""
    head = _HEAD.pack(MAGIC, len(payload), when)
    return head + _CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload


def _record_at(descriptor, position, end):
    """``(length, when, payload)`` of the record at ``position``, ``'torn'`` when one starts there and runs past
    ``end``, or None when no record starts there."""
    header = os.pread(descriptor, HEADER, position)
    if len(header) < HEADER or position + HEADER > end:
        return 'torn' if header[:len(MAGIC)] == MAGIC[:len(header)] else None
    magic, length, when = _HEAD.unpack_from(header)
    if magic != MAGIC or length > MAX_RECORD:
        return None
    if position + HEADER + length > end:
        return 'torn'
    payload = os.pread(descriptor, length, position + HEADER)
    if len(payload) != length or zlib.crc32(payload, zlib.crc32(header[:_HEAD.size])) != _CRC.unpack_from(
            header, _HEAD.size)[0]:
        return None
    return HEADER + length, when, payload


def _next_record(descriptor, position, end):
    """Where the next intact record after ``position`` starts (``end`` if none does)."""
    while position < end:
        chunk = os.pread(descriptor, min(1 << 20, end - position), position)
        if not chunk:
            return end
        index = chunk.find(MAGIC[:1])
        while index >= 0:
            found = _record_at(descriptor, position + index, end)
            if isinstance(found, tuple):
                return position + index
            index = chunk.find(MAGIC[:1], index + 1)
        position += len(chunk)
    return end


def scan(descriptor, start, end, limit=None):
    """Read the records of a file from ``start`` to ``end``: ``(records, stop)``.

    ``records`` is a list of ``(start, stop, when, payload)``; bytes that frame
    no record come as one item whose payload is None. It ends after ``limit``
    records, at ``end``, or where a record cut short begins (``stop`` says where).
    """
    records = []
    position = start
    while position < end and (limit is None or len(records) < limit):
        found = _record_at(descriptor, position, end)
        if found == 'torn' and _next_record(descriptor, position + 1, end) == end:
            break
        if isinstance(found, tuple):
            length, when, payload = found
            records.append((position, position + length, when, payload))
            position += length
            continue
        resume = _next_record(descriptor, position + 1, end)
        records.append((position, resume, None, None))
        position = resume
    return records, position


def file_prefix(backend_name):
    """The start of the names of ``backend_name``'s spool files."""
    return quote(backend_name, safe='') + '@'


def backend_of(filename):
    """The backend name a spool file belongs to, from its file name (None if it is no spool file)."""
    if not filename.endswith(SUFFIX) or '@' not in filename:
        return None
    return unquote(filename.split('@', 1)[0])


def owner_pid(filename):
    """The process id in a spool file's name (None if the name does not say)."""
    try:
        return int(filename.split('@', 1)[1].rsplit('-', 3)[-3])
    except (ValueError, IndexError):
        return None


def try_lock(path):
    """Open ``path`` and take its exclusive lock without waiting; return the descriptor, or None."""
    try:
        descriptor = os.open(path, os.O_RDWR)
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


def read_progress(path):
    """``(published up to, end of the batch in flight or 0)`` from a progress file; ``(0, 0)`` if unreadable."""
    try:
        with open(path, 'rb') as file:
            data = file.read(_PROGRESS.size)
        committed, in_flight, crc = _PROGRESS.unpack(data)
    except (OSError, struct.error):
        return 0, 0
    if zlib.crc32(data[:16]) != crc:
        return 0, 0
    return committed, in_flight


class Batch:
    """Events read from the log: their file, byte range, id, and how many records were quarantined."""

    __slots__ = ('file', 'start', 'stop', 'events', 'records', 'corrupt')

    def __init__(self, file, start, stop, events, records, corrupt):
        self.file, self.start, self.stop = file, start, stop
        self.events, self.records, self.corrupt = events, records, corrupt

    @property
    def id(self):  # pylint: disable=invalid-name
        """The same for every republish of this batch."""
        return f'{os.path.basename(self.file.path)[:-len(SUFFIX)]}:{self.start}'


class _File:
    __slots__ = ('path', 'descriptor', 'progress', 'committed', 'in_flight', 'end', 'events', 'checked')

    def __init__(self, path, descriptor, committed=0, in_flight=0):
        self.path, self.descriptor = path, descriptor
        self.progress = os.open(path[:-len(SUFFIX)] + PROGRESS, os.O_RDWR | os.O_CREAT, 0o600)
        self.committed, self.in_flight = committed, in_flight
        self.end = committed
        self.events = 0
        self.checked = committed  # bad records before this offset are quarantined and counted already
        try:  # written now, so that noting progress later only overwrites: a disk full of events cannot stop it
            self.note_progress()
        except OSError:
            os.close(self.progress)
            raise

    def note_progress(self):
        data = _PROGRESS.pack(self.committed, self.in_flight, 0)[:-_CRC.size]
        os.pwrite(self.progress, data + _CRC.pack(zlib.crc32(data)), 0)

    def release(self, remove):
        """Close the file (its lock goes with it); with ``remove``, remove it and its progress first."""
        if remove:
            _unlink(self.path)
            _unlink(self.path[:-len(SUFFIX)] + PROGRESS)
        for descriptor in (self.progress, self.descriptor):
            try:
                os.close(descriptor)
            except OSError:
                pass


class Spool:  # pylint: disable=too-many-instance-attributes
    """The spool files of one backend in ``directory``: this process's own, and those it took over.

    :meth:`append` is called by any thread; :meth:`adopt_orphans`,
    :meth:`next_batch`, :meth:`commit` by one publishing thread at a time.
    """

    def __init__(self, directory, backend_name, max_bytes=DEFAULT_MAX_BYTES, fsync='never', clock=time.time):
        self.directory = str(directory)
        self.backend_name = backend_name
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.clock = clock
        self._prefix = file_prefix(backend_name)
        self._lock = threading.Lock()
        self._own = None
        self._adopted = []
        self._bytes = 0

    # --- any thread ------------------------------------------------------------------------------

    def append(self, event):
        """Write ``event`` as one record of this process's own file; return the events pending in it.

        ``SpoolFull`` when over ``max_bytes`` or the disk refuses (nothing of
        the record is left); the encoder's errors for an event it cannot hold.
        """
        record = frame(encode(event), self.clock())
        with self._lock:
            if self._bytes + len(record) > self.max_bytes:
                raise SpoolFull(f'{self._bytes} bytes pending, spool_max_bytes is {self.max_bytes}')
            own, refused = self._write(record)
            if refused and self._own is not None and own.committed >= own.end > 0:
                self._own = None  # all published: its bytes may be what fills the disk
                own.release(remove=True)
                own, refused = self._write(record)
            if refused:
                raise SpoolFull(refused)
            own.end += len(record)
            own.events += 1
            self._bytes += len(record)
            if self.fsync == 'always':
                os.fsync(own.descriptor)
            return own.events

    def _write(self, record):
        """Write ``record`` at the end of the own file (made if need be): ``(own file, None)``, or ``(own file or
        None, why)`` when the disk refused it (nothing of the record is left)."""
        try:
            own = self._own or self._create()
        except OSError as exc:
            return None, f'could not start a spool file in {self.directory}: {exc.strerror}'
        try:
            written = os.pwrite(own.descriptor, record, own.end)
        except OSError as exc:
            self._cut(own)
            return own, f'could not write {own.path}: {exc.strerror}'
        if written != len(record):
            self._cut(own)
            return own, f'short write to {own.path}: {written} of {len(record)} bytes'
        return own, None

    def _cut(self, own):
        """Cut a partial record off the own file; if that fails, publish the file to its end and start another."""
        try:
            os.ftruncate(own.descriptor, own.end)
        except OSError:
            self._adopted.append(own)
            self._own = None

    def _create(self):
        os.makedirs(self.directory, exist_ok=True)
        name = f'{self._prefix}{socket.gethostname()}-{os.getpid()}-{int(time.time())}-{uuid.uuid4().hex[:8]}'
        temporary = os.path.join(self.directory, f'.{name}.tmp')
        descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        path = os.path.join(self.directory, name + SUFFIX)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.rename(temporary, path)
            self._own = _File(path, descriptor)
        except OSError:
            for leftover in (temporary, path, path[:-len(SUFFIX)] + PROGRESS):
                _unlink(leftover)
            os.close(descriptor)
            raise
        return self._own

    def pending(self):
        """Events written to the files this process holds and not yet published."""
        with self._lock:
            return sum(file.events for file in self._files())

    def pending_bytes(self):
        """Bytes of the files this process holds not yet published."""
        return self._bytes

    def _files(self):
        return self._adopted + ([self._own] if self._own is not None else [])

    def oldest_time(self):
        """The wall time the oldest pending event was written (None when nothing is pending)."""
        with self._lock:
            files = [file for file in self._files() if file.events]
        for file in files:
            try:
                found = _record_at(file.descriptor, file.committed, file.end)
            except OSError:  # published and closed meanwhile
                continue
            if isinstance(found, tuple):
                return found[1]
            return 0.0  # quarantine ahead: due now
        return None

    # --- the publishing thread -------------------------------------------------------------------

    def adopt_orphans(self):
        """Take over the files of this backend that no live process holds; return how many events they hold.

        Files are read with no lock held that :meth:`append` takes. A record
        cut short at the end of a file is cut off.
        """
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return 0
        with self._lock:
            held = {file.path for file in self._files()}
        taken = 0
        for name in names:
            path = os.path.join(self.directory, name)
            if name.endswith(PROGRESS) and not os.path.exists(path[:-len(PROGRESS)] + SUFFIX):
                _unlink(path)  # left by an owner killed while it removed a published file
            if not name.startswith(self._prefix) or not name.endswith(SUFFIX) or path in held:
                continue
            descriptor = try_lock(path)
            if descriptor is None:
                continue
            try:
                file = self._take(path, descriptor)
            except OSError as exc:  # its progress cannot be written (a full disk): unlocked, tried again later
                os.close(descriptor)
                LOG.error(('spool', self.backend_name, 'take'), 'Could not take over spool file %s: %s', path,
                          exc.strerror)
                continue
            with self._lock:
                self._adopted.append(file)
                self._bytes += file.end - file.committed
            taken += file.events
        if taken:
            LOG.warning(('spool', self.backend_name, 'adopted'),
                        'Took over %d spooled event(s) of backend %r left by a process that ended', taken,
                        self.backend_name)
        return taken

    def _take(self, path, descriptor):
        committed, in_flight = read_progress(path[:-len(SUFFIX)] + PROGRESS)
        size = os.fstat(descriptor).st_size
        committed = min(committed, size)
        records, stop = scan(descriptor, committed, size)
        if stop < size:
            LOG.warning(('spool', self.backend_name, 'torn'),
                        'Cut off a record cut short at the end of spool file %s (its writer was killed mid-write)',
                        path)
            os.ftruncate(descriptor, stop)
        file = _File(path, descriptor, committed, in_flight if committed < in_flight <= stop else 0)
        file.end = stop
        file.events = sum(1 for record in records if record[3] is not None)
        return file

    def next_batch(self, limit):
        """The next batch to publish, oldest file first (None when nothing is pending), noted in flight on disk.

        The batch a killed owner had in flight comes first, whole. Records
        that cannot be read are quarantined on the way (``batch.corrupt``).
        """
        with self._lock:
            files = self._files()
        for file in files:
            with self._lock:
                end = file.end
            if file.committed >= end:
                self._finish(file)
                continue
            if self.fsync == 'batch':
                os.fsync(file.descriptor)
            if file.in_flight > file.committed:
                records, stop = scan(file.descriptor, file.committed, file.in_flight)
            else:
                records, stop = scan(file.descriptor, file.committed, end, limit)
            events, corrupt = [], 0
            for start, stop_, _, payload in records:
                try:
                    events.append(decode(payload) if payload is not None else None)
                except Exception:  # pylint: disable=broad-except  # any unpickling error: a record that is no event
                    events.append(None)
                if events[-1] is None and start >= file.checked:  # once, however often the batch is read again
                    corrupt += 1
                    self._quarantine(file, start, stop_)
            file.checked = max(file.checked, stop)
            file.in_flight = stop
            file.note_progress()
            good = [event for event in events if event is not None]
            return Batch(file, file.committed, stop, good, sum(1 for r in records if r[3] is not None), corrupt)
        return None

    def _quarantine(self, file, start, stop):
        """Copy the bytes from ``start`` to ``stop`` to the quarantine file; if it cannot be written (a full disk),
        they are passed over all the same: a bad record never blocks the ones after it."""
        path = file.path[:-len(SUFFIX)] + QUARANTINED
        try:
            data = os.pread(file.descriptor, stop - start, start)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, frame(data, self.clock()))
            finally:
                os.close(descriptor)
        except OSError as exc:
            LOG.error(('spool', self.backend_name, 'corrupt'), 'Passed over %d unreadable byte(s) of spool file %s: '
                      'they could not be moved aside to %s: %s', stop - start, file.path, path, exc.strerror)
            return
        LOG.error(('spool', self.backend_name, 'corrupt'),
                  'Moved %d unreadable byte(s) of spool file %s aside to %s', stop - start, file.path, path)

    def commit(self, batch):
        """Note ``batch`` published: on disk first, then remove its file if it is all published."""
        file = batch.file
        with self._lock:
            file.committed = batch.stop
            file.in_flight = 0
            file.events = max(0, file.events - batch.records)
            self._bytes = max(0, self._bytes - (batch.stop - batch.start))
        file.note_progress()
        self._finish(file)

    def _finish(self, file):
        with self._lock:
            if file.committed < file.end:
                return
            if file is self._own:
                if file.end < ROTATE_BYTES:
                    return
                self._own = None
            elif file in self._adopted:
                self._adopted.remove(file)
            else:
                return
        file.release(remove=True)

    def close(self):
        """Let go of every file: a published one is removed, one with events left is left for the next process."""
        with self._lock:
            files = self._files()
            self._own = None
            self._adopted = []
            self._bytes = 0
        for file in files:
            file.release(remove=file.committed >= file.end)

    def forget_after_fork(self):
        """In a child process after ``fork``: drop the parent's files (the parent keeps its locks)."""
        for file in self._files():
            file.release(remove=False)  # the parent's descriptors: the parent's lock stays
        self._lock = threading.Lock()
        self._own = None
        self._adopted = []
        self._bytes = 0


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def spool_files(directory):
    """The spool files in ``directory`` as ``(path, backend name)``, oldest name first."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [(os.path.join(directory, name), backend_of(name)) for name in names if backend_of(name) is not None]


def _count_records(descriptor, start=0):
    """``(records, size, oldest write time or None)`` of the intact records of an open file from ``start``."""
    size = os.fstat(descriptor).st_size
    records, _ = scan(descriptor, min(start, size), size)
    times = [when for _, _, when, payload in records if payload is not None]
    return len(times), size, min(times, default=None)


def _age(now, when):
    return None if when is None else max(0.0, now - when)


def spool_status(directory, now=None):
    """What waits in a spool directory, read-only: one dict per spool file and per quarantine file.

    A spool file's dict: ``path``, ``backend``, ``events`` and ``bytes``
    pending, ``oldest_age`` (seconds, None when nothing is pending),
    ``owner_pid``, ``state`` (``'live'`` while a process holds it,
    ``'orphaned'`` otherwise) and ``quarantined`` (records moved aside from
    it). A quarantine file's dict has ``state`` ``'quarantined'`` and counts
    its records in ``events`` and ``quarantined``.
    """
    now = time.time() if now is None else now
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(str(directory), name)
        if name.endswith(SUFFIX) and backend_of(name) is not None:
            status = _file_status(path, now)
        elif name.endswith(QUARANTINED) and '@' in name:
            status = _quarantine_status(path, now)
        else:
            continue
        if status is not None:  # None: removed since it was listed (all published)
            found.append(status)
    return found


def _file_status(path, now):
    name = os.path.basename(path)
    base = path[:-len(SUFFIX)]
    descriptor = try_lock(path)
    state = 'live' if descriptor is None else 'orphaned'
    try:
        if descriptor is None:
            descriptor = os.open(path, os.O_RDONLY)
        committed = read_progress(base + PROGRESS)[0]
        count, size, oldest = _count_records(descriptor, committed)
    except OSError:
        return None
    finally:
        if descriptor is not None:
            os.close(descriptor)
    quarantine = _quarantine_status(base + QUARANTINED, now)
    return {'path': path, 'backend': backend_of(name), 'events': count, 'bytes': size - min(committed, size),
            'oldest_age': _age(now, oldest), 'owner_pid': owner_pid(name), 'state': state,
            'quarantined': quarantine['events'] if quarantine else 0}


def _quarantine_status(path, now):
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        count, size, oldest = _count_records(descriptor)
    finally:
        os.close(descriptor)
    return {'path': path, 'backend': unquote(os.path.basename(path).split('@', 1)[0]), 'events': count,
            'bytes': size, 'oldest_age': _age(now, oldest), 'owner_pid': None, 'state': 'quarantined',
            'quarantined': count}
