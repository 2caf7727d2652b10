"""Django views this library ships: events posted by browsers, and (internal-only) metrics."""

from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from eventtracking import metrics as exported
from eventtracking.django import browser

_handle_csrf_checked = csrf_protect(browser.handle)


@never_cache
@require_http_methods(['GET', 'POST'])
@csrf_exempt  # from CsrfViewMiddleware only: the view checks CSRF itself, once the body is known to be readable
def browser_event(request):
    """Take events posted by a web page (the platform's ``/event`` form, or a JSON batch) and emit those accepted.

    CSRF protection applies to every POST, with or without ``CsrfViewMiddleware``:
    it is checked after the body's size (an oversize body is refused unread, although the
    CSRF check reads a form's body to find the token) and after Django has parsed a form body.
    See :mod:`eventtracking.django.browser` for the shapes, the names accepted and the limits.
    """
    refused = browser.refuse_unreadable(request)
    if refused is not None:
        return refused
    return _handle_csrf_checked(request)


def metrics(request):  # pylint: disable=unused-argument
    """The library's Prometheus metrics (every process's, in multiprocess mode). Internal only: route it where
    only the scraper can reach it, never on a public URL. 404 unless ``EVENT_TRACKING_METRICS = 'prometheus'``."""
    if exported.enabled() != exported.PROMETHEUS:
        raise Http404('Prometheus metrics are not enabled (EVENT_TRACKING_METRICS)')
    body, content_type = exported.prometheus_exposition(request.headers.get('Accept'))
    return HttpResponse(body, content_type=content_type)
