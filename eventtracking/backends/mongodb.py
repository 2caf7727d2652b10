"""A backend that inserts every event as a document into a MongoDB collection (pymongo 4).

The client never holds a request up for long: unless told otherwise it waits
at most :data:`SERVER_SELECTION_TIMEOUT_MS` for a server, :data:`CONNECT_TIMEOUT_MS`
for a connection and :data:`SOCKET_TIMEOUT_MS` for an answer (a hung server
that accepts connections and never answers), and after a server was found
unreachable or hung it skips inserts for ``backoff`` seconds instead of paying
that wait again on every event. Each event skipped or lost is counted in
:attr:`MongoBackend.stats` and logged, at most once a minute per reason after
the first line, never with event values.
"""

import logging
import re
from urllib.parse import parse_qsl, urlsplit

from eventtracking._extras import missing_extra
from eventtracking.backoff import Backoff
from eventtracking.events import event_name, safe_name
from eventtracking.exceptions import ImproperlyConfigured, UnserializableEventError
from eventtracking.ratelimit import RateLimitedLog
from eventtracking.stats import BACKED_OFF, BACKEND_ERROR, EventCounters

try:
    import pymongo
    from bson.errors import BSONError
    from pymongo import MongoClient
    from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
except ImportError as exc:
    raise missing_extra('mongo', __name__, exc) from exc

log = logging.getLogger(__name__)

SERVER_SELECTION_TIMEOUT_MS = 1000
"""Default ``serverSelectionTimeoutMS`` of the client (pymongo's own is 30000).

pymongo 4 re-checks the topology every 0.5 s while it selects a server, so
a timeout below 500 ms still costs about 0.5 s.
"""

CONNECT_TIMEOUT_MS = 1000
"""Default ``connectTimeoutMS`` of the client (pymongo's own is 20000): also bounds the handshake."""

SOCKET_TIMEOUT_MS = 2000
"""Default ``socketTimeoutMS`` of the client (pymongo's own is no limit): the longest wait for an answer."""

BACKOFF = 5.0
"""Default seconds during which inserts are skipped after the server was found unreachable."""

UNSERIALIZABLE = UnserializableEventError.reason

AUTHENTICATION_FAILED = 18
"""The MongoDB error code of a failed authentication."""


class MongoBackend:
    """Insert events into a MongoDB collection with ``insert_one``.

    Options:

    ``host`` (``'localhost'``), ``port`` (27017)
        Passed to ``pymongo.MongoClient``; ``host`` may be a ``mongodb://`` URI.
    ``user``, ``password`` (``''``)
        Credentials, passed to the client as ``username``/``password`` with
        ``authSource`` set to ``database`` unless given in ``extra`` or the
        URI (the original library authenticated against that database with
        ``Database.authenticate``, which pymongo 4 removed).
    ``database`` (``'eventtracking'``), ``collection`` (``'events'``)
        Where the events go. Indexes on ``time`` (descending) and ``name``
        are created at construction, or at the first insert once the server
        can be reached.
    ``extra`` (``{}``)
        Further ``MongoClient`` keyword arguments (not changed by the backend).
        Defaults: ``w=0`` (no write acknowledgement: fire-and-forget, see
        :ref:`what w=0 can lose <mongodb-w0>`), ``tz_aware=True``, ``serverSelectionTimeoutMS=1000``,
        ``connectTimeoutMS=1000`` and ``socketTimeoutMS=2000``; a value given
        here or in the URI wins.
    ``backoff`` (5.0)
        Seconds during which inserts are skipped, each counted as
        ``backed_off``, after the server was unreachable or did not answer in
        time (``ConnectionFailure``, which includes pymongo's timeouts). 0
        tries every event.

    ``send`` never raises for MongoDB: a ``PyMongoError`` is logged and
    counted as ``backend_error``, a ``BSONError`` (a value BSON cannot
    encode) as ``unserializable``; the lines name the event and the error's
    type, never a value of the event. ``insert_one`` adds ``_id``
    to the document, so a routing tree hands this backend its own copy.
    """

    OPTIONS = ('host', 'port', 'user', 'password', 'database', 'collection', 'extra', 'backoff')

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self.OPTIONS))
        if unknown:
            raise TypeError(
                f'MongoBackend got unexpected option(s) {", ".join(unknown)}; it accepts {", ".join(self.OPTIONS)}'
            )
        host = kwargs.get('host', 'localhost')
        port = kwargs.get('port', 27017)
        user = kwargs.get('user', '')
        password = kwargs.get('password', '')
        db_name = kwargs.get('database', 'eventtracking')
        collection_name = kwargs.get('collection', 'events')
        extra = kwargs.get('extra', None) or {}
        if not isinstance(extra, dict):
            raise ImproperlyConfigured(f'MongoBackend extra must be a dict of MongoClient options, not {extra!r}')
        self.backoff = _backoff(kwargs.get('backoff', BACKOFF))

        extra = dict(extra)
        extra['w'] = extra.get('w', 0)
        extra['tz_aware'] = extra.get('tz_aware', True)
        given = _given_options(host, extra)
        for option, default in (('serverSelectionTimeoutMS', SERVER_SELECTION_TIMEOUT_MS),
                                ('connectTimeoutMS', CONNECT_TIMEOUT_MS), ('socketTimeoutMS', SOCKET_TIMEOUT_MS)):
            if option.lower() not in given:
                extra[option] = default
        if user or password:
            extra.setdefault('username', user)
            extra.setdefault('password', password)
            if 'authsource' not in given:
                extra['authSource'] = db_name

        self.counters = EventCounters()
        self.failure_log = RateLimitedLog(log)
        self._retry = Backoff.fixed(self.backoff)
        self._indexes_pending = True
        self.connection = MongoClient(host=host, port=port, **extra)
        self.database = self.connection[db_name]
        self.collection = self.database[collection_name]
        try:
            self._ensure_indexes(raise_auth_failure=True)
        except OperationFailure as exc:
            raise ImproperlyConfigured(
                f'MongoBackend could not authenticate as {user!r} (authSource {extra.get("authSource")!r}): {exc}'
            ) from exc
        except ConnectionFailure as exc:
            self._retry.failed()
            log.error('MongoDB event tracker backend: no server reachable for %s (%s); the indexes will be '
                      'created at the first insert that reaches one', self.collection.full_name, exc)

    @property
    def stats(self):
        """Counts by reason of the events this backend skipped (``backed_off``) or lost (``backend_error``)."""
        return self.counters.snapshot()

    def _create_indexes(self):
        """Index the fields events are looked up by."""
        self.collection.create_index([('time', pymongo.DESCENDING)])
        self.collection.create_index('name')

    def _ensure_indexes(self, raise_auth_failure=False):
        """Create the indexes once.

        ``ConnectionFailure`` propagates (they are tried again later), and so
        does a failed authentication when ``raise_auth_failure``; other errors
        are logged and not retried.
        """
        if not self._indexes_pending:
            return
        try:
            self._create_indexes()
        except ConnectionFailure:
            raise
        except PyMongoError as exc:
            if raise_auth_failure and isinstance(exc, OperationFailure) and exc.code == AUTHENTICATION_FAILED:
                raise
            log.exception('MongoDB event tracker backend: could not create the indexes of %s',
                          self.collection.full_name)
        self._indexes_pending = False

    def send(self, event):
        """Insert ``event`` into the collection; log and count failures, never raise them."""
        if self._retry.waiting():
            self.counters.increment(BACKED_OFF)
            self.failure_log.warning(
                BACKED_OFF, 'Dropped event %s (%s): MongoDB was unreachable moments ago; next insert attempt '
                'in %.1f s', _name(event), BACKED_OFF, self._retry.remaining())
            return
        try:
            self._ensure_indexes()
            self.collection.insert_one(event)
        except ConnectionFailure as exc:
            self._retry.failed()
            self.counters.increment(BACKEND_ERROR)
            self.failure_log.error(
                'unreachable', 'Error inserting to MongoDB event tracker backend: event %s lost (%s), no server '
                'reachable in time (%s: %s); skipping inserts for %.1f s', _name(event), BACKEND_ERROR,
                type(exc).__name__, exc, self.backoff)
        except BSONError as exc:
            self.counters.increment(UNSERIALIZABLE)
            self.failure_log.warning(
                UNSERIALIZABLE, 'Error inserting to MongoDB event tracker backend: event %s lost (%s): BSON cannot '
                'encode %s', _name(event), UNSERIALIZABLE, _unencodable(exc))
        except OperationFailure as exc:
            self.counters.increment(BACKEND_ERROR)
            self.failure_log.error(
                (BACKEND_ERROR, 'operation'), 'Error inserting to MongoDB event tracker backend: event %s lost (%s): '
                '%s, code %s', _name(event), BACKEND_ERROR, type(exc).__name__, exc.code)
        except PyMongoError:
            self.counters.increment(BACKEND_ERROR)
            self.failure_log.exception(
                BACKEND_ERROR, 'Error inserting to MongoDB event tracker backend: event %s lost (%s)', _name(event),
                BACKEND_ERROR)
        except Exception as exc:  # pylint: disable=broad-except  # a value whose repr() raises while BSON names it
            self.counters.increment(UNSERIALIZABLE)
            self.failure_log.warning(
                (UNSERIALIZABLE, 'other'), 'Error inserting to MongoDB event tracker backend: event %s lost (%s): '
                'encoding it raised %s', _name(event), UNSERIALIZABLE, type(exc).__name__)
        else:
            if self._retry.failures:
                self._retry.succeeded()


def _name(event):
    return safe_name(event_name(event))


_UNENCODABLE_TYPE = re.compile(r"of type: <class '([\w.]+)'>")


def _unencodable(exc):
    """What BSON could not encode, for a log line: the value's type when the message names it, never the value.

    (An ``OperationFailure``'s message, a duplicate key or a failed document
    validation, may hold values too: its lines show only the type and code.)
    """
    found = _UNENCODABLE_TYPE.search(str(exc))
    return f'a value of type {found.group(1)}' if found else f'a value ({type(exc).__name__})'


def _backoff(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ImproperlyConfigured(f'MongoBackend backoff must be a number of seconds >= 0, not {value!r}')
    return float(value)


def _given_options(host, extra):
    """The lower-cased names of the client options set in ``extra`` or in the query of a ``host`` URI."""
    given = {key.lower() for key in extra}
    if isinstance(host, str) and '://' in host:
        given.update(key.lower() for key, _ in parse_qsl(urlsplit(host).query))
    return given
