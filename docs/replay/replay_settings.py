# replay_settings.py: the Django settings `eventtracking replay --settings replay_settings` runs with.
# A real one starts with the site's settings (`from lms.envs.production import *` or the like) and then
# replaces EVENT_TRACKING_BACKENDS, EVENT_TRACKING_PROCESSORS and LOGGING as below.

INSTALLED_APPS = ['eventtracking.django']  # builds the default tracker the replay sends to

EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {  # only the branch to fill: not the tracking log, which has every event already
    'xapi': {
        'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
        'OPTIONS': {
            'processors': [{'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                            'OPTIONS': {'filter_type': 'allowlist',
                                        'regular_expressions': [r'edx\.course\.enrollment\.']}}],
            'backends': {'lrs': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                 'OPTIONS': {'name': 'xapi'}}},
        },
    },
}
EVENT_TRACKING_PROCESSORS = []

LOGGING = {  # the LoggerBackend writes to the logger 'xapi': give it a handler and the level INFO
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'raw': {'format': '%(message)s'}},
    'handlers': {'xapi': {'class': 'logging.FileHandler', 'filename': 'xapi.log', 'formatter': 'raw'}},
    'loggers': {'xapi': {'handlers': ['xapi'], 'level': 'INFO', 'propagate': False}},
}
