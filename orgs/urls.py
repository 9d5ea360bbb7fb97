from django.urls import path

from orgs import views

urlpatterns = [
    path("organization/", views.organization, name="organization"),
    path("", views.home, name="home"),
]
