"""A live site for the browser tests: Django's WSGI application on a threaded loopback server, and Chromium.

:class:`LiveSite` serves the test site on a free 127.0.0.1 port, records
every request to ``/event`` (method, content type, status) and can answer the
next few of them 503, as a server in trouble does. :func:`start_chromium`
starts Debian's headless ``chromium`` through its ``chromedriver`` (never a
downloaded one); it raises when they cannot run, and the tests turn that into
a skip (or, under ``CI=true``, a failure: see :func:`tests.servers.unavailable`).
"""

import os
import tempfile
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
CHROMIUM_ARGUMENTS = (
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


class LiveSite:
    """The Django test site behind a threaded WSGI server on loopback; records and can fail ``/event`` requests."""

    def __init__(self):
        self.requests = []  # (method, content type, status) of every /event request, in order
        self._unavailable = 0
        self._lock = threading.Lock()
        self._django = get_wsgi_application()
        self._server = make_server('127.0.0.1', 0, self._app, server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.url = f'http://127.0.0.1:{self._server.server_port}'
        self._thread = threading.Thread(target=self._server.serve_forever, name='live-site', daemon=True)
        self._thread.start()

    def answer_unavailable(self, count):
        """Answer the next ``count`` requests to ``/event`` with 503, without Django seeing them."""
        with self._lock:
            self._unavailable = count

    def statuses(self):
        """The statuses of the ``/event`` requests so far."""
        with self._lock:
            return [status for _, _, status in self.requests]

    def _app(self, environ, start_response):
        if environ.get('PATH_INFO') != '/event':
            return self._django(environ, start_response)
        content_type = environ.get('CONTENT_TYPE', '').split(';')[0]
        with self._lock:
            failing = self._unavailable > 0
            if failing:
                self._unavailable -= 1
        if failing:
            environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
            self._record(environ['REQUEST_METHOD'], content_type, 503)
            start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])
            return [b'unavailable']

        def recording_start_response(status, headers, exc_info=None):
            self._record(environ['REQUEST_METHOD'], content_type, int(status.split()[0]))
            return start_response(status, headers, exc_info)

        return self._django(environ, recording_start_response)

    def _record(self, method, content_type, status):
        with self._lock:
            self.requests.append((method, content_type, status))

    def stop(self):
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start_chromium():
    """A headless Chromium driven by Selenium, with a fresh profile; raises when it cannot start."""
    # pylint: disable=import-outside-toplevel
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f'{path} is missing: apt-get install chromium chromium-driver')
    profile = tempfile.mkdtemp(prefix='eventtracking-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f'--user-data-dir={profile}')
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.eventtracking_profile = profile
    return driver
