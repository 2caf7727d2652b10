"""Template tags of eventtracking: ``{% load eventtracking %}{% eventtracking_script %}`` loads the browser client.

The tag renders one ``<script>`` element for the static file
``eventtracking/eventtracking.js``, with the URL of the ``eventtracking:event``
view and the request's CSRF token (which also makes Django set the CSRF
cookie) in ``data-`` attributes. Optional arguments set the client's batching:
``{% eventtracking_script batch_size=10 interval=1000 max_queue=500 %}``
(events per request, milliseconds before a batch that is not full is sent,
events kept while the server cannot be reached). ``batch_size`` is never
rendered above ``EVENT_TRACKING_BROWSER_MAX_EVENTS``, which the view would refuse.
"""

from django import template
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from eventtracking.django.browser import Limits

register = template.Library()

SCRIPT = 'eventtracking/eventtracking.js'
"""The client's path among the static files."""

DEFAULT_BATCH_SIZE = 10
"""Events per request unless ``batch_size`` says otherwise (never more than ``EVENT_TRACKING_BROWSER_MAX_EVENTS``)."""

OPTIONS = {'batch_size': 'data-batch-size', 'interval': 'data-interval', 'max_queue': 'data-max-queue'}
"""The tag's optional arguments, each a positive integer, and the attribute the client reads it from."""


@register.simple_tag(takes_context=True)
def eventtracking_script(context, **options):
    """The ``<script>`` element that loads the browser client (see the module documentation)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise template.TemplateSyntaxError(
            f'eventtracking_script takes {", ".join(OPTIONS)}; not {", ".join(unknown)}')
    for name, value in options.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise template.TemplateSyntaxError(f'eventtracking_script: {name} must be a positive integer')
    options['batch_size'] = min(options.get('batch_size', DEFAULT_BATCH_SIZE), Limits.from_settings().max_events)
    attributes = [('data-url', reverse('eventtracking:event')), ('data-csrf', _csrf_token(context))]
    attributes += [(OPTIONS[name], options[name]) for name in OPTIONS if name in options]
    return format_html('<script src="{}"{}></script>', static(SCRIPT),
                       format_html_join('', ' {}="{}"', attributes))


def _csrf_token(context):
    request = context.get('request')
    if request is not None:
        return get_token(request)
    token = context.get('csrf_token')
    return '' if token is None or str(token) == 'NOTPROVIDED' else str(token)
