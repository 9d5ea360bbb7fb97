from django.urls import path

from pages.views import company, home, kpis, metrics, ratings

_UNITS = {
    "company": ("dashboards/company/", {"kind": "company"}),
    "department": ("dashboards/departments/<int:org_unit_id>/", {"kind": "department"}),
    "team": ("dashboards/teams/<int:org_unit_id>/", {"kind": "team"}),
}

urlpatterns = [
    path("kpis/<int:kpi_id>/", kpis.kpi_page, name="kpi-page"),
    path("dashboards/", ratings.dashboard_index, name="dashboards"),
    path("leaderboard/", ratings.leaderboard_page, name="leaderboard"),
    path("leaderboard/export.<str:fmt>", ratings.leaderboard_export, name="leaderboard-export"),
    path("people/<int:member_id>/", ratings.profile, name="profile"),
    path("logger/", ratings.logger, name="logger"),
    path("logger/actions/<int:action_id>/undo/", ratings.logger_undo, name="logger-undo"),
]
for kind, (prefix, kwargs) in _UNITS.items():
    urlpatterns += [
        path(prefix, ratings.dashboard, kwargs, name=f"dashboard-{kind}"),
        path(f"{prefix}export.<str:fmt>", ratings.dashboard_export, kwargs, name=f"dashboard-{kind}-export"),
        path(f"{prefix}report/", ratings.dashboard_report, kwargs, name=f"dashboard-{kind}-report"),
    ]
urlpatterns += [path("organization/metrics/", metrics.key_metrics_page, name="key-metrics")]
for kind, prefix in (("department", "departments"), ("team", "teams")):
    unit = f"organization/metrics/{prefix}/<int:org_unit_id>/"
    urlpatterns += [
        path(unit, metrics.key_metrics_unit, {"kind": kind}, name=f"key-metrics-{kind}"),
        path(f"{unit}add/", metrics.key_metrics_add, {"kind": kind}, name=f"key-metrics-{kind}-add"),
        path(
            f"{unit}kpis/<int:kpi_id>/hide/",
            metrics.key_metrics_hide,
            {"kind": kind, "hide": True},
            name=f"key-metrics-{kind}-hide",
        ),
        path(
            f"{unit}kpis/<int:kpi_id>/unhide/",
            metrics.key_metrics_hide,
            {"kind": kind, "hide": False},
            name=f"key-metrics-{kind}-unhide",
        ),
        path(
            f"{unit}kpis/<int:kpi_id>/audience/",
            metrics.key_metrics_audience,
            {"kind": kind},
            name=f"key-metrics-{kind}-audience",
        ),
    ]
urlpatterns += [  # Home last, as before
    path("organization/", home.organization, name="organization"),
    path("organization/settings/", company.company_settings, name="organization-settings"),
    path("", home.home, name="home"),
]
