from django.urls import path

import orgs.api.urls  # noqa: F401 - registers the "object_id" path converter
from ratings.api import views

urlpatterns = [
    path("actions/", views.ActionListApi.as_view(), name="action-list"),
    path("actions/<object_id:action_id>/void/", views.ActionVoidApi.as_view(), name="action-void"),
    path("ratings/", views.RatingApi.as_view(), name="rating-list"),
    path("kpis/<object_id:kpi_id>/figures/", views.KpiFiguresApi.as_view(), name="kpi-figures"),
    path("kpis/<object_id:kpi_id>/recalculate/", views.KpiRecalculateApi.as_view(), name="kpi-recalculate"),
    path(
        "recalculations/<object_id:recalculation_id>/",
        views.RecalculationDetailApi.as_view(),
        name="recalculation-detail",
    ),
]
