"""gunicorn settings of the metrics test, as docs/operating.rst recommends: a dead worker's live gauges go away."""

from prometheus_client import multiprocess


def child_exit(server, worker):  # pylint: disable=unused-argument
    multiprocess.mark_process_dead(worker.pid)
