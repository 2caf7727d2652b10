from django.contrib import admin
from django.urls import path

from mysite import views

urlpatterns = [
    path('admin/', admin.site.urls),
    path('enroll/<str:course_id>/', views.enroll),
]
