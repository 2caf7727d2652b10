"""Components the Django tests configure by dotted path: backends, processors, context callables, an ASGI driver."""

import asyncio
import threading

from eventtracking.backends.routing import RoutingBackend


class RecordingBackend:
    """Keeps every event it is sent, in order; safe to send to from many threads."""

    def __init__(self, **options):
        self.options = options
        self.events = []
        self._lock = threading.Lock()

    def send(self, event):
        with self._lock:
            self.events.append(event)


class NamedRoutingBackend(RoutingBackend):
    """A RoutingBackend that also takes ``backend_name``, as AsyncRoutingBackend and EventBusRoutingBackend do."""

    def __init__(self, backends=None, processors=None, backend_name=''):
        super().__init__(backends=backends, processors=processors)
        self.backend_name = backend_name


class Tagger:
    """A processor that adds ``tag`` to each event's data (it changes the event, so it gets a copy)."""

    def __init__(self, tag):
        self.tag = tag

    def __call__(self, event):
        event['data']['tagged'] = self.tag


class NoSend:
    """Has no ``send``: not a backend."""

    def __init__(self, **options):
        self.options = options


class NotCallable:
    """Has no ``__call__``: not a processor."""


class Strict:
    """Takes exactly one option, ``size``, and refuses negative ones."""

    def __init__(self, size):
        if size < 0:
            raise ValueError(f'size must not be negative, not {size}')
        self.size = size

    def __call__(self, event):
        return event


def course_context(request):
    """A request context callable, like Open edX's course context: read from the URL."""
    return {'course_id': request.GET.get('course_id', ''), 'org_id': 'TestX'}


async def async_context(request):
    """An async request context callable."""
    await asyncio.sleep(0)
    return {'async_field': request.META.get('HTTP_X_TAG', '')}


def proxy_ip(request):
    """A request context callable replacing a standard field."""
    return {'ip': request.META.get('HTTP_X_FORWARDED_FOR', '').split(',')[0].strip()}


def broken_context(request):
    """A request context callable that fails."""
    raise RuntimeError('context callable failed')


NOT_A_FUNCTION = 42


async def asgi_request(app, path, query='', headers=(), method='GET', body=b''):
    """Send one HTTP request through an ASGI application; return ``(status, body)``."""
    scope = {
        'type': 'http',
        'asgi': {'version': '3.0', 'spec_version': '2.3'},
        'http_version': '1.1',
        'method': method,
        'scheme': 'http',
        'path': path,
        'raw_path': path.encode(),
        'query_string': query.encode(),
        'root_path': '',
        'headers': [(name.lower().encode(), value.encode()) for name, value in headers],
        'client': ('127.0.0.1', 50000),
        'server': ('testserver', 80),
    }
    sent_body = False
    messages = []

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {'type': 'http.request', 'body': body, 'more_body': False}
        await asyncio.Future()  # the client never disconnects; Django cancels this once it has responded

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    status = next(message['status'] for message in messages if message['type'] == 'http.response.start')
    content = b''.join(message.get('body', b'') for message in messages if message['type'] == 'http.response.body')
    return status, content
