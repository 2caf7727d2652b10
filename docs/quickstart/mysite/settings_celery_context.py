# --- Event tracking: the request's contexts carried into Celery tasks ---------

EVENT_TRACKING_CELERY_CONTEXT = True

# Celery's own DEBUG line "TaskPool: Apply ..." (logger celery.pool) prints each task's message, its
# headers included, so with the line above the contexts' values: keep that logger at INFO, even in a
# worker started with --loglevel=DEBUG.
LOGGING['loggers']['celery.pool'] = {'level': 'INFO'}
