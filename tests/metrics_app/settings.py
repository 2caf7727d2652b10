"""Settings of the gunicorn metrics test: a tracking log capped at 1000 characters, and an analytics branch that
keeps only the events named 'kept'. Metrics go to Prometheus (multiprocess: the test sets PROMETHEUS_MULTIPROC_DIR)."""

SECRET_KEY = 'eventtracking-metrics-test-not-a-secret'
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ['127.0.0.1']
DATABASES = {}
INSTALLED_APPS = ['eventtracking.django']
MIDDLEWARE = []
ROOT_URLCONF = 'tests.metrics_app.urls'

EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_METRICS = 'prometheus'
EVENT_TRACKING_BACKENDS = {
    'tracking_logs': {
        'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
        'OPTIONS': {'name': 'tracking', 'max_event_size': 1000},
    },
    'analytics': {
        'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
        'OPTIONS': {
            'processors': [{'ENGINE': 'eventtracking.processors.whitelist.NameWhitelistProcessor',
                            'OPTIONS': {'whitelist': ['kept']}}],
            'backends': {'xapi': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                  'OPTIONS': {'name': 'xapi', 'max_event_size': None}}},
        },
    },
}
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'null': {'class': 'logging.NullHandler'}},
    'root': {'level': 'INFO', 'handlers': ['null']},
}
