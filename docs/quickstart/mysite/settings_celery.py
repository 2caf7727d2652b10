# --- Event tracking: a branch delivered by Celery workers ---------------------

import os

CELERY_BROKER_URL = os.environ.get('CELERY_BROKER_URL', 'redis://127.0.0.1:6379/0')
# a broker that accepts connections and never answers must not block a publishing thread forever (check W010)
CELERY_BROKER_TRANSPORT_OPTIONS = {'socket_timeout': 2, 'socket_connect_timeout': 2}

EVENT_TRACKING_BACKENDS['enrollments'] = {
    'ENGINE': 'eventtracking.backends.async_routing.AsyncRoutingBackend',
    'OPTIONS': {
        'backend_name': 'enrollments',  # its own key in EVENT_TRACKING_BACKENDS
        'processors': [  # run in the web process, before the task is sent
            {
                'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                'OPTIONS': {
                    'filter_type': 'allowlist',
                    'regular_expressions': [r'edx\.course\.enrollment\.'],
                },
            },
        ],
        'backends': {  # run in the Celery worker
            'logger': {
                'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                'OPTIONS': {'name': 'enrollments', 'max_event_size': 50000},
            },
        },
    },
}

LOGGING['handlers']['enrollments'] = {
    'class': 'logging.handlers.WatchedFileHandler',
    'filename': BASE_DIR / 'enrollments.log',
    'formatter': 'raw',
}
LOGGING['loggers']['enrollments'] = {
    'handlers': ['enrollments'], 'level': 'INFO', 'propagate': False,
}
