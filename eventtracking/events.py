"""Small helpers about event dicts, shared by the routing tree and the backends."""


def event_name(event):
    """Return the event's ``name`` for a log line, or None; never raises, whatever ``event`` is."""
    try:
        return event.get('name')
    except Exception:  # pylint: disable=broad-except
        return None
