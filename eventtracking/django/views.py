"""Django views this library ships: events posted by browsers, and (internal-only) metrics."""

from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from eventtracking.django import browser


@never_cache
@require_http_methods(['GET', 'POST'])
@csrf_protect
def browser_event(request):
    """Take events posted by a web page (the platform's ``/event`` form, or a JSON batch) and emit those accepted.

    CSRF protection applies to every POST, with or without ``CsrfViewMiddleware``.
    See :mod:`eventtracking.django.browser` for the shapes, the names accepted and the limits.
    """
    return browser.handle(request)
