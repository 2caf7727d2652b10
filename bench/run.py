#!/usr/bin/env python3
"""Benchmark this library against the original ``event-tracking`` 4.0.2, side by side, in one run.

Usage (from the repository root)::

    python3 bench/run.py            # or: make bench
    python3 bench/run.py --quick    # one short round, to see that it works
    python3 bench/run.py --memory   # also the million-event memory check

It makes two virtual environments under ``bench/`` (once; later runs reuse
them): ``.venv-original`` with ``event-tracking==4.0.2`` from the package
index, and ``.venv-eventtracking`` with this working tree installed in
editable mode (plus ``orjson``). Then, round after round, it runs each
workload of ``bench/workloads.py`` in a fresh process of each environment,
alternating which library goes first, and prints for each workload and
variant the events per second of both libraries, their ratio, the cost above
the standard ``logging`` call, the peak memory and whether both libraries
produced the same output.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import venv

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOADS_SCRIPT = os.path.join(BENCH, 'workloads.py')
RESULTS = os.path.join(BENCH, 'results')

ORIGINAL = 'original'
THIS = 'eventtracking'
FLOOR = 'floor'
ENVIRONMENTS = {
    ORIGINAL: os.path.join(BENCH, '.venv-original'),
    THIS: os.path.join(BENCH, '.venv-eventtracking'),
}

WORKLOADS = ('bare', 'logger', 'openedx', 'threads')
LOGGER_WORKLOADS = ('logger', 'openedx', 'threads')
TARGETS = {'bare': 30, 'logger': 5, 'openedx': 10, 'threads': 10}
OWN_COST_TARGET_US = {'openedx': 5.0}


def variants_of(workload):
    """This library's variants of ``workload`` (the original ignores what tells them apart)."""
    if workload == 'bare':
        return ('as-written', 'declared')
    return ('as-written', 'declared', 'as-written+orjson', 'declared+orjson')


# --- environments --------------------------------------------------------------------------------

def environment_python(which):
    return os.path.join(ENVIRONMENTS[which], 'bin', 'python')


def requirements(which):
    if which == ORIGINAL:
        return ['event-tracking==4.0.2']
    return ['-e', f'{ROOT}[orjson]']


def install_key(which):
    """What the environment was built from; a change rebuilds it."""
    key = hashlib.sha256(' '.join([sys.version] + requirements(which)).encode())
    if which == THIS:
        with open(os.path.join(ROOT, 'setup.py'), 'rb') as handle:
            key.update(handle.read())
    return key.hexdigest()


def ensure_environment(which, rebuild=False):
    """Create (or reuse) the virtual environment ``which`` and install its library."""
    path = ENVIRONMENTS[which]
    marker = os.path.join(path, '.bench-installed')
    key = install_key(which)
    if not rebuild and os.path.exists(marker):
        with open(marker, encoding='ascii') as handle:
            if handle.read().strip() == key:
                return
    print(f'Installing {" ".join(requirements(which))} into {os.path.relpath(path, ROOT)} ...', flush=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(path)
    subprocess.run([environment_python(which), '-m', 'pip', 'install', '--quiet', *requirements(which)], check=True)
    with open(marker, 'w', encoding='ascii') as handle:
        handle.write(key + '\n')


# --- running the workloads ------------------------------------------------------------------------

def run_worker(which, workload, variant, mode, events, verify=False, samples=None):
    """Run one workload in a fresh process of environment ``which``; return its JSON result."""
    python = environment_python(THIS if which == FLOOR else which)
    command = [python, '-I', WORKLOADS_SCRIPT, '--workload', workload, '--mode', mode,
               '--events', str(events), '--workdir', RESULTS]
    if variant:
        command += ['--variant', variant]
    if verify:
        command.append('--verify')
    if samples:
        command += ['--samples', samples]
    completed = subprocess.run(command, cwd=RESULTS, capture_output=True, text=True, check=False)
    if completed.returncode:
        sys.exit(f'{" ".join(command)} failed:\n{completed.stderr}')
    result = json.loads(completed.stdout)
    if which == ORIGINAL and '.venv-original' not in result.get('module', ''):
        sys.exit(f'The original environment imported eventtracking from {result.get("module")}')
    return result


def jobs_of(workload):
    """The (environment, variant, mode) runs that make up one workload in one round."""
    jobs = [(ORIGINAL, 'as-written', 'time')]
    jobs += [(THIS, variant, 'time') for variant in variants_of(workload)]
    if workload in LOGGER_WORKLOADS:
        jobs.append((FLOOR, None, 'floor'))
    return jobs


def run_rounds(args):
    """Run every workload ``args.rounds`` times, alternating which library goes first."""
    runs = {}
    for round_number in range(args.rounds):
        for workload in args.workloads:
            jobs = jobs_of(workload)
            if round_number % 2:
                jobs.reverse()
            for which, variant, mode in jobs:
                verify = round_number == 0 and mode == 'time'
                samples = None
                if verify:
                    samples = os.path.join(RESULTS, f'samples-{workload}-{which}-{variant}.json')
                print(f'  round {round_number + 1}/{args.rounds}: {workload:8} {which:14} {variant or ""}',
                      end='\r', flush=True)
                result = run_worker(which, workload, variant, mode, args.events, verify, samples)
                runs.setdefault((workload, which, variant), []).append(result)
    print(' ' * 79, end='\r')
    return runs


# --- reporting -------------------------------------------------------------------------------------

def same_output(original, this):
    """Whether two runs (one per library, same round) show the same output, and where they differ."""
    differences = [
        f'{part}.{name}'
        for part in ('counts', 'digests', 'verify_digests')
        for name in sorted(set(original.get(part, {})) | set(this.get(part, {})))
        if original.get(part, {}).get(name) != this.get(part, {}).get(name)
    ]
    return not differences, differences


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def summarize(runs, args):
    """One row per workload and variant of this library, set against the original.

    Events per second are wall-clock; the ratio is also given by CPU time
    (``time.process_time``), which other load on the machine disturbs less.
    Each ratio is the median of the rounds' ratios (each round runs both
    libraries back to back). A target counts as met when both ratios reach it.
    """
    rows = []
    for workload in args.workloads:
        original_runs = runs[(workload, ORIGINAL, 'as-written')]
        floor_runs = runs.get((workload, FLOOR, None))
        floor_us = median_of(floor_runs, 'cpu_us_per_event') if floor_runs else None
        mapping_us = None
        if floor_runs and floor_runs[0].get('legacy_mapping_cpu_us_per_event') is not None:
            mapping_us = median_of(floor_runs, 'legacy_mapping_cpu_us_per_event')
        for variant in variants_of(workload):
            this_runs = runs[(workload, THIS, variant)]
            ratios = [mine['events_per_second'] / theirs['events_per_second']
                      for mine, theirs in zip(this_runs, original_runs)]
            cpu_ratios = [theirs['cpu_us_per_event'] / mine['cpu_us_per_event']
                          for mine, theirs in zip(this_runs, original_runs)]
            differences = sorted({difference for theirs, mine in zip(original_runs, this_runs)
                                  for difference in same_output(theirs, mine)[1]})
            identical = not differences
            this_cpu_us = median_of(this_runs, 'cpu_us_per_event')
            ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
            rows.append({
                'workload': workload,
                'variant': variant,
                'original_eps': median_of(original_runs, 'events_per_second'),
                'this_eps': median_of(this_runs, 'events_per_second'),
                'ratio': ratio,
                'ratios': ratios,
                'cpu_ratio': cpu_ratio,
                'cpu_ratios': cpu_ratios,
                'target': TARGETS[workload],
                'met': min(ratio, cpu_ratio) >= TARGETS[workload],
                'original_us': median_of(original_runs, 'us_per_event'),
                'this_us': median_of(this_runs, 'us_per_event'),
                'original_cpu_us': median_of(original_runs, 'cpu_us_per_event'),
                'this_cpu_us': this_cpu_us,
                'floor_cpu_us': floor_us,
                'above_floor_cpu_us': this_cpu_us - floor_us if floor_us is not None else None,
                'legacy_mapping_cpu_us': mapping_us,
                'context_switches_per_event': median_of(this_runs, 'context_switches_per_event'),
                'rounds': [
                    {'original_cpu_us': theirs['cpu_us_per_event'], 'this_cpu_us': mine['cpu_us_per_event'],
                     'original_us': theirs['us_per_event'], 'this_us': mine['us_per_event'],
                     'floor_cpu_us': floor['cpu_us_per_event'] if floor else None,
                     'original_switches': theirs['context_switches_per_event'],
                     'this_switches': mine['context_switches_per_event'],
                     'floor_switches': floor['context_switches_per_event'] if floor else None}
                    for mine, theirs, floor in zip(this_runs, original_runs, floor_runs or [None] * len(this_runs))
                ],
                'original_peak_mib': max(run['peak_rss_kib'] for run in original_runs) / 1024,
                'this_peak_mib': max(run['peak_rss_kib'] for run in this_runs) / 1024,
                'identical': identical,
                'differences': differences,
                'counts': this_runs[0]['counts'],
            })
    return rows


def markdown_table(rows):
    lines = [
        '| workload | variant | original ev/s | eventtracking ev/s | ratio | ratio by CPU time | target '
        '| CPU µs/event (orig / this) | logging floor CPU µs | this above floor CPU µs '
        '| peak RSS MiB (orig / this) | same output |',
        '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|',
    ]
    for row in rows:
        floor = f'{row["floor_cpu_us"]:.2f}' if row['floor_cpu_us'] is not None else ''
        above = f'{row["above_floor_cpu_us"]:.2f}' if row['above_floor_cpu_us'] is not None else ''
        if row['legacy_mapping_cpu_us'] is not None:
            above += f' ({row["above_floor_cpu_us"] - row["legacy_mapping_cpu_us"]:.2f} without the legacy mapping)'
        lines.append(
            f'| {row["workload"]} | {row["variant"]} | {row["original_eps"]:,.0f} | {row["this_eps"]:,.0f} '
            f'| **{row["ratio"]:.1f}x** | {row["cpu_ratio"]:.1f}x '
            f'| {row["target"]}x {"met" if row["met"] else "missed"} '
            f'| {row["original_cpu_us"]:.2f} / {row["this_cpu_us"]:.2f} | {floor} | {above} '
            f'| {row["original_peak_mib"]:.1f} / {row["this_peak_mib"]:.1f} '
            f'| {"yes" if row["identical"] else "NO: " + ", ".join(row["differences"])} |'
        )
    return '\n'.join(lines)


def memory_table(results):
    lines = [
        '| workload | variant | events | RSS after warm-up MiB | RSS at end MiB | growth KiB | seconds |',
        '|---|---|---:|---:|---:|---:|---:|',
    ]
    for result in results:
        lines.append(
            f'| {result["workload"]} | {result["variant"]} | {result["events"]:,} '
            f'| {result["rss_after_warmup_kib"] / 1024:.1f} | {result["rss_at_end_kib"] / 1024:.1f} '
            f'| {result["growth_kib"]:+d} | {result["seconds"]:.0f} |'
        )
    return '\n'.join(lines)


def machine():
    """What the figures were measured on."""
    model = 'unknown'
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        'cpu': model,
        'nproc': os.cpu_count(),
        'python': platform.python_version(),
        'implementation': platform.python_implementation(),
        'system': f'{platform.system()} {platform.release()} {platform.machine()}',
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--events', type=int, default=20000, help='events per timed run (default 20000)')
    parser.add_argument('--rounds', type=int, default=3, help='rounds of every run (default 3)')
    parser.add_argument('--workloads', nargs='+', choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument('--quick', action='store_true', help='one round of 5000 events')
    parser.add_argument('--memory', action='store_true', help='also check memory over --memory-events events')
    parser.add_argument('--memory-events', type=int, default=1_000_000)
    parser.add_argument('--profile', action='store_true',
                        help='instead of timing, print a cProfile of each workload in both libraries')
    parser.add_argument('--variant', default='declared+orjson', help='the variant that --profile runs')
    parser.add_argument('--rebuild', action='store_true', help='recreate both virtual environments')
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds = 5000, 1

    os.makedirs(RESULTS, exist_ok=True)
    for which in ENVIRONMENTS:
        ensure_environment(which, args.rebuild)
    info = machine()
    print(f'Machine: {info["cpu"]}, {info["nproc"]} CPUs, {info["implementation"]} {info["python"]}, '
          f'{info["system"]}')

    if args.profile:
        for workload in args.workloads:
            for which, variant in ((ORIGINAL, 'as-written'), (THIS, args.variant)):
                if workload == 'bare' and 'orjson' in variant:
                    variant = variant.replace('+orjson', '')
                result = run_worker(which, workload, variant, 'profile', args.events)
                print(f'\n=== {workload}: {result["library"]} ({variant}) ===\n{result["profile"]}')
        return 0

    command = ' '.join(['python3', 'bench/run.py'] + (argv if argv is not None else sys.argv[1:]))
    print(f'{args.rounds} round(s) of {args.events} events per run, workloads: {", ".join(args.workloads)}')
    runs = run_rounds(args)
    rows = summarize(runs, args)
    report = {'command': command, 'machine': info, 'when': datetime.datetime.now().isoformat(timespec='seconds'),
              'events': args.events, 'rounds': args.rounds, 'rows': rows,
              'libraries': {which: runs[(args.workloads[0], which, 'as-written')][0]['library']
                            for which in (ORIGINAL, THIS)}}
    print()
    print(markdown_table(rows))

    if args.memory:
        print(f'\nMemory over {args.memory_events:,} events (this library) ...', flush=True)
        memory = []
        for workload in args.workloads:
            for variant in ('as-written', 'declared+orjson' if workload != 'bare' else 'declared'):
                memory.append(run_worker(THIS, workload, variant, 'memory', args.memory_events))
        for result in memory:
            result.pop('samples', None)
        report['memory'] = memory
        print(memory_table(memory))

    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    with open(os.path.join(RESULTS, f'results-{stamp}.json'), 'w', encoding='utf-8') as handle:
        json.dump(report, handle, indent=2)
    with open(os.path.join(RESULTS, 'latest.md'), 'w', encoding='utf-8') as handle:
        handle.write(f'Command: `{command}`  \nMachine: {info}  \n'
                     f'Libraries: {report["libraries"]}\n\n{markdown_table(rows)}\n')
        if 'memory' in report:
            handle.write('\n' + memory_table(report['memory']) + '\n')
    print(f'\nResults written to {os.path.relpath(RESULTS, ROOT)}/latest.md and results-{stamp}.json')
    return 0 if all(row['identical'] for row in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
