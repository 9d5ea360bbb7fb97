from django.urls import path

from ratings import views

_UNITS = {
    "company": ("dashboards/company/", {"kind": "company"}),
    "department": ("dashboards/departments/<int:unit_id>/", {"kind": "department"}),
    "team": ("dashboards/teams/<int:unit_id>/", {"kind": "team"}),
}

urlpatterns = [
    path("dashboards/", views.dashboard_index, name="dashboards"),
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("leaderboard/export.<str:fmt>", views.leaderboard_export, name="leaderboard-export"),
    path("people/<int:member_id>/", views.profile, name="profile"),
    path("logger/", views.logger, name="logger"),
]
for kind, (prefix, kwargs) in _UNITS.items():
    urlpatterns += [
        path(prefix, views.dashboard, kwargs, name=f"dashboard-{kind}"),
        path(f"{prefix}export.<str:fmt>", views.dashboard_export, kwargs, name=f"dashboard-{kind}-export"),
        path(f"{prefix}report/", views.dashboard_report, kwargs, name=f"dashboard-{kind}-report"),
    ]
