"""What waits to be delivered, seen from outside the processes: the logic of ``eventtracking status`` and
``manage.py eventtracking_status``.

:func:`collect` reads spool directories through :func:`eventtracking.spool.spool_status`
(never the file format) and, when Prometheus' multiprocess directory holds
files, the library's metrics summed over every process that wrote there.
:func:`render` writes it for people, and the ``problems`` it lists make the
command exit 1: a spool file no live process holds (orphaned), quarantined
records, or an oldest pending event older than ``max_age``.
"""

import os
import time

from eventtracking.spool import spool_status

ORPHANED = 'orphaned'
QUARANTINED = 'quarantined'
LIVE = 'live'


def collect(directories, max_age=None, backends=None, prometheus_dir=None, now=None):
    """Return the status as a JSON-ready dict.

    ``directories``: the spool directories to read. ``backends``: optional
    ``{backend path: spool directory}`` of the configured backends, listed
    even when nothing of theirs waits. ``max_age``: seconds; an older pending
    event is a problem. ``prometheus_dir``: where ``prometheus_client``'s
    multiprocess files are (None: nothing read).

    The dict has ``spools`` (per directory and backend: ``events``,
    ``bytes``, ``oldest_age``, ``quarantined`` and the ``files``, each with
    its owner and state), ``metrics`` (``{sample: value}``, or None),
    ``problems`` (sentences) and ``healthy``.
    """
    now = time.time() if now is None else now
    wanted = {}
    for directory in directories:
        wanted.setdefault(os.path.abspath(directory), set())
    for backend, directory in (backends or {}).items():
        wanted.setdefault(os.path.abspath(directory), set()).add(backend)
    spools, problems = [], []
    for directory, configured in wanted.items():
        if not os.path.isdir(directory):  # nothing was spooled there yet
            spools.append({'directory': directory, 'exists': False, 'backends': []})
            continue
        files = spool_status(directory, now=now)
        spools.append({'directory': directory, 'exists': True, 'backends': _by_backend(files, configured)})
        problems.extend(_problems(directory, files, max_age))
    metrics = read_prometheus(prometheus_dir) if prometheus_dir else None
    return {'spools': spools, 'metrics': metrics, 'max_age': max_age, 'problems': problems, 'healthy': not problems}


def _by_backend(files, configured):
    grouped = {backend: [] for backend in configured}
    for item in files:
        grouped.setdefault(item['backend'], []).append(item)
    summaries = []
    for backend in sorted(grouped):
        items = grouped[backend]
        waiting = [item for item in items if item['state'] != QUARANTINED]
        ages = [item['oldest_age'] for item in waiting if item['oldest_age'] is not None]
        summaries.append({
            'backend': backend,
            'events': sum(item['events'] for item in waiting),
            'bytes': sum(item['bytes'] for item in waiting),
            'oldest_age': max(ages) if ages else None,
            'quarantined': sum(item['events'] for item in items if item['state'] == QUARANTINED),
            'files': [_file(item) for item in items],
        })
    return summaries


def _file(item):
    return {'path': item['path'], 'state': item['state'], 'owner_pid': item['owner_pid'], 'events': item['events'],
            'bytes': item['bytes'], 'oldest_age': item['oldest_age'], 'quarantined': item['quarantined']}


def _problems(directory, files, max_age):
    found = []
    for item in files:
        name = os.path.basename(item['path'])
        if item['state'] == ORPHANED:
            found.append(f'{directory}: {name} of backend {item["backend"]!r} is orphaned (its process '
                         f'{item["owner_pid"]} is gone): {item["events"]} event(s) wait for a process of this '
                         'backend, or eventtracking_spool --replay')
        elif item['state'] == QUARANTINED:
            found.append(f'{directory}: {name} holds {item["events"]} quarantined record(s) of backend '
                         f'{item["backend"]!r} that could not be read back as events')
        if (max_age is not None and item['state'] != QUARANTINED and item['oldest_age'] is not None
                and item['oldest_age'] > max_age):
            found.append(f'{directory}: the oldest pending event of backend {item["backend"]!r} in {name} is '
                         f'{item["oldest_age"]:.0f} s old (over --max-age {max_age:g} s)')
    return found


def read_prometheus(directory):
    """``{'name{label="value",...}': value}`` of the ``eventtracking_`` samples in a multiprocess directory, summed
    over its processes as a scrape would (histogram buckets left out); None when it holds no metrics file."""
    if not os.path.isdir(directory) or not any(name.endswith('.db') for name in os.listdir(directory)):
        return None
    # pylint: disable=import-outside-toplevel
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    samples = {}
    for family in registry.collect():
        for sample in family.samples:
            if not sample.name.startswith('eventtracking_') or sample.name.endswith('_bucket'):
                continue
            labels = ','.join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f'{sample.name}{{{labels}}}' if labels else sample.name] = sample.value
    return dict(sorted(samples.items()))


def render(status):
    """The status as lines of text for people."""
    lines = []
    for spool in status['spools']:
        lines.append(f'Spool directory {spool["directory"]}' + ('' if spool['exists'] else ': does not exist'))
        if spool['exists'] and not spool['backends']:
            lines.append('  nothing waits')
        for backend in spool['backends']:
            age = '' if backend['oldest_age'] is None else f', oldest {_duration(backend["oldest_age"])}'
            quarantined = f', {backend["quarantined"]} quarantined' if backend['quarantined'] else ''
            lines.append(f'  backend {backend["backend"]!r}: {backend["events"]} event(s), '
                         f'{_size(backend["bytes"])} pending{age}{quarantined}')
            for item in backend['files']:
                owner = {LIVE: f'live (pid {item["owner_pid"]})',
                         ORPHANED: f'ORPHANED (pid {item["owner_pid"]} is gone)',
                         QUARANTINED: 'QUARANTINED'}.get(item['state'], item['state'])
                lines.append(f'    {os.path.basename(item["path"])}: {owner}, {item["events"]} event(s), '
                             f'{_size(item["bytes"])}')
    if status['metrics'] is not None:
        lines.append('Metrics (Prometheus multiprocess files, summed over processes):')
        lines.extend(f'  {name} {value:g}' for name, value in status['metrics'].items())
    if status['problems']:
        lines.append(f'{len(status["problems"])} problem(s):')
        lines.extend(f'  - {problem}' for problem in status['problems'])
    else:
        lines.append('OK')
    return lines


def _size(count):
    if count < 1024:
        return f'{count} bytes'
    for unit in ('KiB', 'MiB', 'GiB'):
        count /= 1024
        if count < 1024 or unit == 'GiB':
            return f'{count:.1f} {unit}'
    return None  # not reached


def _duration(seconds):
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.0f} min'
    return f'{seconds / 3600:.1f} h'
