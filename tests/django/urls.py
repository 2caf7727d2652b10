"""URLs of the Django tests."""

from django.urls import path

from tests.django import views

urlpatterns = [
    path('sync/<int:tag>/', views.emit_sync),
    path('async/<int:tag>/', views.emit_async),
    path('context/', views.context_view),
    path('async-context/', views.async_context_view),
    path('failing/', views.failing_view),
    path('async-failing/', views.async_failing_view),
    path('form/', views.form_view),
    path('health/', views.context_view),
]
