"""MongoBackend: mongomock in place of the client, real pymongo against an unreachable server, and a real server
when ``EVENTTRACKING_MONGO_URL`` is set."""

import importlib
import logging
import os
import sys
import time
import uuid
from datetime import datetime, timezone

import mongomock
import pytest
from pymongo.errors import OperationFailure

from eventtracking.backends import mongodb
from eventtracking.backends.mongodb import MongoBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import ImproperlyConfigured
from tests.servers import free_port, record_measurement

WHEN = datetime(2023, 10, 3, 8, 24, 55, 123000, tzinfo=timezone.utc)


class RecordingClient(mongomock.MongoClient):
    """mongomock's client, keeping the arguments it was created with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.args = args
        self.kwargs = kwargs


@pytest.fixture
def mongomock_client(monkeypatch):
    monkeypatch.setattr('eventtracking.backends.mongodb.MongoClient', RecordingClient)


def event(name='edx.course.enrollment.activated', **data):
    return {'name': name, 'timestamp': WHEN, 'data': data or {'mode': 'verified'}, 'context': {'user_id': 42}}


def test_defaults(mongomock_client):
    backend = MongoBackend()

    assert isinstance(backend.connection, RecordingClient)
    assert backend.connection.kwargs == {
        'host': 'localhost', 'port': 27017, 'w': 0, 'tz_aware': True, 'serverSelectionTimeoutMS': 1000,
        'connectTimeoutMS': 1000, 'socketTimeoutMS': 2000,
    }
    assert backend.database.name == 'eventtracking'
    assert backend.collection.name == 'events'
    assert backend.collection.full_name == 'eventtracking.events'


def test_options_and_extra_win_over_the_defaults(mongomock_client):
    extra = {'w': 1, 'tz_aware': False, 'serverSelectionTimeoutMS': 250, 'appname': 'lms'}

    backend = MongoBackend(host='mongo.internal', port=27018, database='track', collection='tracking', extra=extra)

    assert backend.connection.kwargs == {
        'host': 'mongo.internal', 'port': 27018, 'w': 1, 'tz_aware': False, 'serverSelectionTimeoutMS': 250,
        'appname': 'lms', 'connectTimeoutMS': 1000, 'socketTimeoutMS': 2000,
    }
    assert extra == {'w': 1, 'tz_aware': False, 'serverSelectionTimeoutMS': 250, 'appname': 'lms'}
    assert (backend.database.name, backend.collection.name) == ('track', 'tracking')


def test_a_timeout_or_auth_source_in_the_uri_is_not_overridden(mongomock_client):
    uri = 'mongodb://mongo.internal:27017/?serverSelectionTimeoutMS=5000&authSource=admin'

    backend = MongoBackend(host=uri, user='tracker', password='s3cret')

    assert 'serverSelectionTimeoutMS' not in backend.connection.kwargs
    assert 'authSource' not in backend.connection.kwargs
    assert backend.connection.kwargs['username'] == 'tracker'


def test_credentials_go_to_the_client_and_authenticate_against_the_database(mongomock_client):
    backend = MongoBackend(user='tracker', password='s3cret', database='track')

    kwargs = backend.connection.kwargs
    assert (kwargs['username'], kwargs['password'], kwargs['authSource']) == ('tracker', 's3cret', 'track')


def test_without_credentials_none_are_passed(mongomock_client):
    kwargs = MongoBackend().connection.kwargs
    assert not {'username', 'password', 'authSource'} & set(kwargs)


@pytest.mark.parametrize('options, error', [
    ({'hostname': 'x'}, TypeError),
    ({'backoff': -1}, ImproperlyConfigured),
    ({'backoff': 'soon'}, ImproperlyConfigured),
    ({'extra': ['w', 1]}, ImproperlyConfigured),
])
def test_bad_options_are_errors_at_construction(mongomock_client, options, error):
    with pytest.raises(error, match=next(iter(options))):
        MongoBackend(**options)


def test_it_creates_the_two_indexes(mongomock_client):
    backend = MongoBackend()

    indexes = backend.collection.index_information()
    assert indexes['time_-1']['key'] == [('time', -1)]
    assert indexes['name_1']['key'] == [('name', 1)]


def test_events_are_stored_as_documents(mongomock_client):
    backend = MongoBackend()

    backend.send(event())
    backend.send(event('edx.course.enrollment.deactivated', mode='audit'))

    stored = list(backend.collection.find({}, {'_id': False}).sort('name', 1))
    assert stored == [event(), event('edx.course.enrollment.deactivated', mode='audit')]
    assert stored[0]['timestamp'].tzinfo is not None


def test_in_a_routing_tree_the_caller_does_not_get_the_id(mongomock_client):
    mongo = MongoBackend()
    sent = event()

    RoutingBackend(backends={'mongo': mongo}).send(sent)

    assert '_id' not in sent
    assert mongo.collection.count_documents({'name': 'edx.course.enrollment.activated'}) == 1


def test_errors_are_logged_counted_and_swallowed(mongomock_client, caplog):
    backend = MongoBackend()
    duplicate = dict(event(), _id='same')
    backend.send(dict(duplicate))

    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.mongodb'):
        backend.send(dict(duplicate))
        backend.send(event(tags={'a', 'b'}))
        backend.send(event('edx.after.errors'))

    assert backend.stats == {'backend_error': 1, 'unserializable': 1}
    assert backend.collection.count_documents({'name': 'edx.after.errors'}) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert all(message.startswith('Error inserting to MongoDB event tracker backend') for message in messages)
    assert len(messages) == 2
    assert 'DuplicateKeyError, code 11000' in messages[0]
    assert "'same'" not in caplog.text and "{'a', 'b'}" not in caplog.text and "'b'" not in caplog.text


class Unprintable:
    """A value whose repr() raises, with a secret in the error: encoding it raises that, not a BSONError."""

    def __repr__(self):
        raise ValueError('SECRET-in-repr')

    __str__ = __repr__


def test_a_value_whose_repr_raises_while_encoding_is_counted_without_its_text(mongomock_client, caplog):
    backend = MongoBackend()
    with caplog.at_level(logging.DEBUG, logger='eventtracking.backends.mongodb'):
        backend.send(event(value=Unprintable()))
    assert backend.stats == {'unserializable': 1}
    assert 'SECRET' not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


def test_a_failed_authentication_is_a_configuration_error(mongomock_client, monkeypatch):
    def refuse(self):
        raise OperationFailure('Authentication failed.', code=18)

    monkeypatch.setattr(MongoBackend, '_create_indexes', refuse)

    with pytest.raises(ImproperlyConfigured, match="authenticate as 'tracker'.*authSource 'track'"):
        MongoBackend(user='tracker', password='wrong', database='track')


def test_a_user_not_allowed_to_create_indexes_can_still_insert(mongomock_client, monkeypatch, caplog):
    def refuse(self):
        raise OperationFailure('not authorized on track to execute command createIndexes', code=13)

    monkeypatch.setattr(MongoBackend, '_create_indexes', refuse)
    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.mongodb'):
        backend = MongoBackend()
    backend.send(event())

    assert 'could not create the indexes' in caplog.text
    assert backend.collection.count_documents({}) == 1
    assert backend.stats == {}


def test_the_module_level_names_users_patch():
    import pymongo  # pylint: disable=import-outside-toplevel

    assert mongodb.MongoClient is pymongo.MongoClient
    assert mongodb.log.name == 'eventtracking.backends.mongodb'


def test_without_pymongo_the_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pymongo', None)
    monkeypatch.delitem(sys.modules, 'eventtracking.backends.mongodb')

    with pytest.raises(ImportError, match=r"pip install 'eventtracking\[mongo\]'"):
        importlib.import_module('eventtracking.backends.mongodb')


# Real pymongo, nothing listening on the port: what a request pays while MongoDB is down.

@pytest.fixture
def unreachable():
    backends = []

    def make(**options):
        started = time.perf_counter()
        backend = MongoBackend(host='127.0.0.1', port=free_port(), **options)
        backends.append(backend)
        return backend, time.perf_counter() - started

    yield make
    for backend in backends:
        backend.connection.close()


def test_with_the_server_down_construction_logs_and_emits_back_off(unreachable, caplog):
    with caplog.at_level(logging.WARNING, logger='eventtracking.backends.mongodb'):
        backend, constructed_in = unreachable()
        durations = []
        for number in range(20):
            started = time.perf_counter()
            backend.send(event(number=number))
            durations.append(time.perf_counter() - started)

    record_measurement('MongoBackend construction with the server down (default timeout)', [constructed_in])
    record_measurement('emit, MongoBackend with the server down, inside the back-off', durations)
    assert backend.connection.options.server_selection_timeout == 1.0
    assert backend.stats == {'backed_off': 20}
    assert 'no server reachable' in caplog.records[0].getMessage()
    skipped = [record for record in caplog.records[1:] if 'backed_off' in record.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelno == logging.WARNING  # the others within the minute: held back


def test_with_the_server_down_each_attempt_is_bounded_by_the_timeout(unreachable, caplog):
    backend, _ = unreachable(backoff=0)
    durations = []

    with caplog.at_level(logging.ERROR, logger='eventtracking.backends.mongodb'):
        started = time.perf_counter()
        backend.send(event())
        durations.append(time.perf_counter() - started)

    record_measurement('emit, MongoBackend with the server down, no back-off (default 1 s server selection)',
                       durations)
    assert backend.stats == {'backend_error': 1}
    assert 'lost (backend_error), no server reachable' in caplog.records[-1].getMessage()


def test_the_back_off_ends_and_the_server_is_tried_again(unreachable):
    backend, _ = unreachable(backoff=0.3, extra={'serverSelectionTimeoutMS': 50})
    assert backend.connection.options.server_selection_timeout == 0.05
    assert backend.stats == {}

    backend.send(event())
    assert backend.stats == {'backed_off': 1}
    time.sleep(0.35)
    backend.send(event())
    assert backend.stats == {'backed_off': 1, 'backend_error': 1}
    backend.send(event())
    assert backend.stats == {'backed_off': 2, 'backend_error': 1}



def test_the_back_off_does_not_grow_with_failures_in_a_row(unreachable):
    backend, _ = unreachable(backoff=0.3, extra={'serverSelectionTimeoutMS': 50})

    for _ in range(2):  # the construction failed; each send after the window fails again
        time.sleep(0.35)
        backend.send(event())

    assert backend.stats == {'backend_error': 2}

MONGO_URL = os.environ.get('EVENTTRACKING_MONGO_URL')


@pytest.mark.skipif(not MONGO_URL, reason='EVENTTRACKING_MONGO_URL is not set: no MongoDB server to test against')
def test_against_a_real_server():
    collection = f'events_{uuid.uuid4().hex[:8]}'
    backend = MongoBackend(host=MONGO_URL, database='eventtracking_tests', collection=collection,
                           extra={'w': 1})
    try:
        backend.send(event())
        backend.send(event(tags={'a'}))

        [stored] = list(backend.collection.find({}, {'_id': False}))
        assert stored == event()
        assert stored['timestamp'].tzinfo is not None
        indexes = backend.collection.index_information()
        assert {'time_-1', 'name_1'} <= set(indexes)
        assert backend.stats == {'unserializable': 1}
    finally:
        backend.collection.drop()
        backend.connection.close()
