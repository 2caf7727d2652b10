"""Counts an operator can see from outside the process: Prometheus or OpenTelemetry instruments.

The library reports into this module at a few points (an event emitted, an
event dropped or failed by reason and backend, a batch published, the state of
a backend's delivery); :func:`enable` chooses where those reports go. Until it
is called every report is a no-op that costs one function call.
"""


def enable(kind):
    """Export the library's counts through ``kind``: None (off), ``'prometheus'`` or ``'opentelemetry'``."""
    raise NotImplementedError('metrics export is being built (SPEC 4.2)')


def emitted(count=1):
    """Report ``count`` events handed to a tracker's routing."""


def dropped(reason, backend, count=1):
    """Report ``count`` events dropped or failed for ``reason`` (a ``stats`` reason) in ``backend`` (a tree path)."""


def published(backend, count, seconds):
    """Report a batch of ``count`` events handed to ``backend``'s broker in ``seconds``."""


def register_delivery(backend, source):
    """Let the pending-delivery gauges of ``backend`` read ``source()`` when scraped.

    ``source`` returns a dict with ``queued`` (events waiting in memory),
    ``spooled_events`` and ``spooled_bytes`` (pending in the spool) and
    ``oldest_pending_age`` (seconds, or None when nothing waits).
    """
