"""The organization API (API.md "Organization", PRODUCT O3–O6).

Thin: parse the input, resolve ids through querysets scoped to the viewer, check the role with
``orgs.access`` (what the viewer cannot see answers 404 or ``not_found``; what they can see but
not change, 403), call ``orgs.services``, render. Tokens act for the whole company (viewer None).
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from orgs import access
from orgs.api.permissions import CompanyApi, require, token_of
from orgs.api.serializers import (
    DepartmentOutputSerializer,
    IdField,
    MemberOutputSerializer,
    ScopedIdField,
    ScopedIdListField,
    TeamOutputSerializer,
)
from orgs.models import ReportFrequency, Role, TokenScope, TrackingFrequency
from orgs.selectors import (
    company_get,
    department_get,
    department_list,
    member_get,
    member_list,
    team_get,
    team_list,
)
from orgs.services import (
    company_update,
    department_create,
    department_delete,
    department_update,
    member_create,
    member_update,
    members_move,
    team_create,
    team_delete,
    team_update,
)


def _path_id(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=description)


class OrgApi(CompanyApi):
    """Organization endpoints: tokens need the ``org`` scope to change anything."""

    write_scope = TokenScope.ORG


# --- The company's settings (O7) ----------------------------------------------------------------------


class CompanySettingsApi(OrgApi):
    """The viewer's company and its settings (O1, O7). Everyone of the company reads them; a
    company admin (or a token with the ``org`` scope) changes them, through the same service and
    with the same messages as the settings page (``/organization/settings/``); each change goes
    into the history (K10)."""

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()
        time_zone = serializers.CharField()
        languages = serializers.ListField(child=serializers.CharField())
        default_language = serializers.CharField()
        primary_frequency = serializers.CharField()
        secondary_frequency = serializers.CharField()
        units_define_kpis = serializers.BooleanField()
        self_reporting = serializers.BooleanField()
        report_frequency = serializers.CharField()
        report_hour = serializers.IntegerField()

        class Meta:
            ref_name = "CompanySettings"

    class InputSerializer(serializers.Serializer):
        # Plain types: the service says what is wrong with a value (orgs.services.company_update).
        name = serializers.CharField(required=False, max_length=200)
        time_zone = serializers.CharField(
            required=False, help_text=_("An IANA time zone, e.g. Europe/Moscow.")
        )
        languages = serializers.ListField(child=serializers.CharField(), required=False)
        default_language = serializers.CharField(required=False)
        primary_frequency = serializers.ChoiceField(choices=TrackingFrequency.choices, required=False)
        secondary_frequency = serializers.ChoiceField(choices=TrackingFrequency.choices, required=False)
        units_define_kpis = serializers.BooleanField(required=False)
        self_reporting = serializers.BooleanField(
            required=False, help_text=_("People record and void actions for themselves too (O5).")
        )
        report_frequency = serializers.ChoiceField(choices=ReportFrequency.choices, required=False)
        report_hour = serializers.IntegerField(
            required=False, help_text=_("0–23, in the company's time zone.")
        )

        class Meta:
            ref_name = "CompanySettingsUpdate"

    @extend_schema(operation_id="company_settings_get", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(company_get()).data)

    @extend_schema(
        operation_id="company_settings_update", request=InputSerializer, responses=OutputSerializer
    )
    def patch(self, request: Request) -> Response:
        require(access.may_manage_company(self.viewer))
        actor = self.viewer if self.viewer is not None else token_of(request)
        company = company_update(
            company=company_get(), actor=actor, **self.validated(self.InputSerializer, request.data)
        )
        return Response(self.OutputSerializer(company).data)


# --- Departments ------------------------------------------------------------------------------------


class DepartmentListApi(OrgApi):
    """Departments the viewer may see (O4); creating one takes a company admin."""

    OutputSerializer = DepartmentOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField()
        managers = ScopedIdListField(queryset=access.visible_members, required=False)

        class Meta:
            ref_name = "DepartmentCreate"

    @extend_schema(operation_id="departments_list", responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated_response(department_list(viewer=self.viewer), self.OutputSerializer)

    @extend_schema(
        operation_id="departments_create", request=InputSerializer, responses={201: OutputSerializer}
    )
    def post(self, request: Request) -> Response:
        require(access.may_manage_company(self.viewer))
        department = department_create(**self.validated(self.InputSerializer, request.data))
        return Response(self.OutputSerializer(department).data, status=status.HTTP_201_CREATED)


class DepartmentDetailApi(OrgApi):
    """One department. Renaming takes its manager; managers and deletion, a company admin.

    Deleting keeps every person (O6): they move to ``?move_to=`` or become unassigned.
    """

    OutputSerializer = DepartmentOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False)
        managers = ScopedIdListField(queryset=access.visible_members, required=False)

        class Meta:
            ref_name = "DepartmentUpdate"

    class DeleteQuerySerializer(serializers.Serializer):
        move_to = ScopedIdField(
            queryset=access.visible_departments,
            required=False,
            help_text=_("A department to move the people to; without it they become unassigned."),
        )

        class Meta:
            ref_name = "DepartmentDeleteQuery"

    @extend_schema(
        operation_id="departments_retrieve",
        parameters=[_path_id("department_id", "A department id.")],
        responses=OutputSerializer,
    )
    def get(self, request: Request, department_id: int) -> Response:
        department = department_get(department_id=department_id, viewer=self.viewer)
        return Response(self.OutputSerializer(department).data)

    @extend_schema(
        operation_id="departments_partial_update",
        parameters=[_path_id("department_id", "A department id.")],
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def patch(self, request: Request, department_id: int) -> Response:
        department = department_get(department_id=department_id, viewer=self.viewer)
        require(access.may_manage_department(self.viewer, department))
        data = self.validated(self.InputSerializer, request.data)
        if "managers" in data:
            require(access.may_manage_company(self.viewer))
        department = department_update(department=department, **data)
        return Response(self.OutputSerializer(department).data)

    @extend_schema(
        operation_id="departments_destroy",
        parameters=[_path_id("department_id", "A department id."), DeleteQuerySerializer],
        responses={204: None},
    )
    def delete(self, request: Request, department_id: int) -> Response:
        department = department_get(department_id=department_id, viewer=self.viewer)
        require(access.may_manage_company(self.viewer))
        query = self.validated(self.DeleteQuerySerializer, request.query_params)
        department_delete(department=department, move_to=query.get("move_to"))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Teams ----------------------------------------------------------------------------------------------


class TeamListApi(OrgApi):
    """Teams the viewer may see (O4), ``?department=`` to narrow; creating one takes the
    department's manager, and appointing leads a company admin."""

    OutputSerializer = TeamOutputSerializer

    class FilterSerializer(serializers.Serializer):
        department = IdField(required=False, help_text=_("Only the teams of this department."))

        class Meta:
            ref_name = "TeamFilter"

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField()
        department = ScopedIdField(queryset=access.visible_departments)
        leads = ScopedIdListField(queryset=access.visible_members, required=False)

        class Meta:
            ref_name = "TeamCreate"

    @extend_schema(
        operation_id="teams_list", parameters=[FilterSerializer], responses=OutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        filters = self.validated(self.FilterSerializer, request.query_params)
        teams = team_list(viewer=self.viewer, department_id=filters.get("department"))
        return self.paginated_response(teams, self.OutputSerializer)

    @extend_schema(operation_id="teams_create", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        require(access.may_manage_department(self.viewer, data["department"]))
        if "leads" in data:
            require(access.may_manage_company(self.viewer))
        team = team_create(**data)
        return Response(self.OutputSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailApi(OrgApi):
    """One team, changed or deleted by its department's manager; leads by a company admin.

    Deleting keeps every person (O6): they move to ``?move_to=`` or stay in the department.
    """

    OutputSerializer = TeamOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False)
        department = ScopedIdField(queryset=access.visible_departments, required=False)
        leads = ScopedIdListField(queryset=access.visible_members, required=False)

        class Meta:
            ref_name = "TeamUpdate"

    class DeleteQuerySerializer(serializers.Serializer):
        move_to = ScopedIdField(
            queryset=access.visible_teams,
            required=False,
            help_text=_("A team to move the people to; without it they stay in the department, in no team."),
        )

        class Meta:
            ref_name = "TeamDeleteQuery"

    @extend_schema(
        operation_id="teams_retrieve",
        parameters=[_path_id("team_id", "A team id.")],
        responses=OutputSerializer,
    )
    def get(self, request: Request, team_id: int) -> Response:
        return Response(self.OutputSerializer(team_get(team_id=team_id, viewer=self.viewer)).data)

    @extend_schema(
        operation_id="teams_partial_update",
        parameters=[_path_id("team_id", "A team id.")],
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def patch(self, request: Request, team_id: int) -> Response:
        team = team_get(team_id=team_id, viewer=self.viewer)
        require(access.may_manage_team(self.viewer, team))
        data = self.validated(self.InputSerializer, request.data)
        if "department" in data:
            require(access.may_manage_department(self.viewer, data["department"]))
        if "leads" in data:
            require(access.may_manage_company(self.viewer))
        team = team_update(team=team, **data)
        return Response(self.OutputSerializer(team).data)

    @extend_schema(
        operation_id="teams_destroy",
        parameters=[_path_id("team_id", "A team id."), DeleteQuerySerializer],
        responses={204: None},
    )
    def delete(self, request: Request, team_id: int) -> Response:
        team = team_get(team_id=team_id, viewer=self.viewer)
        require(access.may_manage_team(self.viewer, team))
        move_to = self.validated(self.DeleteQuerySerializer, request.query_params).get("move_to")
        if move_to is not None:
            require(access.may_manage_team(self.viewer, move_to))
        team_delete(team=team, move_to=move_to)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- People ---------------------------------------------------------------------------------------------


def _require_may_place(viewer, *, department=None, team=None, unassigned: bool = False) -> None:
    """Putting a person in a unit takes the right to manage that unit; outside any, an admin."""
    if team is not None:
        require(access.may_manage_team(viewer, team))
    if department is not None:
        require(access.may_manage_department(viewer, department))
    if unassigned:
        require(access.may_manage_company(viewer))


class MemberListApi(OrgApi):
    """People the viewer may see (O4); adding one takes the manager of the unit they join, and
    any role but member, or no unit at all, a company admin."""

    OutputSerializer = MemberOutputSerializer

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        first_name = serializers.CharField(max_length=150, allow_blank=True, default="")
        last_name = serializers.CharField(max_length=150, allow_blank=True, default="")
        external_id = serializers.CharField(max_length=100, allow_blank=True, default="")
        language = serializers.CharField(max_length=8, allow_blank=True, default="")
        role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
        department = ScopedIdField(queryset=access.visible_departments, allow_null=True, default=None)
        team = ScopedIdField(queryset=access.visible_teams, allow_null=True, default=None)
        is_active = serializers.BooleanField(default=True)

        class Meta:
            ref_name = "MemberCreate"

    @extend_schema(operation_id="members_list", responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated_response(member_list(viewer=self.viewer), self.OutputSerializer)

    @extend_schema(operation_id="members_create", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        if data["role"] != Role.MEMBER:
            require(access.may_manage_company(self.viewer))
        _require_may_place(
            self.viewer,
            department=data["department"],
            team=data["team"],
            unassigned=data["department"] is None and data["team"] is None,
        )
        member = member_create(**data)
        return Response(self.OutputSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(OrgApi):
    """One person, changed by a manager of their department; role changes by a company admin."""

    OutputSerializer = MemberOutputSerializer

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254, required=False)
        first_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
        last_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
        external_id = serializers.CharField(max_length=100, allow_blank=True, required=False)
        language = serializers.CharField(max_length=8, allow_blank=True, required=False)
        role = serializers.ChoiceField(choices=Role.choices, required=False)
        department = ScopedIdField(queryset=access.visible_departments, allow_null=True, required=False)
        team = ScopedIdField(queryset=access.visible_teams, allow_null=True, required=False)
        is_active = serializers.BooleanField(required=False)

        class Meta:
            ref_name = "MemberUpdate"

    @extend_schema(
        operation_id="members_retrieve",
        parameters=[_path_id("member_id", "A person's user id.")],
        responses=OutputSerializer,
    )
    def get(self, request: Request, member_id: int) -> Response:
        return Response(self.OutputSerializer(member_get(member_id=member_id, viewer=self.viewer)).data)

    @extend_schema(
        operation_id="members_partial_update",
        parameters=[_path_id("member_id", "A person's user id.")],
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def patch(self, request: Request, member_id: int) -> Response:
        member = member_get(member_id=member_id, viewer=self.viewer)
        require(access.may_manage_member(self.viewer, member))
        data = self.validated(self.InputSerializer, request.data)
        if data.get("role", member.role) != member.role:
            require(access.may_manage_company(self.viewer))
        department, team = data.get("department"), data.get("team")
        _require_may_place(
            self.viewer,
            department=department,
            team=team,
            # Only an explicit "department": null takes a person out of every unit.
            unassigned="department" in data and department is None and team is None,
        )
        member = member_update(member=member, **data)
        return Response(self.OutputSerializer(member).data)


class MembersMoveApi(OrgApi):
    """Move one or many people to a team in one step (O5): the viewer manages them all and the team."""

    class InputSerializer(serializers.Serializer):
        members = ScopedIdListField(queryset=access.visible_members, allow_empty=False)
        team = ScopedIdField(queryset=access.visible_teams)

        class Meta:
            ref_name = "MembersMove"

    @extend_schema(
        operation_id="members_move",
        request=InputSerializer,
        responses=inline_serializer("MembersMoved", {"moved": serializers.IntegerField()}),
    )
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        require(access.may_manage_team(self.viewer, data["team"]))
        require(all(access.may_manage_member(self.viewer, member) for member in data["members"]))
        return Response({"moved": members_move(members=data["members"], team=data["team"])})
