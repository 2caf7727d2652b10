"""The URL of browser events, for a site's URLconf: ``path('', include('eventtracking.django.urls'))``.

It serves ``event`` (so ``/event`` when included at the root, the URL
edx-platform's clients post to), named ``eventtracking:event``, with the
view :func:`eventtracking.django.views.browser_event`.
"""

from django.urls import path

from eventtracking.django import views

app_name = 'eventtracking'

urlpatterns = [
    path('event', views.browser_event, name='event'),
]
