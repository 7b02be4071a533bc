from django.urls import path

from limits import views

urlpatterns = [path("", views.usage, name="usage")]
