"""Pages of the browser tests: each loads the client with ``{% eventtracking_script %}`` and has a few buttons."""

from pathlib import Path

from django.core.cache.backends.base import BaseCache
from django.http import HttpResponse
from django.template import engines

import eventtracking.django

STATIC_ROOT = Path(eventtracking.django.__file__).resolve().parent / 'static'
"""Where the library's static files are (served by the test URLconf without collectstatic)."""

PAGE = '''{% load eventtracking %}<!doctype html>
<html><head><title>{{ name }}</title>{% eventtracking_script batch_size=batch_size interval=interval %}</head>
<body>
<button id="click" onclick="eventtracking.emit('tests.browser.clicked', {button: 'click'})">Click</button>
<button id="leave" onclick="eventtracking.emit('tests.browser.left', {n: 1}); location.href = '/page/next/';">
Leave</button>
<button id="legacy" onclick="Logger.log('tests.browser.legacy', {via: 'Logger.log'})">Logger.log</button>
<p id="name">{{ name }}</p>
</body></html>
'''


def page(request, name):
    """A page named ``name``; ``?batch=N&interval=MS`` set the client's batching."""
    template = engines['django'].from_string(PAGE)
    context = {
        'name': name,
        'batch_size': int(request.GET.get('batch', 10)),
        'interval': int(request.GET.get('interval', 200)),
    }
    return HttpResponse(template.render(context, request))


class FailingCache(BaseCache):
    """A cache whose server is down: every call raises, as a Redis or Memcached client does then."""

    def __init__(self, location=None, params=None):
        super().__init__(params or {})

    def _fail(self, *args, **kwargs):
        raise ConnectionError('the cache server is down')

    add = get = set = delete = incr = decr = clear = touch = _fail
