#!/usr/bin/env python3
"""The tracking log written by FileBackend against the original's LoggerBackend with a FileHandler, side by side.

Usage (from the repository root)::

    python3 bench/filelog.py             # 3 rounds of 20,000 events per run
    python3 bench/filelog.py --quick     # 1 round of 5,000 events

Both sides run the Open edX-like trees of ``bench/workloads.py`` (``openedx``
and ``threads``) with the same events, in the virtual environments that
``bench/run.py`` makes (it is imported for them). The original writes its
tracking log as an Open edX site does: ``LoggerBackend`` and a
``logging.FileHandler`` with the message as the whole line. This library's
tree has a ``FileBackend`` in place of that ``LoggerBackend``, writing the
same bytes with no ``logging`` in between. Every round runs each side in a
fresh process, alternating which goes first; the logs are read back and
compared (timestamps blanked, as ``bench/run.py`` does).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ('openedx', 'threads')
VARIANTS = ('as-written', 'declared', 'declared+orjson')
"""This library's variants (see bench/README.md); ``declared`` is the standard encoder's target run."""
TARGET = 8
TARGET_VARIANT = 'declared'
"""The run the target is for: the standard encoder, user code declaring ``mutates_events = False``."""
ORIGINAL_SIDE = 'original'
THIS_SIDE = 'eventtracking'


# --- the worker: one timed run in one environment --------------------------------------------------

def worker(args):
    """Time ``args.events`` events of ``args.workload`` through one side's tree; print the figures as JSON."""
    sys.path.insert(0, BENCH)
    import workloads  # pylint: disable=import-outside-toplevel,import-error

    path = os.path.join(args.workdir, f'filelog-{args.side}-{args.workload}-{os.getpid()}.log')
    if args.side == ORIGINAL_SIDE:
        tracker, _ = workloads.build_tracker(args.workload, 'as-written')
        handler = workloads.log_to(path)
    else:
        from eventtracking.backends.file import FileBackend  # pylint: disable=import-outside-toplevel
        tracker, _ = workloads.build_tracker(args.workload, args.variant)
        logger_options = workloads.VARIANTS[args.variant][2]
        backend = FileBackend(path, max_event_size=50000, **logger_options)
        tracker.backends['tracking_logs'].register_backend('logger', backend)
        handler = None
    warmup = max(200, args.events // 20)
    workloads.run_events(tracker, args.workload, warmup)
    if handler is not None:
        handler.close()
        handler = workloads.log_to(path)  # mode 'w': the timed part's lines only
    else:
        os.unlink(path)  # FileBackend opens a new file at the next event, as after logrotate

    switches = workloads.context_switches()
    started, cpu_started = time.perf_counter(), time.process_time()
    workloads.run_events(tracker, args.workload, args.events, start=warmup)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    switches = workloads.context_switches() - switches
    if handler is not None:
        handler.close()
    else:
        backend.close()
    lines = workloads.read_log(path)
    os.unlink(path)
    result = workloads.timing(args.events, elapsed, cpu, switches)
    result.update(library=workloads.library(), module=sys.modules['eventtracking'].__file__, lines=len(lines),
                  digest=workloads.digest_lines(lines, args.workload != 'threads')[0])
    json.dump(result, sys.stdout)


# --- the driver ------------------------------------------------------------------------------------

def run_side(run, side, workload, variant, events):
    """One worker process of ``side``; returns its figures."""
    python = run.environment_python(run.ORIGINAL if side == ORIGINAL_SIDE else run.THIS)
    command = [python, '-I', os.path.abspath(__file__), '--worker', side, '--workload', workload,
               '--variant', variant, '--events', str(events), '--workdir', run.RESULTS]
    completed = subprocess.run(command, cwd=run.RESULTS, capture_output=True, text=True, check=False)
    if completed.returncode:
        sys.exit(f'{" ".join(command)} failed:\n{completed.stderr}')
    result = json.loads(completed.stdout)
    if side == ORIGINAL_SIDE and '.venv-original' not in result['module']:
        sys.exit(f'The original environment imported eventtracking from {result["module"]}')
    return result


def measure(run, args):
    """Every round of every workload: {(workload, side, variant): [figures, ...]}."""
    runs = {}
    for round_number in range(args.rounds):
        for workload in args.workloads:
            jobs = [(ORIGINAL_SIDE, 'as-written')] + [(THIS_SIDE, variant) for variant in VARIANTS]
            if round_number % 2:
                jobs.reverse()
            for side, variant in jobs:
                print(f'  round {round_number + 1}/{args.rounds}: {workload:8} {side:14} {variant}', end='\r',
                      flush=True)
                runs.setdefault((workload, side, variant), []).append(
                    run_side(run, side, workload, variant, args.events))
    print(' ' * 79, end='\r')
    return runs


def table(runs, args):
    """The Markdown table of the results, one row per workload and variant of this library."""
    rows = ['| workload | variant | original ev/s | FileBackend ev/s | ratio | ratio by CPU time | target '
            '| CPU µs/event (orig / this) | switches/event (orig / this) | same output |',
            '|---|---|---:|---:|---:|---:|---|---:|---:|---|']
    all_same = True
    for workload in args.workloads:
        original = runs[(workload, ORIGINAL_SIDE, 'as-written')]
        for variant in VARIANTS:
            this = runs[(workload, THIS_SIDE, variant)]
            wall = statistics.median(t['events_per_second'] / o['events_per_second'] for o, t in zip(original, this))
            cpu = statistics.median(o['cpu_us_per_event'] / t['cpu_us_per_event'] for o, t in zip(original, this))
            same = all(o['digest'] == t['digest'] and o['lines'] == t['lines'] == args.events
                       for o, t in zip(original, this))
            all_same = all_same and same
            met = 'met' if min(wall, cpu) >= TARGET else 'missed'
            rows.append(
                f'| {workload} | {variant} | {statistics.median(o["events_per_second"] for o in original):,.0f} '
                f'| {statistics.median(t["events_per_second"] for t in this):,.0f} | **{wall:.1f}x** | {cpu:.1f}x '
                f'| {f"{TARGET}x {met}" if variant == TARGET_VARIANT else ""} '
                f'| {statistics.median(o["cpu_us_per_event"] for o in original):.2f} / '
                f'{statistics.median(t["cpu_us_per_event"] for t in this):.2f} '
                f'| {statistics.median(o["context_switches_per_event"] for o in original):.2f} / '
                f'{statistics.median(t["context_switches_per_event"] for t in this):.2f} | {"yes" if same else "NO"} |'
            )
    return '\n'.join(rows), all_same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--events', type=int, default=20000, help='events per timed run (default 20000)')
    parser.add_argument('--rounds', type=int, default=3, help='rounds of every run (default 3)')
    parser.add_argument('--workloads', nargs='+', choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument('--quick', action='store_true', help='one round of 5000 events')
    parser.add_argument('--worker', choices=(ORIGINAL_SIDE, THIS_SIDE), help=argparse.SUPPRESS)
    parser.add_argument('--workload', choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument('--variant', choices=VARIANTS + ('as-written',), help=argparse.SUPPRESS)
    parser.add_argument('--workdir', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.side = args.worker
        worker(args)
        return 0
    if args.quick:
        args.events, args.rounds = 5000, 1

    sys.path.insert(0, BENCH)
    import run  # pylint: disable=import-outside-toplevel,import-error  # bench/run.py: its environments

    os.makedirs(run.RESULTS, exist_ok=True)
    for which in run.ENVIRONMENTS:
        run.ensure_environment(which)
    info = run.machine()
    print(f'Machine: {info["cpu"]}, {info["nproc"]} CPUs, {info["implementation"]} {info["python"]}, '
          f'{info["system"]}')
    print(f'{args.rounds} round(s) of {args.events} events per run, workloads: {", ".join(args.workloads)}')
    markdown, all_same = table(measure(run, args), args)
    print()
    print(markdown)
    with open(os.path.join(run.RESULTS, 'filelog-latest.md'), 'w', encoding='utf-8') as handle:
        handle.write(f'Command: `python3 bench/filelog.py {" ".join(argv if argv is not None else sys.argv[1:])}`'
                     f'  \nMachine: {info}\n\n{markdown}\n')
    return 0 if all_same else 1


if __name__ == '__main__':
    sys.exit(main())
