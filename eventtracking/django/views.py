"""Django views this library ships: events posted by browsers, and (internal-only) metrics."""


def metrics(request):  # pylint: disable=unused-argument
    """The library's Prometheus metrics (every process's, in multiprocess mode). Internal only: route it where
    only the scraper can reach it, never on a public URL. 404 unless ``EVENT_TRACKING_METRICS = 'prometheus'``."""
    # pylint: disable=import-outside-toplevel
    from django.http import Http404, HttpResponse

    from eventtracking import metrics as exported

    if exported.enabled() != exported.PROMETHEUS:
        raise Http404('Prometheus metrics are not enabled (EVENT_TRACKING_METRICS)')
    body, content_type = exported.prometheus_exposition(request.headers.get('Accept'))
    return HttpResponse(body, content_type=content_type)
