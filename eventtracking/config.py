"""Toggles of the event-tracking Django app, read from Django settings."""

try:
    from edx_toggles.toggles import SettingToggle
except ImportError:  # edx-toggles is optional: a toggle only needs to read a setting
    from django.conf import settings as _settings

    class SettingToggle:
        """A feature toggle whose state is the Django setting ``name`` (``default`` when it is not set)."""

        def __init__(self, name, default=False, module_name=''):
            self.name = name
            self.default = default
            self.module_name = module_name

        def is_enabled(self):
            """Return the setting's value as a bool."""
            return bool(getattr(_settings, self.name, self.default))

        def __repr__(self):
            return f'SettingToggle({self.name!r}, default={self.default!r})'


# .. toggle_name: SEND_TRACKING_EVENT_EMITTED_SIGNAL
# .. toggle_implementation: SettingToggle
# .. toggle_default: False
# .. toggle_description: When True, EventBusRoutingBackend sends Open edX's TRACKING_EVENT_EMITTED
#   signal (and so publishes to the event bus) for every event named in EVENT_BUS_TRACKING_LOGS.
# .. toggle_use_cases: opt_in
# .. toggle_creation_date: 2023-10-26
SEND_TRACKING_EVENT_EMITTED_SIGNAL = SettingToggle(
    'SEND_TRACKING_EVENT_EMITTED_SIGNAL',
    default=False,
    module_name=__name__,
)
"""The ``SEND_TRACKING_EVENT_EMITTED_SIGNAL`` setting: ``is_enabled()`` is its value (``False`` when unset).

:class:`~eventtracking.backends.event_bus.EventBusRoutingBackend` reads it at
every event; while it is false, event-bus backends send nothing to the bus.
"""
