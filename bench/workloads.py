"""The benchmark's workloads, run in a fresh process inside one library's virtual environment.

``bench/run.py`` starts this script with the interpreter of either virtual
environment: one has the original ``event-tracking`` 4.0.2, the other this
library. The script itself uses only the API both share (``Tracker``,
``RoutingBackend``, ``LoggerBackend``, ``NameWhitelistProcessor``,
``RegexFilter``, the context locators), except where a variant asks for an
option only this library has (``encoder='orjson'``). It prints one JSON object
on stdout: the measured figures and digests of what the backends received.

Workloads:

``bare``
    A tracker with one backend that only counts.
``logger``
    A tracker with one ``LoggerBackend`` writing JSON lines to a file.
``openedx``
    An Open edX-like tree: ``tracking_logs`` (legacy field mapping + logger),
    ``segmentio`` (name whitelist + counting backend), ``xapi`` and
    ``caliper`` (regex allow-lists + counting backends), under a request
    and a course context.
``threads``
    ``openedx`` from 8 threads at once, each with its own thread-local contexts.

Every workload emits the same events: Open edX-like names and payloads of
about ten fields with nested lists and dicts and a datetime.

Modes: ``time`` (the default) times the workload and checks what it produced;
``floor`` times the bare ``logging`` call of a workload with a pre-serialized
line; ``memory`` samples the resident set size while emitting; ``profile``
runs the workload under cProfile and prints the hottest functions.
"""

import argparse
import cProfile
import hashlib
import io
import itertools
import json
import logging
import os
import pstats
import resource
import sys
import threading
import time
from datetime import date, datetime, timezone
from importlib import metadata

from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.locator import DefaultContextLocator, ThreadLocalContextLocator
from eventtracking.processors.regex_filter import RegexFilter
from eventtracking.processors.whitelist import NameWhitelistProcessor
from eventtracking.tracker import Tracker

WORKLOADS = ('bare', 'logger', 'openedx', 'threads')
LOGGER_WORKLOADS = ('logger', 'openedx', 'threads')
THREADS = 8
TRACKING_LOGGER = 'bench.tracking'
VERIFY_EVENTS = 2000

# --- what the events look like -----------------------------------------------------------------

COURSE_ID = 'course-v1:edX+DemoX+Demo_Course'

EVENT_NAMES = (
    'edx.course.enrollment.activated',
    'problem_check',
    'edx.video.played',
    'edx.ui.lms.sequence.next_selected',
    'edx.grades.subsection.grade_calculated',
    'showanswer',
    'edx.video.paused',
    'edx.forum.thread.created',
    'edx.ui.lms.link_clicked',
    'edx.course.enrollment.deactivated',
    'edx.grades.course.grade_calculated',
    'edx.bookmark.added',
)

SEGMENT_WHITELIST = (
    'edx.course.enrollment.activated',
    'edx.course.enrollment.deactivated',
    'edx.course.enrollment.upgrade.clicked',
    'edx.course.enrollment.upgrade.succeeded',
    'edx.course.enrollment.mode_changed',
    'edx.bi.completion.user.chapter.started',
    'edx.bi.completion.user.chapter.completed',
    'edx.course.grade.passed.first_time',
    'edx.grades.course.grade_calculated',
)

XAPI_ALLOWLIST = [
    r'edx\.course\.enrollment\.activated$',
    r'edx\.course\.enrollment\.deactivated$',
    r'edx\.course\.grade\.passed\.first_time$',
    r'edx\.course\.grade\.now_passed$',
    r'edx\.grades\.subsection\.grade_calculated$',
    r'edx\.grades\.course\.grade_calculated$',
    r'edx\.grades\.problem\.submitted$',
    r'problem_check$',
    r'showanswer$',
    r'edx\.problem\.hint\.demandhint_displayed$',
    r'edx\.problem\.completed$',
    r'edx\.video\.loaded$',
    r'edx\.video\.played$',
    r'edx\.video\.paused$',
    r'edx\.video\.stopped$',
    r'edx\.video\.completed$',
    r'edx\.video\.position\.changed$',
    r'edx\.video\.transcript\.(shown|hidden)$',
    r'edx\.video\.closed_captions\.(shown|hidden)$',
    r'edx\.forum\.(thread|response|comment)\.(created|edited|deleted|viewed|voted|reported)$',
    r'edx\.ui\.lms\.sequence\.(next|previous|tab)_selected$',
    r'edx\.ui\.lms\.outline\.selected$',
    r'edx\.ui\.lms\.link_clicked$',
    r'edx\.completion\.block_completion\.changed$',
]

CALIPER_ALLOWLIST = [
    r'edx\.course\.enrollment\.(activated|deactivated)$',
    r'edx\.grades\.(subsection|course)\.grade_calculated$',
    r'problem_check$',
    r'showanswer$',
    r'edx\.video\.(loaded|played|paused|stopped|completed)$',
    r'edx\.video\.position\.changed$',
    r'edx\.ui\.lms\.sequence\.(next|previous)_selected$',
]


def request_context(user):
    """What Open edX's request middleware enters for a logged-in learner's request."""
    return {
        'session': f'{user * 2654435761 % 2 ** 128:032x}',
        'user_id': user,
        'username': f'learner{user}',
        'ip': f'203.0.113.{user % 250}',
        'host': 'courses.example.org',
        'agent': ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
                  'Chrome/120.0.0.0 Safari/537.36'),
        'path': f'/courses/{COURSE_ID}/xblock/block-v1:edX+DemoX+Demo_Course+type@problem+block@'
                f'{user:032x}/handler/xmodule_handler/problem_check',
        'referer': f'https://courses.example.org/courses/{COURSE_ID}/courseware/interactive_demonstrations/',
        'accept_language': 'en-US,en;q=0.9',
        'client_id': '1437589342.1699987654',
        'org_id': '',
        'course_id': '',
        'event_source': 'server',
        'page': None,
    }


def course_context():
    """What Open edX enters for a view inside a course."""
    return {
        'course_id': COURSE_ID,
        'org_id': 'edX',
        'enterprise_uuid': '',
        'course_user_tags': {'cohort': 'Group A', 'xblock.partition_service.partition_50': '1'},
    }


def event_data(index):
    """The payload of the ``index``-th event of a pool: about ten fields, nested, with a datetime."""
    block = f'block-v1:edX+DemoX+Demo_Course+type@problem+block@{index:032x}'
    return {
        'user_id': 10938 + index,
        'course_id': COURSE_ID,
        'problem_id': block,
        'attempts': index % 5 + 1,
        'grade': index % 4,
        'max_grade': 4,
        'success': 'correct' if index % 3 else 'incorrect',
        'answers': {f'{block}_2_1': ['choice_1', 'choice_3'], f'{block}_3_1': str(index)},
        'submission': {
            f'{block}_2_1': {
                'question': 'Which of the following are prime numbers?',
                'answer': ['2', '7'],
                'response_type': 'choiceresponse',
                'input_type': 'checkboxgroup',
                'correct': index % 3 != 0,
                'variant': '',
            },
        },
        'state': {'seed': index % 7, 'done': True, 'correct_map': {f'{block}_2_1': {'npoints': None}}},
        'submitted_at': datetime(2024, 3, 14, 15, 9, 26, 535897 + index, tzinfo=timezone.utc),
        'due': date(2024, 4, 1),
    }


POOL = [event_data(index) for index in range(64)]
SCHEDULE = [(EVENT_NAMES[i % len(EVENT_NAMES)], POOL[i % len(POOL)]) for i in range(192)]
"""(name, data) of each event, in a cycle: every name meets every payload."""


def schedule(count, start=0):
    """The (name, data) pairs of ``count`` events from position ``start`` of the cycle."""
    return itertools.islice(itertools.cycle(SCHEDULE), start, start + count)


# --- user code: the same in both libraries -----------------------------------------------------

LIFTED_CONTEXT_FIELDS = ('username', 'session', 'ip', 'agent', 'host', 'referer', 'accept_language')


def legacy_field_mapping(event):
    """Turn an event into Open edX's legacy tracking-log shape (like its LegacyFieldMappingProcessor).

    Context fields a tracking log has at the top level are lifted there, ``data``
    becomes ``event``, ``timestamp`` becomes ``time``. Returns a new event and
    leaves the one it was given alone.
    """
    context = dict(event.get('context', {}))
    legacy = {'name': event['name']}
    for field in LIFTED_CONTEXT_FIELDS:
        legacy[field] = context.pop(field, '')
    legacy['event_type'] = context.pop('event_type', event['name'])
    legacy['event_source'] = context.pop('event_source', 'server')
    legacy['page'] = context.pop('page', None)
    legacy['context'] = context
    legacy['event'] = event.get('data', {})
    legacy['time'] = event['timestamp']
    return legacy


def declared_legacy_field_mapping(event):
    """:func:`legacy_field_mapping`, declaring that it changes no event it is given."""
    return legacy_field_mapping(event)


declared_legacy_field_mapping.mutates_events = False


class CountingBackend:
    """A backend that only counts the events it receives (a stand-in for Segment or an xAPI router)."""

    def __init__(self):
        self.count = 0

    def send(self, event):  # pylint: disable=unused-argument
        self.count += 1


class DeclaredCountingBackend(CountingBackend):
    """:class:`CountingBackend`, declaring that it neither changes nor keeps the events it receives."""

    mutates_events = False


class RecordingBackend:
    """Keeps each received event as a normalized JSON string (no reference to the event itself)."""

    mutates_events = False

    def __init__(self):
        self.count = 0
        self.records = []

    def send(self, event):
        self.count += 1
        self.records.append(normalized(event))


def normalized(event):
    """``event`` as a canonical JSON string: sorted keys, timestamps blanked."""
    if isinstance(event, dict):
        event = dict(event)
        for key in ('timestamp', 'time'):
            if key in event:
                event[key] = '<blanked>'
    return json.dumps(event, sort_keys=True, default=str)


# --- the trees ---------------------------------------------------------------------------------

VARIANTS = {
    # name: (counting backend class, legacy processor, LoggerBackend options)
    'as-written': (CountingBackend, legacy_field_mapping, {}),
    'declared': (DeclaredCountingBackend, declared_legacy_field_mapping, {}),
    'as-written+orjson': (CountingBackend, legacy_field_mapping, {'encoder': 'orjson'}),
    'declared+orjson': (DeclaredCountingBackend, declared_legacy_field_mapping, {'encoder': 'orjson'}),
}


def build_tracker(workload, variant, record=False):
    """Return (tracker, {name: counting backend}) for ``workload`` as ``variant`` writes it."""
    counting_class, legacy_processor, logger_options = VARIANTS[variant]
    if record:
        counting_class = RecordingBackend
    if workload == 'bare':
        counter = counting_class()
        return Tracker(backends={'counter': counter}), {'counter': counter}
    if workload == 'logger':
        logger = LoggerBackend(name=TRACKING_LOGGER, max_event_size=50000, **logger_options)
        return Tracker(backends={'logger': logger}), {}
    counters = {name: counting_class() for name in ('segment', 'xapi', 'caliper')}
    backends = {
        'tracking_logs': RoutingBackend(
            backends={'logger': LoggerBackend(name=TRACKING_LOGGER, max_event_size=50000, **logger_options)},
            processors=[legacy_processor],
        ),
        'segmentio': RoutingBackend(
            backends={'segment': counters['segment']},
            processors=[NameWhitelistProcessor(whitelist=list(SEGMENT_WHITELIST))],
        ),
        'xapi': RoutingBackend(
            backends={'xapi': counters['xapi']},
            processors=[RegexFilter(filter_type='allowlist', regular_expressions=XAPI_ALLOWLIST)],
        ),
        'caliper': RoutingBackend(
            backends={'caliper': counters['caliper']},
            processors=[RegexFilter(filter_type='allowlist', regular_expressions=CALIPER_ALLOWLIST)],
        ),
    }
    locator = ThreadLocalContextLocator() if workload == 'threads' else DefaultContextLocator()
    return Tracker(backends=backends, context_locator=locator), counters


def log_to(path):
    """Point the tracking logger at ``path`` (one message per line), as a tracking log is set up."""
    logger = logging.getLogger(TRACKING_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path, mode='w', encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(message)s'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def run_events(tracker, workload, count, start=0):
    """Emit ``count`` events through ``tracker``: from this thread, or from 8 threads for ``threads``."""
    if workload == 'bare' or workload == 'logger':
        emit = tracker.emit
        for name, data in schedule(count, start):
            emit(name, data)
        return
    if workload == 'openedx':
        with tracker.context('edx.request', request_context(10938)):
            with tracker.context('edx.course', course_context()):
                emit = tracker.emit
                for name, data in schedule(count, start):
                    emit(name, data)
        return
    barrier = threading.Barrier(THREADS)

    def worker(number):
        share = count // THREADS + (1 if number < count % THREADS else 0)
        with tracker.context('edx.request', request_context(10938 + number)):
            with tracker.context('edx.course', course_context()):
                emit = tracker.emit
                barrier.wait()
                for name, data in schedule(share, start + number * 17):
                    emit(name, data)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- what the run produced ----------------------------------------------------------------------

def digest_lines(lines, ordered):
    """sha256 of the normalized lines, in order or as a multiset."""
    lines = list(lines) if ordered else sorted(lines)
    sha = hashlib.sha256()
    for line in lines:
        sha.update(line.encode('utf-8'))
        sha.update(b'\n')
    return sha.hexdigest(), lines


def read_log(path):
    """The tracking log's lines, each parsed and normalized (timestamps blanked)."""
    with open(path, encoding='utf-8') as handle:
        return [normalized(json.loads(line)) for line in handle]


def verify(workload, variant, workdir):
    """Emit :data:`VERIFY_EVENTS` events through a recording twin of the tree; digest what each backend got."""
    path = os.path.join(workdir, f'verify-{workload}-{os.getpid()}.log')
    handler = log_to(path)
    tracker, recorders = build_tracker(workload, variant, record=True)
    run_events(tracker, workload, VERIFY_EVENTS)
    handler.close()
    ordered = workload != 'threads'
    result = {}
    samples = {}
    for name, recorder in sorted(recorders.items()):
        result[name], samples[name] = digest_lines(recorder.records, ordered)
    if workload in LOGGER_WORKLOADS:
        result['tracking_log'], samples['tracking_log'] = digest_lines(read_log(path), ordered)
    os.unlink(path)
    return result, samples


def rss_kib():
    """The current resident set size in KiB."""
    with open('/proc/self/statm', encoding='ascii') as handle:
        return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def context_switches():
    """Voluntary context switches of this process so far: a thread blocking on a lock or on the GIL is one."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def library():
    """Which library this process runs."""
    for distribution in ('eventtracking', 'event-tracking'):
        try:
            return f'{distribution} {metadata.version(distribution)}'
        except metadata.PackageNotFoundError:
            continue
    return 'unknown'


# --- modes ---------------------------------------------------------------------------------------

def timing(events, elapsed, cpu, switches):
    """The figures of one timed run of ``events`` events: rates, CPU time, context switches, peak memory."""
    return {
        'events': events,
        'seconds': elapsed,
        'events_per_second': events / elapsed,
        'us_per_event': elapsed / events * 1e6,
        'cpu_seconds': cpu,
        'cpu_us_per_event': cpu / events * 1e6,
        'context_switches_per_event': switches / events,
        'peak_rss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }

def time_workload(args):
    """Warm up, time ``args.events`` events, and check what the backends and the log received."""
    log_path = os.path.join(args.workdir, f'{args.workload}-{os.getpid()}.log')
    handler = log_to(log_path)
    tracker, counters = build_tracker(args.workload, args.variant)
    warmup = max(200, args.events // 20)
    run_events(tracker, args.workload, warmup, start=0)
    handler.close()
    handler = log_to(log_path)  # the timed part's lines only
    for counter in counters.values():
        counter.count = 0
    switches_before = context_switches()
    started, cpu_started = time.perf_counter(), time.process_time()
    run_events(tracker, args.workload, args.events, start=warmup)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    switches = context_switches() - switches_before
    handler.close()
    result = {
        'library': library(),
        'module': sys.modules['eventtracking'].__file__,
        'workload': args.workload,
        'variant': args.variant,
        'counts': {name: counter.count for name, counter in sorted(counters.items())},
        **timing(args.events, elapsed, cpu, switches),
    }
    if args.workload in LOGGER_WORKLOADS:
        lines = read_log(log_path)
        result['counts']['tracking_log'] = len(lines)
        result['digests'] = {'tracking_log': digest_lines(lines, args.workload != 'threads')[0]}
    else:
        result['digests'] = {}
    os.unlink(log_path)
    if args.verify:
        digests, samples = verify(args.workload, args.variant, args.workdir)
        result['verify_digests'] = digests
        result['verify_samples'] = {name: lines[:3] for name, lines in samples.items()}
        if args.samples:
            with open(args.samples, 'w', encoding='utf-8') as handle:
                json.dump(samples, handle)
    return result


def sample_line(workload):
    """A tracking-log line such as ``workload`` writes, serialized once, for the floor."""
    name, data = SCHEDULE[1]
    event = {'name': name, 'timestamp': datetime.now(timezone.utc), 'data': data, 'context': {}}
    if workload != 'logger':
        event['context'] = {**request_context(10938), **course_context()}
        event = legacy_field_mapping(event)
    return json.dumps(event, default=lambda value: value.isoformat())


def time_floor(args):
    """Time the tracking logger's own ``info(line)`` call with a line serialized beforehand."""
    log_path = os.path.join(args.workdir, f'floor-{args.workload}-{os.getpid()}.log')
    handler = log_to(log_path)
    line = sample_line(args.workload)
    info = logging.getLogger(TRACKING_LOGGER).info

    def loop(count):
        for _ in itertools.repeat(None, count):
            info(line)

    loop(max(200, args.events // 20))
    switches_before = context_switches()
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.workload == 'threads':
        barrier = threading.Barrier(THREADS)

        def worker(number):
            barrier.wait()
            loop(args.events // THREADS + (1 if number < args.events % THREADS else 0))

        threads = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        loop(args.events)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    switches = context_switches() - switches_before
    handler.close()
    os.unlink(log_path)
    user_code = None
    if args.workload in ('openedx', 'threads'):
        name, data = SCHEDULE[1]
        event = {'name': name, 'timestamp': datetime.now(timezone.utc), 'data': data,
                 'context': {**request_context(10938), **course_context()}}
        cpu_started = time.process_time()
        for _ in itertools.repeat(None, args.events):
            legacy_field_mapping(event)
        user_code = (time.process_time() - cpu_started) / args.events * 1e6
    return {
        'library': 'logging (floor)',
        'legacy_mapping_cpu_us_per_event': user_code,
        'workload': args.workload,
        'variant': 'floor',
        'line_length': len(line),
        **timing(args.events, elapsed, cpu, switches),
    }


def memory_workload(args):
    """Emit ``args.events`` events in chunks, sampling the resident set size after each chunk."""
    handler = log_to(os.devnull)
    tracker, _ = build_tracker(args.workload, args.variant)
    chunk = max(1, args.events // 20)
    warmup = max(chunk, args.events // 10)
    run_events(tracker, args.workload, warmup)
    samples = []
    done = 0
    started = time.perf_counter()
    while done < args.events:
        size = min(chunk, args.events - done)
        run_events(tracker, args.workload, size, start=warmup + done)
        done += size
        samples.append((done, rss_kib()))
    elapsed = time.perf_counter() - started
    handler.close()
    return {
        'library': library(),
        'module': sys.modules['eventtracking'].__file__,
        'workload': args.workload,
        'variant': args.variant,
        'events': args.events,
        'warmup_events': warmup,
        'seconds': elapsed,
        'rss_after_warmup_kib': samples[0][1],
        'rss_at_end_kib': samples[-1][1],
        'rss_max_kib': max(rss for _, rss in samples),
        'growth_kib': samples[-1][1] - samples[0][1],
        'samples': samples,
        'stats': getattr(tracker, 'stats', None),
    }


def profile_workload(args):
    """Run the workload under cProfile and return the top of the profile as text."""
    handler = log_to(os.path.join(args.workdir, f'profile-{os.getpid()}.log'))
    tracker, _ = build_tracker(args.workload, args.variant)
    run_events(tracker, args.workload, 500)
    profiler = cProfile.Profile()
    profiler.enable()
    run_events(tracker, args.workload, args.events, start=500)
    profiler.disable()
    handler.close()
    os.unlink(handler.baseFilename)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats('tottime').print_stats(25)
    return {'library': library(), 'module': sys.modules['eventtracking'].__file__, 'workload': args.workload,
            'variant': args.variant, 'profile': out.getvalue()}


MODES = {'time': time_workload, 'floor': time_floor, 'memory': memory_workload, 'profile': profile_workload}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--workload', choices=WORKLOADS, required=True)
    parser.add_argument('--variant', choices=sorted(VARIANTS), default='as-written')
    parser.add_argument('--mode', choices=sorted(MODES), default='time')
    parser.add_argument('--events', type=int, default=20000)
    parser.add_argument('--verify', action='store_true', help='also digest what a recording twin of the tree receives')
    parser.add_argument('--samples', help='write the verified normalized events to this JSON file')
    parser.add_argument('--workdir', default='.')
    args = parser.parse_args(argv)
    json.dump(MODES[args.mode](args), sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
