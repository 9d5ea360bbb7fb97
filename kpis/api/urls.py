from django.urls import path

import orgs.api.urls  # noqa: F401 - registers the "object_id" path converter
from kpis.api import views

urlpatterns = [
    path("units/", views.UnitListApi.as_view(), name="unit-list"),
    path("units/<object_id:unit_id>/", views.UnitDetailApi.as_view(), name="unit-detail"),
    path("kpis/", views.KpiListApi.as_view(), name="kpi-list"),
    path("kpis/<object_id:kpi_id>/", views.KpiDetailApi.as_view(), name="kpi-detail"),
    path("kpis/<object_id:kpi_id>/hide/", views.KpiHideApi.as_view(), name="kpi-hide"),
    path("kpis/<object_id:kpi_id>/unhide/", views.KpiUnhideApi.as_view(), name="kpi-unhide"),
    path("kpis/<object_id:kpi_id>/history/", views.KpiHistoryApi.as_view(), name="kpi-history"),
    path("targets/", views.TargetListApi.as_view(), name="target-list"),
    path("targets/<object_id:target_id>/", views.TargetDetailApi.as_view(), name="target-detail"),
    path(
        "targets/<object_id:target_id>/breakdown/",
        views.TargetBreakdownApi.as_view(),
        name="target-breakdown",
    ),
]
