"""A backend that sends events to Segment (segment.com) as ``track`` calls.

The module-level name ``analytics`` is the Segment client module:
``segment.analytics`` from ``segment-analytics-python`` (the ``segment``
extra), else the legacy ``analytics`` module of ``analytics-python``, else
None. Configure the client elsewhere (``analytics.write_key = ...``); this
backend only calls ``analytics.track``.
"""

import logging
from urllib.parse import urlunsplit

from eventtracking.events import event_name
from eventtracking.stats import BACKEND_ERROR, FILTERED, UNAVAILABLE, EventCounters

try:
    from segment import analytics
except ImportError:
    try:
        import analytics
    except ImportError:
        analytics = None

LOG = logging.getLogger(__name__)


class SegmentBackend:
    """Send every event that has a name and a ``context.user_id`` to Segment with ``analytics.track``.

    The call is ``analytics.track(user_id, name, event, context=segment_context)``:
    the whole event is the properties, and the Segment context is built from
    the event's context:

    =========================  ====================================================
    Segment context            event context
    =========================  ====================================================
    ``ip``                     ``ip``
    ``userAgent``              ``agent``
    ``Google Analytics``       ``{'clientId': client_id}``
    ``page.path``              ``path``
    ``page.referrer``          ``referer``
    ``page.url``               ``page``, else ``https://<host><path>`` when both are set
    =========================  ====================================================

    Keys whose source is missing (None) are left out. Events without a name or
    a user id are not sent (counted as ``filtered``). Without the Segment
    library, construction logs one WARNING naming the extra to install and
    ``send`` does nothing but count the event as ``unavailable``. The
    Segment client keeps the event in its queue, so this backend gets its own
    copy of each event in a routing tree.
    """

    def __init__(self):
        self.counters = EventCounters()
        if analytics is None:
            LOG.warning(
                "SegmentBackend is configured but the Segment library is not installed: no event will reach "
                "Segment. Install it with pip install 'eventtracking[segment]'."
            )

    @property
    def stats(self):
        """Counts by reason of the events this backend did not send."""
        return self.counters.snapshot()

    def send(self, event):
        """Send ``event`` to Segment with ``analytics.track``, if it has a name and a user id."""
        if analytics is None:
            self.counters.increment(UNAVAILABLE)
            return
        context = event.get('context') or {}
        user_id = context.get('user_id')
        name = event.get('name')
        if name is None or user_id is None:
            self.counters.increment(FILTERED)
            return
        result = analytics.track(user_id, name, event, context=segment_context(context))
        if isinstance(result, tuple) and result and result[0] is False:
            self.counters.increment(BACKEND_ERROR)
            LOG.warning('Dropped event %r (%s): the Segment client did not queue it (its queue is full)',
                        event_name(event), BACKEND_ERROR)


def segment_context(context):
    """Return the Segment ``context`` of a ``track`` call for an event with this eventtracking ``context``."""
    result = {}
    client_id = context.get('client_id')
    if client_id is not None:
        result['Google Analytics'] = {'clientId': client_id}
    ip_address = context.get('ip')
    if ip_address is not None:
        result['ip'] = ip_address
    user_agent = context.get('agent')
    if user_agent is not None:
        result['userAgent'] = user_agent

    path = context.get('path')
    referer = context.get('referer')
    page = context.get('page')
    if path and not page and context.get('host'):
        page = urlunsplit(('https', context['host'], path, '', ''))
    if path is not None or referer is not None or page is not None:
        result['page'] = {}
        if path is not None:
            result['page']['path'] = path
        if referer is not None:
            result['page']['referrer'] = referer
        if page is not None:
            result['page']['url'] = page
    return result
