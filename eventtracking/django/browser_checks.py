"""System checks of the browser events settings (ids E090-E099, W090-W099), each naming the setting's path.

======================  ==========================================================
``eventtracking.E090``  ``EVENT_TRACKING_BROWSER_EVENTS`` not a list of regular
                        expressions, or an entry that does not compile
``eventtracking.E091``  ``EVENT_TRACKING_BROWSER_MAX_BYTES``,
                        ``EVENT_TRACKING_BROWSER_MAX_EVENTS`` or
                        ``EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES`` not a positive integer
``eventtracking.E092``  ``EVENT_TRACKING_BROWSER_RATE`` neither ``None`` nor a rate
                        such as ``'600/m'``
``eventtracking.W090``  ``EVENT_TRACKING_BROWSER_MAX_EVENT_BYTES`` above
                        ``EVENT_TRACKING_BROWSER_MAX_BYTES`` (no request can carry such an event)
======================  ==========================================================

Until a value is fixed, the view uses that setting's default (an entry of
``EVENT_TRACKING_BROWSER_EVENTS`` that does not compile is left out).
"""

import re

from django.conf import settings
from django.core import checks

from eventtracking.django import browser
from eventtracking.django.check_ids import TAG
from eventtracking.django.settings_tree import item_path

E_EVENTS = 'eventtracking.E090'
E_LIMIT = 'eventtracking.E091'
E_RATE = 'eventtracking.E092'
W_EVENT_OVER_BODY = 'eventtracking.W090'

LIMIT_SETTINGS = {
    browser.MAX_BYTES_SETTING_NAME: browser.DEFAULT_MAX_BYTES,
    browser.MAX_EVENTS_SETTING_NAME: browser.DEFAULT_MAX_EVENTS,
    browser.MAX_EVENT_BYTES_SETTING_NAME: browser.DEFAULT_MAX_EVENT_BYTES,
}


@checks.register(TAG)
def check_browser_settings(app_configs=None, **kwargs):  # pylint: disable=unused-argument
    """Django system check: every problem in the ``EVENT_TRACKING_BROWSER_*`` settings."""
    return check_events() + check_limits() + check_rate()


def check_events():
    """``EVENT_TRACKING_BROWSER_EVENTS`` is a list of regular expressions that compile."""
    name = browser.EVENTS_SETTING_NAME
    entries = getattr(settings, name, ())
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        return [checks.Error(f'{name}: must be a list of regular expressions, not {type(entries).__name__}',
                             hint="For example ['myapp\\\\..*'] (a whole name must match)", id=E_EVENTS)]
    messages = []
    for index, entry in enumerate(entries):
        try:
            re.compile(entry)
        except (re.error, TypeError) as exc:
            messages.append(checks.Error(f'{item_path(name, index)}: {entry!r} is not a valid regular expression: '
                                         f'{exc}', id=E_EVENTS))
    return messages


def check_limits():
    """The size and count limits are positive integers, and an event fits in a request."""
    messages = []
    for name, default in LIMIT_SETTINGS.items():
        value = getattr(settings, name, default)
        if not browser.is_positive_int(value):
            messages.append(checks.Error(f'{name}: must be a positive integer, not {value!r}',
                                         hint=f'The default is {default}', id=E_LIMIT))
    max_bytes = getattr(settings, browser.MAX_BYTES_SETTING_NAME, browser.DEFAULT_MAX_BYTES)
    max_event_bytes = getattr(settings, browser.MAX_EVENT_BYTES_SETTING_NAME, browser.DEFAULT_MAX_EVENT_BYTES)
    if not messages and max_event_bytes > max_bytes:
        messages.append(checks.Warning(
            f'{browser.MAX_EVENT_BYTES_SETTING_NAME}: {max_event_bytes} is above '
            f'{browser.MAX_BYTES_SETTING_NAME} ({max_bytes}): no request can carry an event that large',
            id=W_EVENT_OVER_BODY))
    return messages


def check_rate():
    """``EVENT_TRACKING_BROWSER_RATE`` is None or a rate such as ``'600/m'``."""
    value = getattr(settings, browser.RATE_SETTING_NAME, browser.DEFAULT_RATE)
    try:
        browser.parse_rate(value)
    except ValueError as exc:
        return [checks.Error(f'{browser.RATE_SETTING_NAME}: {exc}', id=E_RATE)]
    return []
