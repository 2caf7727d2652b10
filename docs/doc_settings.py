"""Django settings for building the documentation: autodoc imports and the doctest examples.

The doctest examples change what they need with ``override_settings``.
"""

SECRET_KEY = 'eventtracking-docs-not-a-secret'
USE_TZ = True
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}
INSTALLED_APPS = [
    'django.contrib.contenttypes',
    'django.contrib.auth',
    'django.contrib.sessions',
    'eventtracking.django',
]
MIDDLEWARE = []
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
