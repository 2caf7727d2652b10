"""A new user's project: a settings file with mistakes and a tiny manage.py, run in a separate process."""

import os
import subprocess
import sys
import textwrap

import pytest

MANAGE_PY = textwrap.dedent('''\
    import os
    import sys

    if __name__ == '__main__':
        os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite_settings')
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
''')

BROKEN_SETTINGS = textwrap.dedent('''\
    SECRET_KEY = 'not-a-secret'
    INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions',
                      'eventtracking.django']
    MIDDLEWARE = [
        'eventtracking.django.middleware.TrackMiddleware',
        'django.contrib.sessions.middleware.SessionMiddleware',
        'django.contrib.auth.middleware.AuthenticationMiddleware',
    ]
    EVENT_TRACKING_ENABLED = True
    EVENT_TRACKING_BACKENDS = {
        'xapi': {
            'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
            'OPTIONS': {
                'backend_name': 'xapi',
                'processors': [
                    {
                        'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                        'OPTIONS': {
                            'filter_type': 'allowlist',
                            'regular_expressions': [
                                'edx.course.enrollment.(activated',
                                'edx.course.enrollment.deactivated',
                            ]
                        }
                    }
                ],
                'backends': {
                    'xapi': {
                        'ENGINE': 'dummy.backend.engine',
                        'OPTIONS': {}
                    }
                },
            },
        },
        'tracking_logs': {
            'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
            'OPTIONS': {'name': 'tracking', 'max_event_size': 'big'},
        },
    }
    EVENT_TRACKING_PROCESSORS = [{'ENGINE': 'eventtracking.backends.logger.LoggerBackend'}]
    TRACKING_IGNORE_URL_PATTERNS = [r'^/heartbeat(']
''')

FIXED_SETTINGS = textwrap.dedent('''\
    SECRET_KEY = 'not-a-secret'
    INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'django.contrib.sessions',
                      'eventtracking.django']
    MIDDLEWARE = [
        'django.contrib.sessions.middleware.SessionMiddleware',
        'django.contrib.auth.middleware.AuthenticationMiddleware',
        'eventtracking.django.middleware.TrackMiddleware',
    ]
    EVENT_TRACKING_ENABLED = True
    EVENT_TRACKING_BACKENDS = {
        'xapi': {
            'ENGINE': 'eventtracking.backends.routing.RoutingBackend',
            'OPTIONS': {
                'processors': [{'ENGINE': 'eventtracking.processors.regex_filter.RegexFilter',
                                'OPTIONS': {'regular_expressions': [r'edx\\.course\\.enrollment\\.']}}],
                'backends': {'xapi': {'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
                                      'OPTIONS': {'name': 'xapi'}}},
            },
        },
        'tracking_logs': {
            'ENGINE': 'eventtracking.backends.logger.LoggerBackend',
            'OPTIONS': {'name': 'tracking', 'max_event_size': 50000},
        },
    }
    TRACKING_IGNORE_URL_PATTERNS = [r'^/heartbeat']
    LOGGING = {
        'version': 1,
        'handlers': {'tracking_log': {'class': 'logging.StreamHandler'}},
        'loggers': {name: {'level': 'INFO', 'handlers': ['tracking_log']} for name in ('tracking', 'xapi')},
    }
''')


def manage(project, *args):
    """Run ``python manage.py <args>`` in ``project`` as a user would; return the completed process."""
    env = {key: value for key, value in os.environ.items() if key not in ('DJANGO_SETTINGS_MODULE', 'PYTHONPATH')}
    return subprocess.run([sys.executable, 'manage.py', *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def project(tmp_path):
    (tmp_path / 'manage.py').write_text(MANAGE_PY)
    return tmp_path


def test_manage_py_check_reports_each_mistake(project):
    (project / 'mysite_settings.py').write_text(BROKEN_SETTINGS)

    result = manage(project, 'check')

    assert result.returncode == 1, result.stdout + result.stderr
    report = result.stderr
    expected = [
        "(eventtracking.E003) EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backend_name']: "
        'eventtracking.backends.routing.RoutingBackend does not accept the option',
        "(eventtracking.E007) EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['processors'][0]['OPTIONS']"
        "['regular_expressions'][0]: 'edx.course.enrollment.(activated' is not a valid regular expression",
        "(eventtracking.E001) EVENT_TRACKING_BACKENDS['xapi']['OPTIONS']['backends']['xapi']['ENGINE']: "
        "cannot import 'dummy.backend.engine'",
        "(eventtracking.E004) EVENT_TRACKING_BACKENDS['tracking_logs']: eventtracking.backends.logger.LoggerBackend "
        'could not be constructed with these OPTIONS: ImproperlyConfigured: LoggerBackend max_event_size',
        '(eventtracking.E006) EVENT_TRACKING_PROCESSORS[0]: used as a processor',
        "(eventtracking.E010) TRACKING_IGNORE_URL_PATTERNS[0]: '^/heartbeat(' is not a valid regular expression",
        '(eventtracking.W002) MIDDLEWARE: eventtracking.django.middleware.TrackMiddleware comes before '
        'django.contrib.sessions.middleware.SessionMiddleware',
    ]
    for line in expected:
        assert line in report, report
    assert 'Traceback' not in report.split('SystemCheckError')[-1]


def test_manage_py_check_passes_once_fixed(project):
    (project / 'mysite_settings.py').write_text(FIXED_SETTINGS)
    result = manage(project, 'check')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'System check identified no issues (0 silenced).' in result.stdout


def test_manage_py_eventtracking_tree_runs_on_broken_settings(project):
    (project / 'mysite_settings.py').write_text(BROKEN_SETTINGS)
    result = manage(project, 'eventtracking_tree')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "      xapi: 'dummy.backend.engine' (cannot be imported)" in result.stdout
    assert '6 configuration error(s)' in result.stdout
