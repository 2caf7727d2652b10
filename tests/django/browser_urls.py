"""URLs of the browser event tests: the library's ``event`` view, the client's static file and the test pages."""

from django.urls import include, path, re_path
from django.views.static import serve

from tests.django import browser_pages

urlpatterns = [
    path('', include('eventtracking.django.urls')),
    re_path(r'^static/(?P<path>.*)$', serve, {'document_root': browser_pages.STATIC_ROOT}),
    path('page/<str:name>/', browser_pages.page),
]
