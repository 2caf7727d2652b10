"""The WSGI application; each worker also registers a delivery whose gauges read 2 queued events, and its pid
(modulo 1000) as the oldest pending age, so that the test can tell a sum from a maximum."""

import os

from django.core.wsgi import get_wsgi_application

from eventtracking import metrics

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.metrics_app.settings')
application = get_wsgi_application()


class WorkerDelivery:
    """This worker's pending delivery, as a batching backend reports it."""

    def read(self):
        return {'queued': 2, 'spooled_events': 10, 'spooled_bytes': 1000, 'oldest_pending_age': os.getpid() % 1000}


DELIVERY = WorkerDelivery()
metrics.register_delivery('analytics', DELIVERY.read)
