from django.urls import path

import orgs.api.urls  # noqa: F401 - registers the "object_id" path converter
from integrations.api import views

urlpatterns = [
    path("imports/", views.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<object_id:job_id>/", views.ImportDetailApi.as_view(), name="import-detail"),
    path(
        "imports/<object_id:job_id>/errors.<str:fmt>",
        views.ImportErrorReportApi.as_view(),
        name="import-error-report",
    ),
    path("integrations/", views.SourceListApi.as_view(), name="integration-list"),
    path("integrations/<object_id:source_id>/", views.SourceDetailApi.as_view(), name="integration-detail"),
    path("integrations/<object_id:source_id>/run/", views.SourceRunApi.as_view(), name="integration-run"),
]
