"""Views for the Django tests: each emits events tagged with what identifies its request."""

import asyncio
import random
import time

from django.http import HttpResponse, JsonResponse

from eventtracking import tracker


def emit_sync(request, tag):
    """Emit three events, sleeping a little in between so concurrent requests interleave."""
    for step in range(3):
        tracker.emit('test.sync', {'tag': tag, 'step': step})
        time.sleep(random.uniform(0, 0.003))
    return HttpResponse(f'sync {tag}')


async def emit_async(request, tag):
    """Emit three events, yielding to the event loop in between so concurrent requests interleave."""
    for step in range(3):
        tracker.emit('test.async', {'tag': tag, 'step': step})
        await asyncio.sleep(random.uniform(0, 0.003))
    return HttpResponse(f'async {tag}')


def context_view(request):
    """Return the context an event emitted here would carry."""
    tracker.emit('test.context', {})
    return JsonResponse(tracker.get_tracker().resolve_context())


async def async_context_view(request):
    """Async twin of :func:`context_view`."""
    tracker.emit('test.context', {})
    return JsonResponse(tracker.get_tracker().resolve_context())


def failing_view(request):
    """Emit, then raise."""
    tracker.emit('test.failing', {})
    raise RuntimeError('the view failed')


async def async_failing_view(request):
    """Emit, then raise, from async code."""
    tracker.emit('test.failing', {})
    raise RuntimeError('the async view failed')


def form_view(request):
    """Accept a form post; the body stays readable after the middleware read it."""
    return HttpResponse(request.POST.get('name', ''))
