"""Helpers shared by the tests of eventtracking.testing."""


def legacy_layout(event):
    """A root processor giving events the legacy Open edX layout: ``event_type``, payload in ``event``."""
    return {
        'name': event['name'],
        'event_type': event['name'],
        'event': event['data'],
        'context': event['context'],
        'time': event['timestamp'],
    }
