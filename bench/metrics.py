"""What the metrics export costs per emit: metrics off, Prometheus (one process and multiprocess), OpenTelemetry.

Run it in the test environment (it needs the ``prometheus`` and ``opentelemetry`` extras and the SDK)::

    .venv/bin/python bench/metrics.py            # about a minute
    .venv/bin/python bench/metrics.py --quick    # a few seconds

Each mode runs in a fresh process (Prometheus' multiprocess mode is chosen when
``prometheus_client`` is imported), round after round, alternating the order.
The workload is ``Tracker.emit`` through the ``openedx`` tree of
``workloads.py`` (legacy field mapping and a ``LoggerBackend`` writing to
``/dev/null``, and three filtering branches: most events are counted
``filtered`` in one to three of them, so each emit reports one emitted event
and several drops). Figures are CPU time (``time.process_time``) per emit,
the best of the rounds, and the difference from metrics off; the time
includes adding the queued counts to the instruments (the metrics thread's
turns, and a last flush).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
MODES = ('off', 'prometheus', 'prometheus-multiprocess', 'opentelemetry')


def run_mode(mode, events):
    """In this process: set up ``mode``, emit ``events`` events; print the CPU seconds per emit."""
    sys.path.insert(0, BENCH)
    import workloads  # pylint: disable=import-outside-toplevel

    from eventtracking import metrics  # pylint: disable=import-outside-toplevel

    if mode == 'opentelemetry':
        # pylint: disable=import-outside-toplevel
        from opentelemetry import metrics as otel
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        otel.set_meter_provider(MeterProvider(metric_readers=[reader]))
        metrics.enable('opentelemetry')
    elif mode.startswith('prometheus'):
        metrics.enable('prometheus')
    tracker, _ = workloads.build_tracker('openedx', 'declared')
    workloads.log_to(os.devnull)
    workloads.run_events(tracker, 'openedx', max(1000, events // 20))
    started = time.process_time()
    workloads.run_events(tracker, 'openedx', events, start=1000)
    metrics.flush()  # the queued counts' cost is part of the emits'
    elapsed = time.process_time() - started
    filtered = tracker.stats.get('filtered', 0)
    print(f'{elapsed / events!r} {filtered}')


def measure(mode, events):
    env = dict(os.environ)
    env.pop('PROMETHEUS_MULTIPROC_DIR', None)
    with tempfile.TemporaryDirectory() as directory:
        if mode == 'prometheus-multiprocess':
            env['PROMETHEUS_MULTIPROC_DIR'] = directory
        output = subprocess.run([sys.executable, __file__, '--run', mode, '--events', str(events)], env=env,
                                check=True, capture_output=True, text=True).stdout.split()
    return float(output[0]), int(output[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--events', type=int, default=50000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--quick', action='store_true', help='2 rounds of 5,000 events')
    parser.add_argument('--run', choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_mode(args.run, args.events)
        return
    if args.quick:
        args.events, args.rounds = 5000, 2
    best = {}
    filtered = {}
    for round_number in range(args.rounds):
        order = MODES if round_number % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            seconds, filtered[mode] = measure(mode, args.events)
            best[mode] = min(best.get(mode, seconds), seconds)
    off = best['off']
    drops = filtered['off'] / (args.events + max(1000, args.events // 20))
    print(f'{args.events} emits per run, best of {args.rounds} rounds, CPU time; '
          f'{drops:.2f} filtered counts per emit')
    print(f'{"mode":<26}{"us/emit":>10}{"added us":>10}')
    for mode in MODES:
        print(f'{mode:<26}{best[mode] * 1e6:>10.2f}{(best[mode] - off) * 1e6:>10.2f}')


if __name__ == '__main__':
    main()
