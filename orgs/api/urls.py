from django.urls import path, register_converter

from kpi_platform.ids import parse_id
from orgs.api import views


class ObjectIdConverter:
    """Any path segment is an id; one that is not a number is an id that does not exist.

    With ``<int:…>`` ``/departments/abc/`` would miss the URL and answer Django's HTML 404; this
    way it reaches the view and answers the API's JSON 404, like every other unknown id.
    """

    regex = "[^/]+"
    NOT_AN_ID = 0  # ids start at 1

    def to_python(self, value: str) -> int:
        return parse_id(value) or self.NOT_AN_ID

    def to_url(self, value) -> str:
        return str(value)


register_converter(ObjectIdConverter, "object_id")

urlpatterns = [
    path("company/", views.CompanySettingsApi.as_view(), name="company-settings"),
    path("departments/", views.DepartmentListApi.as_view(), name="department-list"),
    path(
        "departments/<object_id:department_id>/",
        views.DepartmentDetailApi.as_view(),
        name="department-detail",
    ),
    path("teams/", views.TeamListApi.as_view(), name="team-list"),
    path("teams/<object_id:team_id>/", views.TeamDetailApi.as_view(), name="team-detail"),
    path("members/", views.MemberListApi.as_view(), name="member-list"),
    path("members/move/", views.MembersMoveApi.as_view(), name="member-move"),
    path("members/<object_id:member_id>/", views.MemberDetailApi.as_view(), name="member-detail"),
]
