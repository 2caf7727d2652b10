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
