"""A processor that rewrites events into the legacy Open edX tracking-log format.

Legacy analysis applications read request details at the top level of an
event, the payload under ``event`` and the time under ``time``. This
processor turns an event as the tracker builds it (with the request context
:class:`~eventtracking.django.middleware.TrackMiddleware` enters)::

    {'name': 'edx.course.enrollment.activated', 'timestamp': <datetime>,
     'data': {'course_id': ..., 'mode': 'audit'},
     'context': {'username': 'alice', 'session': '…', 'ip': '…', 'agent': '…', 'host': '…',
                 'referer': '…', 'accept_language': '…', 'client_id': …, 'user_id': 5,
                 'path': '…', 'course_id': …, 'org_id': …}}

into::

    {'name': 'edx.course.enrollment.activated',
     'context': {'user_id': 5, 'path': '…', 'course_id': …, 'org_id': …},
     'username': 'alice', 'session': '…', 'ip': '…', 'agent': '…', 'host': '…',
     'referer': '…', 'accept_language': '…',
     'event': {'course_id': ..., 'mode': 'audit'}, 'time': <datetime>,
     'event_type': 'edx.course.enrollment.activated', 'event_source': 'server', 'page': None}

Rules:

* ``username``, ``session``, ``ip``, ``agent``, ``host``, ``referer`` and
  ``accept_language`` move from the context to the top level (``''`` when the
  context lacks one); ``client_id`` (for web analytics only) leaves the context.
  An event without a ``context`` key gets none of these fields.
* ``data`` becomes ``event`` (``{}`` when absent); for a browser-sourced event
  (``context['event_source'] == 'browser'``) a dict payload becomes its JSON text.
* ``time`` is the context's ``timestamp`` if it has one (the client's clock
  for browser events), else the event's ``timestamp``.
* ``event_type`` (default: the event's ``name``), ``event_source`` (default
  ``'server'``) and ``page`` (default None) move from the context to the top level.

Register it last in the processor chain of the branch that writes the legacy
tracking log::

    'processors': [{'ENGINE': 'eventtracking.processors.legacy.LegacyFieldMappingProcessor'}]
"""

from eventtracking.encoding import standard_encode

CONTEXT_FIELDS_TO_INCLUDE = ('username', 'session', 'ip', 'agent', 'host', 'referer', 'accept_language')
CONTEXT_FIELDS_TO_REMOVE = CONTEXT_FIELDS_TO_INCLUDE + ('client_id',)
REPLACED_FIELDS = ('data', 'timestamp')
BROWSER_SOURCE = 'browser'
DEFAULT_EVENT_SOURCE = 'server'


class LegacyFieldMappingProcessor:
    """Return a legacy-format copy of each event (see the module documentation); the input is never changed.

    The returned event shares the payload and other nested values with the
    input; routing backends copy it before any component that may change it.
    """

    mutates_events = False

    def __call__(self, event):
        has_context = 'context' in event
        context = dict(event['context']) if has_context and isinstance(event['context'], dict) else {}

        legacy = {key: value for key, value in event.items() if key not in REPLACED_FIELDS}
        if has_context:
            for field in CONTEXT_FIELDS_TO_INCLUDE:
                legacy[field] = context.pop(field, '')
            for field in CONTEXT_FIELDS_TO_REMOVE:
                context.pop(field, None)

        legacy['event'] = self.legacy_payload(event, context)

        if 'timestamp' in context:
            legacy['time'] = context.pop('timestamp')
        elif 'timestamp' in event:
            legacy['time'] = event['timestamp']

        legacy['event_type'] = context.pop('event_type', event.get('name', ''))
        legacy['event_source'] = context.pop('event_source', DEFAULT_EVENT_SOURCE)
        legacy['page'] = context.pop('page', None)

        if has_context and isinstance(event['context'], dict):
            legacy['context'] = context
        return legacy

    @staticmethod
    def legacy_payload(event, context):
        """The ``event`` field: the ``data`` payload, as JSON text for a browser-sourced dict payload."""
        if 'data' not in event:
            return {}
        data = event['data']
        if context.get('event_source') == BROWSER_SOURCE and isinstance(data, dict):
            return standard_encode(data)
        return data
