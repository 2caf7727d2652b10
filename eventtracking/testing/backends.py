"""A backend for tests: keeps every event it receives, in order."""

import threading


class InMemoryBackend:
    """Keep every event sent to it in ``events`` (a list), in the order received.

    Configure it like any backend, in code or in Django settings::

        EVENT_TRACKING_BACKENDS = {
            'mem': {'ENGINE': 'eventtracking.testing.InMemoryBackend'},
        }

    It keeps a reference to each event, so it does not declare
    ``mutates_events = False``: a routing backend hands it a private copy, and
    what it holds cannot change when another backend changes its own copy.
    Safe to receive events from several threads at once.
    """

    def __init__(self):
        self.events = []
        self._lock = threading.Lock()

    def send(self, event):
        """Keep ``event``."""
        with self._lock:
            self.events.append(event)

    def clear(self):
        """Forget every event received so far."""
        with self._lock:
            del self.events[:]

    def __repr__(self):
        return f'<{type(self).__name__} with {len(self.events)} event(s)>'
