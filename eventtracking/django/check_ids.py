"""Every system check id of eventtracking, with its one-line meaning: one table, sorted by id.

The checks themselves live beside what they check (:mod:`eventtracking.django.checks`,
:mod:`eventtracking.django.async_checks`, the ``check_options`` of a backend or
processor, such as :meth:`~eventtracking.processors.regex_filter.RegexFilter.check_options`),
each registered where it is defined (``@checks.register(TAG)`` beside the
function, as Django's own checks are); :ref:`system-checks` says what to do
about each. ``tests/django/test_check_ids.py`` fails when an id used in the
code is missing here, when one listed here is used nowhere, or when the
table of :ref:`system-checks` lists other ids.

To add a check: take the next free id of its range (``E`` stops ``manage.py
check``, ``W`` does not), add a row here and one to :ref:`system-checks`, and
define the id as a constant in the check's module; a new check function gets
``@checks.register(TAG)`` (:data:`TAG`) above it, in a module that
:mod:`eventtracking.django.checks` imports.

Ranges: E001-E009 and W001 the ``ENGINE``/``OPTIONS`` trees; E010-E019 and
W002-W003 request and context settings; E020-E029 and W010-W019
``AsyncRoutingBackend``; E030-E039 event types; E040-E049 and W040-W049
Celery context; W060-W069 backends that cannot deliver; E070-E079 request
censoring; W080-W089 settings that send every event nowhere; E090-E099 and
W090-W099 browser events; E100-E109 metrics.
"""

TAG = 'eventtracking'
"""The tag of every check: ``manage.py check --tag eventtracking`` runs them alone."""

CHECK_IDS = {
    'eventtracking.E001': 'an ENGINE that cannot be imported',
    'eventtracking.E002': 'a malformed node: ENGINE not a string, OPTIONS not a dict, a backend or processor '
                          'without ENGINE',
    'eventtracking.E003': 'OPTIONS the class does not accept, or a required one missing',
    'eventtracking.E004': 'the constructor raised with these OPTIONS',
    'eventtracking.E005': 'a backend without a callable send',
    'eventtracking.E006': 'a processor that is not callable',
    'eventtracking.E007': 'a RegexFilter regular expression that does not compile, or regular_expressions not a list',
    'eventtracking.E008': 'a RegexFilter filter type other than allowlist or blocklist',
    'eventtracking.E009': 'EVENT_TRACKING_BACKENDS not a dict, or EVENT_TRACKING_PROCESSORS not a list',
    'eventtracking.E010': 'a TRACKING_IGNORE_URL_PATTERNS entry that does not compile',
    'eventtracking.E011': 'an EVENT_TRACKING_REQUEST_CONTEXT_CALLABLES entry that cannot be imported or is not '
                          'callable',
    'eventtracking.E012': 'an EVENT_TRACKING_CONTEXT_LOCATOR that is not a locator',
    'eventtracking.E020': 'an AsyncRoutingBackend spool_dir that is not a writable directory and cannot be made one',
    'eventtracking.E030': "an installed app's tracking_events module that cannot be imported",
    'eventtracking.E040': 'EVENT_TRACKING_CELERY_CONTEXT not True or False',
    'eventtracking.E041': 'EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES not a positive integer',
    'eventtracking.E042': 'EVENT_TRACKING_CELERY_CONTEXT = True without Celery installed',
    'eventtracking.E070': "an EVENT_TRACKING_SESSION_HASH other than 'blake2b' or 'edx-platform'",
    'eventtracking.E071': 'an EVENT_TRACKING_CENSORED_KEYS entry that is not a key, or the setting not a list',
    'eventtracking.E090': 'EVENT_TRACKING_BROWSER_EVENTS not a list of regular expressions, or one that does not compile',
    'eventtracking.E091': 'an EVENT_TRACKING_BROWSER_MAX_* limit that is not a positive integer',
    'eventtracking.E092': "EVENT_TRACKING_BROWSER_RATE neither None nor a rate such as '600/m'",
    'eventtracking.E100': "EVENT_TRACKING_METRICS not None, 'prometheus' or 'opentelemetry'",
    'eventtracking.E101': 'EVENT_TRACKING_METRICS names a kind whose library (install extra) is not installed',
    'eventtracking.E102': 'PROMETHEUS_MULTIPROC_DIR set but not a writable directory',
    'eventtracking.W001': 'a key next to ENGINE other than OPTIONS (ignored: a typo?)',
    'eventtracking.W002': 'TrackMiddleware before the session or authentication middleware',
    'eventtracking.W003': 'EVENT_TRACKING_BACKENDS set but EVENT_TRACKING_ENABLED not',
    'eventtracking.W010': 'an AsyncRoutingBackend while the Celery broker connection has no socket timeout',
    'eventtracking.W011': "an AsyncRoutingBackend whose backend_name leads the worker to another backend, or none",
    'eventtracking.W012': 'a batching AsyncRoutingBackend without spool_dir (a killed process loses what is queued)',
    'eventtracking.W040': 'EVENT_TRACKING_CELERY_CONTEXT_MAX_BYTES set but EVENT_TRACKING_CELERY_CONTEXT not True',
    'eventtracking.W060': 'a LoggerBackend whose logger does not write at its level',
    'eventtracking.W061': 'a LoggerBackend whose logger has no handler, nor any ancestor it propagates to',
    'eventtracking.W065': 'a SegmentBackend without the Segment library installed',
    'eventtracking.W066': 'a SegmentBackend whose Segment client has no write key',
    'eventtracking.W080': 'EVENT_TRACKING_ENABLED true but EVENT_TRACKING_BACKENDS not set',
    'eventtracking.W081': 'a routing backend with no backends (its events go nowhere)',
    'eventtracking.W082': 'EVENT_TRACKING_ENABLED true and EVENT_TRACKING_BACKENDS set but empty',
    'eventtracking.W090': 'EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES above EVENT_TRACKING_BROWSER_MAX_BYTES',
}
"""Check id -> what it reports, one line each, sorted by id."""


def _rst_table(table):
    """``table`` as a reStructuredText list table, for this module's documentation."""
    lines = ['.. list-table::', '   :header-rows: 1', '', '   * - Id', '     - Reports']
    for check_id, meaning in table.items():
        lines += [f'   * - ``{check_id}``', f'     - {meaning}']
    return '\n'.join(lines) + '\n'


if __doc__:  # (None under python -OO)
    __doc__ += '\n' + _rst_table(CHECK_IDS)  # the docs show the table itself, so they cannot disagree with it
