"""Small helpers about event dicts, shared by the routing tree and the backends."""


def event_name(event):
    """Return the event's ``name`` for a log line, or None; never raises, whatever ``event`` is."""
    try:
        return event.get('name')
    except Exception:  # pylint: disable=broad-except
        return None


NAME_LIMIT = 200
"""The longest event name a log line shows, in characters; a longer one is cut and marked with ``...``."""


def safe_name(value):
    """Return ``value`` (an event name, or a processor) as a short string fit for a log line; never raises.

    A string is shown as its ``repr()``; anything else as its ``repr()`` too,
    or as ``<unprintable TYPE>`` when that raises. Longer than
    :data:`NAME_LIMIT` characters, it is cut.
    """
    try:
        text = repr(value)
    except Exception:  # pylint: disable=broad-except
        try:
            text = f'<unprintable {type(value).__name__}>'
        except Exception:  # pylint: disable=broad-except
            text = '<unprintable>'
    if len(text) > NAME_LIMIT:
        text = text[:NAME_LIMIT - 3] + '...'
    return text
