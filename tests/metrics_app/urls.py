"""/emit/<kind>/ emits one event (kept, other or big), /publish/ reports a batch, /metrics is the library's view."""

import os
import time

from django.http import JsonResponse
from django.urls import path

from eventtracking import metrics, tracker
from eventtracking.django.views import metrics as metrics_view

PAYLOADS = {'kept': ('kept', {'n': 1}), 'other': ('other', {'n': 1}), 'big': ('kept', {'big': 'x' * 2000})}


def emit(request, kind):  # pylint: disable=unused-argument
    name, data = PAYLOADS[kind]
    tracker.emit(name, data)
    time.sleep(0.01)  # holds the worker a moment, so that concurrent requests reach the others
    return JsonResponse({'pid': os.getpid()})


def publish(request):  # pylint: disable=unused-argument
    metrics.published('analytics', 5, 0.2)
    return JsonResponse({'pid': os.getpid()})


urlpatterns = [
    path('emit/<str:kind>/', emit),
    path('publish/', publish),
    path('metrics', metrics_view),
]
