"""System checks of the ``AsyncRoutingBackend`` nodes of ``EVENT_TRACKING_BACKENDS`` (ids W010-W019, E020-E029).

* ``eventtracking.W010``: an ``AsyncRoutingBackend`` is configured and the
  Celery broker is Redis with no ``socket_timeout`` in
  ``broker_transport_options``. ``publish_timeout`` still bounds ``emit()``,
  but a publish to a broker that hangs keeps a helper thread (and a broker
  connection) blocked until the broker answers.
* ``eventtracking.W011``: a ``backend_name`` that does not lead back to the
  backend (the worker looks it up by that name: a top-level key or the dotted
  path from the root). An empty one is fine: the ``DjangoTracker`` fills it in.
* ``eventtracking.E020``: a ``spool_dir`` that is not a writable directory and
  cannot be created.
"""

import os

from django.conf import settings
from django.core import checks

from eventtracking.django.django_tracker import DJANGO_BACKEND_SETTING_NAME
from eventtracking.django.settings_tree import TreeBuilder, item_path

W_NO_SOCKET_TIMEOUT = 'eventtracking.W010'
W_BACKEND_NAME = 'eventtracking.W011'
E_SPOOL_DIR = 'eventtracking.E020'

REDIS_SCHEMES = ('redis', 'rediss', 'redis+socket', 'sentinel')


def async_backends(backends, path_names=(), setting_path=DJANGO_BACKEND_SETTING_NAME):
    """Yield ``(names from the root, setting path, backend)`` for every backend found by its path, at any depth."""
    if not hasattr(backends, 'items'):
        return
    for name, backend in backends.items():
        names = path_names + (str(name),)
        path = item_path(setting_path, name)
        if getattr(backend, 'named_by_path', False):
            yield names, path, backend
        yield from async_backends(getattr(backend, 'backends', None), names, item_path(
            item_path(path, 'OPTIONS'), 'backends'))


def check_async_routing(settings_name=DJANGO_BACKEND_SETTING_NAME):
    """The messages W010, W011 and E020 for the ``AsyncRoutingBackend`` nodes of the setting."""
    built = TreeBuilder(strict=False).build_backends(getattr(settings, settings_name, {}), settings_name)
    found = list(async_backends(built, setting_path=settings_name))
    if not found:
        return []
    messages = check_broker_socket_timeout(found[0][1])
    for names, path, backend in found:
        messages += check_backend_name(built, names, path, backend)
        messages += check_spool_dir(path, backend)
    return messages


def check_broker_socket_timeout(path):
    """W010 when the current Celery app's Redis broker connection has no socket timeout."""
    from celery import current_app  # pylint: disable=import-outside-toplevel  # AsyncRoutingBackend needs it

    conf = current_app.conf
    url = conf.broker_url or ''
    scheme = url.split('://', 1)[0].lower() if '://' in url else ''
    if scheme not in REDIS_SCHEMES:
        return []
    options = conf.broker_transport_options or {}
    if options.get('socket_timeout'):
        return []
    return [checks.Warning(
        f'{path}: an AsyncRoutingBackend publishes to a Redis broker whose connection has no socket timeout: '
        'a broker that accepts connections and never answers keeps a publishing thread blocked forever '
        '(emit() itself gives up after publish_timeout)',
        hint="Set CELERY_BROKER_TRANSPORT_OPTIONS = {'socket_timeout': 5, 'socket_connect_timeout': 5} "
             '(broker_transport_options of the Celery app).',
        id=W_NO_SOCKET_TIMEOUT,
    )]


def check_backend_name(built, names, path, backend):
    """W011 when ``backend_name`` would make the worker find another backend, or none."""
    name = getattr(backend, 'backend_name', '')
    if not name or name == '.'.join(names):
        return []
    target = built.get(name) if hasattr(built, 'get') else None
    if target is None:
        target = built
        for part in name.split('.'):
            children = target if target is built else getattr(target, 'backends', None)
            if not hasattr(children, 'get') or children.get(part) is None:
                target = None
                break
            target = children[part]
    if target is backend:
        return []
    return [checks.Warning(
        f"{item_path(item_path(path, 'OPTIONS'), 'backend_name')}: {name!r} does not lead to this backend: "
        'the Celery worker looks the backend up by that name (a top-level key, or the dotted path of names '
        'from the root), so its events would go elsewhere or fail there',
        hint=f"Set it to {'.'.join(names)!r}, or leave it empty: the DjangoTracker fills in the dotted path.",
        id=W_BACKEND_NAME,
    )]


def check_spool_dir(path, backend):
    """E020 when ``spool_dir`` is not a writable directory and cannot be created."""
    spool_dir = getattr(backend, 'spool_dir', None)
    if not spool_dir:
        return []
    problem = None
    if os.path.exists(spool_dir):
        if not os.path.isdir(spool_dir):
            problem = 'exists and is not a directory'
        elif not os.access(spool_dir, os.W_OK | os.X_OK):
            problem = 'is a directory this process cannot write to'
    else:
        parent = os.path.dirname(os.path.abspath(spool_dir))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            problem = f'does not exist and cannot be created in {parent}'
    if problem is None:
        return []
    return [checks.Error(
        f"{item_path(item_path(path, 'OPTIONS'), 'spool_dir')}: {spool_dir!r} {problem}, so events the broker "
        'refuses could not be spooled',
        hint='Point spool_dir at a directory on local disk that the web and worker processes can write.',
        id=E_SPOOL_DIR,
    )]
