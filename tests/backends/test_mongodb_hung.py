"""MongoBackend against a hung server: the constructor and ``send`` return within bounded time, then back off.

Two loopback servers stand in for a hung MongoDB: one accepts connections and
never answers anything; the other answers the handshake (``hello``), so the
client takes it for a healthy primary, and then never answers a command
(a ``mongod`` that stopped after its clients connected).
"""

import datetime
import socket
import struct
import threading
import time

import pytest
from bson import decode, encode

from eventtracking.backends.mongodb import MongoBackend

pytestmark = pytest.mark.server

OP_MSG = 2013
OP_QUERY = 2004
OP_REPLY = 1
HELLO_COMMANDS = {'hello', 'ismaster', 'isMaster'}
BOUND = 10.0
"""Seconds a constructor or send may take against a hung server: generous (the defaults bound it near 2 s)."""


class HungServer:
    """A TCP server on 127.0.0.1 that accepts connections and, with ``answer_hello``, answers only the handshake."""

    def __init__(self, answer_hello):
        self.answer_hello = answer_hello
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.commands = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            if self.answer_hello:
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        try:
            while True:
                header = _read(connection, 16)
                length, request_id, _, opcode = struct.unpack('<iiii', header)
                body = _read(connection, length - 16)
                command = _command(opcode, body)
                self.commands.append(next(iter(command)))
                if next(iter(command)) in HELLO_COMMANDS:
                    connection.sendall(_reply(opcode, request_id, _hello()))
                # anything else: never answered
        except (OSError, ConnectionError):
            return

    def stop(self):
        self.stopped = True
        self.listener.close()
        for connection in self.connections:
            connection.close()


def _read(connection, size):
    data = b''
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError('closed')
        data += chunk
    return data


def _command(opcode, body):
    if opcode == OP_MSG:
        return decode(body[5:5 + struct.unpack('<i', body[5:9])[0]])  # flagBits, section kind 0, document
    collection_end = body.index(b'\0', 4)
    start = collection_end + 1 + 8
    return decode(body[start:start + struct.unpack('<i', body[start:start + 4])[0]])


def _hello():
    return {
        'ok': 1.0, 'helloOk': True, 'isWritablePrimary': True, 'ismaster': True,
        'minWireVersion': 0, 'maxWireVersion': 17, 'maxBsonObjectSize': 16 * 1024 * 1024,
        'maxMessageSizeBytes': 48_000_000, 'maxWriteBatchSize': 100_000,
        'localTime': datetime.datetime.now(datetime.timezone.utc), 'logicalSessionTimeoutMinutes': 30,
        'connectionId': 1,
    }


def _reply(opcode, request_id, document):
    payload = encode(document)
    if opcode == OP_MSG:
        body = struct.pack('<I', 0) + b'\0' + payload
    else:
        body = struct.pack('<iqii', 0, 0, 0, 1) + payload
    reply_opcode = OP_MSG if opcode == OP_MSG else OP_REPLY
    return struct.pack('<iiii', 16 + len(body), 0, request_id, reply_opcode) + body


@pytest.fixture(params=['silent', 'answers_hello'])
def hung_server(request):
    server = HungServer(answer_hello=request.param == 'answers_hello')
    yield server
    server.stop()


def event(name='edx.course.enrollment.activated'):
    return {'name': name, 'data': {'mode': 'verified'}, 'context': {'user_id': 42}}


@pytest.mark.parametrize('options', [{'extra': {'w': 1}}, {'extra': {'w': 1}, 'user': 'tracker', 'password': 'x'}],
                         ids=['w1', 'w1-credentials'])
def test_constructor_and_send_are_bounded_then_back_off(hung_server, options):
    started = time.monotonic()
    backend = MongoBackend(host=f'mongodb://127.0.0.1:{hung_server.port}/', backoff=30, **options)
    constructed = time.monotonic() - started

    started = time.monotonic()
    backend._retry.succeeded()  # pylint: disable=protected-access  # as if the back-off after construction had ended
    backend.send(event())
    sent = time.monotonic() - started

    started = time.monotonic()
    for _ in range(100):
        backend.send(event())
    backed_off = time.monotonic() - started

    assert constructed < BOUND
    assert sent < BOUND
    assert backed_off < BOUND / 2
    assert backend.stats == {'backend_error': 1, 'backed_off': 100}


def test_a_timeout_given_in_extra_wins():
    server = HungServer(answer_hello=False)
    try:
        backend = MongoBackend(host='127.0.0.1', port=server.port,
                               extra={'socketTimeoutMS': 250, 'connectTimeoutMS': 300})
    finally:
        server.stop()

    assert backend.connection.options.pool_options.socket_timeout == 0.25
    assert backend.connection.options.pool_options.connect_timeout == 0.3
