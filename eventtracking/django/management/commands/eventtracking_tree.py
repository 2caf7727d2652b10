"""``manage.py eventtracking_tree``: print the backend and processor tree the settings configure.

Shows each backend and processor with its name, its ENGINE class and its
options, values under secret-looking keys (password, secret, key, token, ...)
and passwords inside URLs masked, then the default tracker and any problem
the system checks find. It runs even when the settings are broken (it skips
the system checks that other commands run first), so an operator can see
what their settings build and where they go wrong.
"""

import re

from django.conf import settings
from django.core.management.base import BaseCommand

from eventtracking import tracker
from eventtracking.django import checks
from eventtracking.django.django_tracker import (
    DJANGO_BACKEND_SETTING_NAME, DJANGO_ENABLED_SETTING_NAME, DJANGO_PROCESSOR_SETTING_NAME,
)
from eventtracking.django.settings_tree import (
    CHILD_ROLES, ENGINE_KEY, FAILED, OPTIONS_KEY, TreeBuilder, holds, is_engine_node, item_path,
)

MASK = '********'
SECRET_KEY_PATTERN = re.compile(r'pass|pwd|secret|key|token|credential|auth', re.IGNORECASE)
"""Option names whose values are masked (matched anywhere in the name)."""
URL_PASSWORD = re.compile(r'(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@', re.IGNORECASE)


class Command(BaseCommand):
    """Print the event-tracking backend and processor tree."""

    help = ('Print the event-tracking backends and processors the settings configure '
            '(names, classes, options with secrets masked) and any configuration problem.')
    requires_system_checks = []

    def handle(self, *args, **options):
        lines = []
        enabled = getattr(settings, DJANGO_ENABLED_SETTING_NAME, False)
        lines.append(f'{DJANGO_ENABLED_SETTING_NAME}: {enabled!r}')
        lines.append(f'Default tracker: {describe_default_tracker()}')
        lines.append('')
        lines.extend(render_setting(DJANGO_PROCESSOR_SETTING_NAME, getattr(settings, DJANGO_PROCESSOR_SETTING_NAME, [])))
        lines.extend(render_setting(DJANGO_BACKEND_SETTING_NAME, getattr(settings, DJANGO_BACKEND_SETTING_NAME, {})))
        problems = [message for message in checks.check_event_tracking_settings() if message.is_serious()]
        lines.append('')
        if problems:
            lines.append(f'{len(problems)} configuration error(s) (manage.py check --tag {checks.TAG} shows them too):')
            lines.extend(f'  ({message.id}) {message.msg}' for message in problems)
        else:
            lines.append('No configuration errors.')
        self.stdout.write('\n'.join(lines))


def describe_default_tracker():
    """The default tracker's class and context locator, or why there is none."""
    current = tracker.TRACKERS.get(tracker.DEFAULT_TRACKER_NAME)
    if current is None:
        return 'none registered (events sent to eventtracking.tracker.emit are dropped and counted)'
    locator = getattr(current, 'context_locator', None)
    return f'{_class_path(type(current))} with context locator {_class_path(type(locator))}'


def render_setting(name, config):
    """Lines describing one tree setting (a dict of backends or a list of processors)."""
    if isinstance(config, dict):
        entries = list(config.items())
    elif isinstance(config, (list, tuple)):
        entries = [(f'[{index}]', node) for index, node in enumerate(config)]
    else:
        return [f'{name}: {_masked_repr(config)} (not a dict or list)']
    if not entries:
        return [f'{name}: none']
    lines = [f'{name}:']
    for label, node in entries:
        path = item_path(name, label) if isinstance(config, dict) else f'{name}{label}'
        lines.extend(render_value(label, node, path, depth=1))
    return lines


def render_value(label, value, path, depth, secret=False):
    """Lines describing ``value`` under ``label``: an object, a container of objects, or a plain (masked) value."""
    indent = '  ' * depth
    if secret and value not in (None, ''):
        return [f'{indent}{label}: {MASK!r}']
    if is_engine_node(value):
        return render_node(label, value, path, depth)
    if isinstance(value, dict) and holds(value, is_engine_node):
        lines = [f'{indent}{label}:']
        for key, child in value.items():
            lines.extend(render_value(key, child, item_path(path, key), depth + 1, _is_secret(key)))
        return lines
    if isinstance(value, (list, tuple)) and holds(value, is_engine_node):
        lines = [f'{indent}{label}:']
        for index, child in enumerate(value):
            lines.extend(render_value(f'[{index}]', child, item_path(path, index), depth + 1))
        return lines
    return [f'{indent}{label}: {_masked_repr(value)}']


def render_node(label, node, path, depth):
    """Lines describing one ENGINE node: its class (or why it cannot be imported) and its options."""
    indent = '  ' * depth
    engine = node[ENGINE_KEY]
    builder = TreeBuilder(strict=False)
    cls = builder.resolve(node, path)
    if cls is FAILED:
        heading = f'{indent}{label}: {engine!r} (cannot be imported)'
    else:
        actual = _class_path(cls)
        heading = f'{indent}{label}: {engine}' + (f' (= {actual})' if actual != engine else '')
    lines = [heading]
    options = node.get(OPTIONS_KEY) or {}
    if not isinstance(options, dict):
        return lines + [f'{indent}  {OPTIONS_KEY}: {_masked_repr(options)} (not a dict)']
    options_path = item_path(path, OPTIONS_KEY)
    plain = [key for key in options if key not in CHILD_ROLES]
    for key in plain + [key for key in ('processors', 'backends') if key in options]:
        lines.extend(render_value(key, options[key], item_path(options_path, key), depth + 1, _is_secret(key)))
    return lines


def mask_secrets(value, key=None):
    """A copy of ``value`` with the values under secret-looking keys, and passwords in URLs, masked."""
    if key is not None and _is_secret(key) and value not in (None, ''):
        return MASK
    if isinstance(value, dict):
        return {child_key: mask_secrets(child, child_key) for child_key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_secrets(child) for child in value)
    if isinstance(value, str):
        return URL_PASSWORD.sub(lambda match: f'{match.group("head")}{MASK}@', value)
    return value


def _masked_repr(value):
    return repr(mask_secrets(value))


def _is_secret(key):
    return isinstance(key, str) and bool(SECRET_KEY_PATTERN.search(key))


def _class_path(cls):
    return f'{cls.__module__}.{cls.__qualname__}'
