"""System checks of the ``AsyncRoutingBackend`` nodes of ``EVENT_TRACKING_BACKENDS`` (ids W010-W019, E020-E029).

* ``eventtracking.W010``: an ``AsyncRoutingBackend`` is configured and the
  Celery broker is Redis with no ``socket_timeout`` in
  ``broker_transport_options``. ``publish_timeout`` still bounds ``emit()``,
  but a publish to a broker that hangs keeps a helper thread (and a broker
  connection) blocked until the broker answers.
* ``eventtracking.W011``: a ``backend_name`` that does not lead back to the
  backend (the worker looks it up by that name: a top-level key or the dotted
  path from the root). An empty one is fine: the ``DjangoTracker`` fills it in.
* ``eventtracking.W012``: a batching ``AsyncRoutingBackend`` (``batch_size`` above
  1) without ``spool_dir``: its events wait in memory, and a process killed
  (SIGKILL, a default SIGTERM, the OOM killer, a ``multiprocessing`` child's
  ``os._exit``) loses what waits, uncounted.
* ``eventtracking.E020``: a ``spool_dir`` that is not a writable directory and
  cannot be created.
"""

import os

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from eventtracking.django.django_tracker import DJANGO_BACKEND_SETTING_NAME
from eventtracking.django.settings_tree import ENGINE_KEY, OPTIONS_KEY, is_engine_node, item_path

W_NO_SOCKET_TIMEOUT = 'eventtracking.W010'
W_BACKEND_NAME = 'eventtracking.W011'
W_MEMORY_QUEUE = 'eventtracking.W012'
E_SPOOL_DIR = 'eventtracking.E020'

REDIS_SCHEMES = ('redis', 'rediss', 'redis+socket', 'sentinel')
AMQP_SCHEMES = ('', 'amqp', 'amqps', 'pyamqp')  # '': no broker_url, Celery's default amqp://guest@localhost//


def async_nodes(backends, path_names=(), setting_path=DJANGO_BACKEND_SETTING_NAME):
    """Yield ``(names from the root, setting path, node)`` for every ENGINE node of a class found by its path.

    Reads the settings only (nothing is constructed); a node whose ENGINE
    cannot be imported is skipped (``eventtracking.E001`` reports it).
    """
    if not isinstance(backends, dict):
        return
    for name, node in backends.items():
        if not is_engine_node(node):
            continue
        names = path_names + (str(name),)
        path = item_path(setting_path, name)
        if getattr(_engine_class(node[ENGINE_KEY]), 'named_by_path', False):
            yield names, path, node
        options = node.get(OPTIONS_KEY)
        if isinstance(options, dict):
            yield from async_nodes(options.get('backends'), names, item_path(item_path(path, OPTIONS_KEY), 'backends'))


def _engine_class(engine):
    if not isinstance(engine, str):
        return engine
    try:
        return import_string(engine)
    except Exception:  # pylint: disable=broad-except
        return None


def options_of(node):
    """The OPTIONS dict of an ENGINE node (empty when it has none or a malformed one)."""
    options = node.get(OPTIONS_KEY)
    return options if isinstance(options, dict) else {}


def check_async_routing(settings_name=DJANGO_BACKEND_SETTING_NAME):
    """The messages W010, W011, W012 and E020 for the ``AsyncRoutingBackend`` nodes of the setting."""
    config = getattr(settings, settings_name, {})
    found = list(async_nodes(config, setting_path=settings_name))
    if not found:
        return []
    messages = check_broker_socket_timeout(found[0][1])
    for names, path, node in found:
        messages += check_backend_name(config, names, path, node)
        messages += check_spool_dir(path, node)
        messages += check_memory_queue(path, node)
    return messages


def check_broker_socket_timeout(path):
    """W010 when the current Celery app's broker connection (Redis or AMQP) has no socket timeout.

    Other transports (SQS, ...) have timeouts of their own kinds and are not checked.
    """
    from celery import current_app  # pylint: disable=import-outside-toplevel  # AsyncRoutingBackend needs it

    conf = current_app.conf
    url = conf.broker_url or ''
    scheme = url.split('://', 1)[0].lower() if '://' in url else ''
    options = conf.broker_transport_options or {}
    if scheme in REDIS_SCHEMES:
        if options.get('socket_timeout'):
            return []
        broker, hint = 'a Redis broker', "{'socket_timeout': 5, 'socket_connect_timeout': 5}"
    elif scheme in AMQP_SCHEMES:
        if options.get('read_timeout'):
            return []
        broker, hint = 'an AMQP broker', "{'read_timeout': 5, 'write_timeout': 5}"
    else:
        return []
    return [checks.Warning(
        f'{path}: an AsyncRoutingBackend publishes to {broker} whose connection has no socket timeout: '
        'a broker that accepts connections and never answers keeps a publishing thread blocked forever '
        '(emit() itself gives up after publish_timeout)',
        hint=f'Set CELERY_BROKER_TRANSPORT_OPTIONS = {hint} (broker_transport_options of the Celery app).',
        id=W_NO_SOCKET_TIMEOUT,
    )]


def check_backend_name(config, names, path, node):
    """W011 when ``backend_name`` would make the worker find another backend, or none."""
    name = options_of(node).get('backend_name', '')
    if not name or name == '.'.join(names):
        return []
    if _node_at(config, name) is node:
        return []
    return [checks.Warning(
        f"{item_path(item_path(path, OPTIONS_KEY), 'backend_name')}: {name!r} does not lead to this backend: "
        'the Celery worker looks the backend up by that name (a top-level key, or the dotted path of names '
        'from the root), so its events would go elsewhere or fail there',
        hint=f"Set it to {'.'.join(names)!r}, or leave it empty: the DjangoTracker fills in the dotted path.",
        id=W_BACKEND_NAME,
    )]


def _node_at(config, name):
    """The ENGINE node the worker would find under ``name`` (as ``eventtracking.tasks.find_backend`` does)."""
    if not isinstance(config, dict):
        return None
    if name in config:
        return config[name]
    node = None
    children = config
    for part in name.split('.'):
        if not isinstance(children, dict) or not is_engine_node(children.get(part)):
            return None
        node = children[part]
        children = options_of(node).get('backends')
    return node


def check_memory_queue(path, node):
    """W012 when a batching backend keeps its events in memory only (no ``spool_dir``)."""
    options = options_of(node)
    batch_size = options.get('batch_size', 1)
    if options.get('spool_dir') or not isinstance(batch_size, int) or batch_size <= 1:
        return []
    return [checks.Warning(
        f"{item_path(path, OPTIONS_KEY)}: batch_size is {batch_size} and there is no spool_dir, so events wait "
        'in memory until the background thread publishes them: a process killed meanwhile (SIGKILL, a default '
        "SIGTERM, the OOM killer, a multiprocessing child's os._exit) loses them, uncounted",
        hint="Set spool_dir to a local directory: send() then writes every event there before it returns.",
        id=W_MEMORY_QUEUE,
    )]


def check_spool_dir(path, node):
    """E020 when ``spool_dir`` is not a writable directory and cannot be created."""
    spool_dir = options_of(node).get('spool_dir')
    if not spool_dir or not isinstance(spool_dir, (str, os.PathLike)):
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
