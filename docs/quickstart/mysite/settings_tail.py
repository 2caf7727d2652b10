# --- Event tracking -------------------------------------------------------

INSTALLED_APPS += ['eventtracking.django']

# After the session and authentication middleware, whose results it records.
MIDDLEWARE += ['eventtracking.django.middleware.TrackMiddleware']

EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {
    'tracking_logs': {
        'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
        'OPTIONS': {
            'backends': {
                'logger': {
                    'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                    'OPTIONS': {'name': 'tracking', 'max_event_size': 50000},
                },
            },
        },
    },
}
EVENT_TRACKING_PROCESSORS = []

# The tracking log: the 'tracking' logger writes bare JSON lines to tracking.log.
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'raw': {'format': '%(message)s'}},
    'handlers': {
        'tracking': {
            'class': 'logging.handlers.WatchedFileHandler',
            'filename': BASE_DIR / 'tracking.log',
            'formatter': 'raw',
        },
    },
    'loggers': {
        'tracking': {'handlers': ['tracking'], 'level': 'INFO', 'propagate': False},
    },
}
