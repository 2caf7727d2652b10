"""Django settings for the test suite."""

SECRET_KEY = 'eventtracking-tests-not-a-secret'
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ['*']
DATABASES = {
    'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'},
    'other': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'},  # emit_on_commit(using='other')
}
INSTALLED_APPS = [
    'django.contrib.contenttypes',
    'django.contrib.auth',
    'django.contrib.sessions',
    'eventtracking.django',
]
MIDDLEWARE = []
ROOT_URLCONF = None
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'

# The LoggerBackends of the tests write INFO lines to the root logger or to 'tests.*', 'xapi', 'tracking': give them
# somewhere to go, or the checks warn (eventtracking.W060, W061) and the lines are counted as disabled.
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'null': {'class': 'logging.NullHandler'}},
    'root': {'level': 'INFO', 'handlers': ['null']},
}
