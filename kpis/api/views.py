"""The KPI definitions API (API.md "Units" and "KPIs", PRODUCT K1–K10).

Thin: parse the input, resolve ids through querysets scoped to the viewer, check the role with
``kpis.access`` (what the viewer cannot see answers 404 or ``not_found``; what they can see but not
change, 403), call ``kpis.services``, render. Tokens act for the whole company (viewer None) and
need the ``definitions`` scope to write; the history names them as the actor.
"""

from functools import cached_property

from django.db.models import QuerySet
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kpis import access, services
from kpis.api.serializers import (
    ChangeOutputSerializer,
    DecimalInputField,
    KpiInputSerializer,
    KpiOutputSerializer,
    LocalizedInputField,
    TargetOutputSerializer,
    UnitOutputSerializer,
    kpi_service_arguments,
)
from kpis.history import Actor
from kpis.models import (
    BreakdownMethod,
    BreakdownPeriod,
    Kpi,
    KpiKind,
    KpiStatus,
    Level,
    Target,
    TargetPeriod,
    TargetScope,
)
from kpis.selectors import kpi_get, target_get, unit_get, unit_list
from orgs import access as org_access
from orgs.api.permissions import CompanyApi, require, token_of
from orgs.api.serializers import IdField, ScopedIdField
from orgs.models import Company, TokenScope
from orgs.selectors import company_get


def _path_id(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=description)


_UNIT_ID = _path_id("unit_id", "A unit id.")
_KPI_ID = _path_id("kpi_id", "A KPI id.")
_TARGET_ID = _path_id("target_id", "A target id.")


class DefinitionsApi(CompanyApi):
    """KPI definition endpoints: tokens need the ``definitions`` scope to change anything."""

    write_scope = TokenScope.DEFINITIONS

    @property
    def actor(self) -> Actor:
        """Who the history (K10) names: the person, or the token."""
        viewer = self.viewer
        return viewer if viewer is not None else token_of(self.request)

    @cached_property
    def company(self) -> Company:
        return company_get()

    def output_context(self) -> dict:
        # Localized fields show the company's enabled languages (kpis.api.serializers); read only
        # by the shapes that have some, so a list of targets costs no query for it.
        return {"request": self.request, "company": SimpleLazyObject(lambda: self.company)}

    def output(self, serializer_class, obj) -> dict:
        return serializer_class(obj, context=self.output_context()).data

    def paginated_response(self, queryset: QuerySet, serializer_class) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(
            serializer_class(page, many=True, context=self.output_context()).data
        )


# --- Units (K3) ---------------------------------------------------------------------------------------


class UnitListApi(DefinitionsApi):
    """Every unit of the company, for everyone in it; creating one takes a company admin."""

    OutputSerializer = UnitOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = LocalizedInputField(help_text=_("1 to 18 characters per language (K3)."))
        decimals = serializers.JSONField(
            required=False, help_text=_("Decimals its figures and targets show: 0, 1 or 2 (default 2).")
        )

        class Meta:
            ref_name = "UnitCreate"

    @extend_schema(operation_id="units_list", responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated_response(unit_list(), self.OutputSerializer)

    @extend_schema(operation_id="units_create", request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        require(org_access.may_manage_company(self.viewer))
        data = self.validated(self.InputSerializer, request.data)
        unit = services.unit_create(name=data["name"], decimals=data.get("decimals"), actor=self.actor)
        return Response(self.output(self.OutputSerializer, unit), status=status.HTTP_201_CREATED)


class UnitDetailApi(DefinitionsApi):
    """One unit, changed or deleted by a company admin. The default "points" stays as it is
    (``default_unit``); a unit a KPI uses cannot be deleted (``unit_in_use``)."""

    OutputSerializer = UnitOutputSerializer

    class InputSerializer(serializers.Serializer):
        name = LocalizedInputField(
            required=False, help_text=_("The languages given change; the others stay.")
        )
        decimals = serializers.JSONField(required=False, help_text=_("0, 1 or 2."))

        class Meta:
            ref_name = "UnitUpdate"

    @extend_schema(operation_id="units_retrieve", parameters=[_UNIT_ID], responses=OutputSerializer)
    def get(self, request: Request, unit_id: int) -> Response:
        return Response(self.output(self.OutputSerializer, unit_get(unit_id=unit_id)))

    @extend_schema(
        operation_id="units_partial_update",
        parameters=[_UNIT_ID],
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def patch(self, request: Request, unit_id: int) -> Response:
        unit = unit_get(unit_id=unit_id)
        require(org_access.may_manage_company(self.viewer))
        data = self.validated(self.InputSerializer, request.data)
        unit = services.unit_update(unit=unit, actor=self.actor, **data)
        return Response(self.output(self.OutputSerializer, unit))

    @extend_schema(operation_id="units_destroy", parameters=[_UNIT_ID], responses={204: None})
    def delete(self, request: Request, unit_id: int) -> Response:
        unit = unit_get(unit_id=unit_id)
        require(org_access.may_manage_company(self.viewer))
        services.unit_delete(unit=unit, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- KPIs (K1, K2, K4–K9) --------------------------------------------------------------------------------


class KpiApi(DefinitionsApi):
    OutputSerializer = KpiOutputSerializer

    def visible_kpi(self, kpi_id: int) -> Kpi:
        """A KPI the viewer may see (archived ones included); any other id is a 404."""
        return access.visible_kpis(self.viewer, include_archived=True).get(id=kpi_id)

    def kpi_output(self, kpi: Kpi) -> dict:
        # Read again: a service may have changed the audience the KPI's prefetch holds.
        return self.output(self.OutputSerializer, kpi_get(kpi_id=kpi.id))


class KpiListApi(KpiApi):
    """The KPIs the viewer may see (K5, K6, K8, O4): everything for a company admin or a token;
    for a member, the Active KPIs that reach them. Creating one takes a company admin, or a
    manager or team lead for their own unit when the company lets units define KPIs."""

    class FilterSerializer(serializers.Serializer):
        level = serializers.ChoiceField(Level.choices, required=False)
        kind = serializers.ChoiceField(KpiKind.choices, required=False)
        status = serializers.ChoiceField(KpiStatus.choices, required=False)
        department = IdField(
            required=False, help_text=_("KPIs of this department, its teams' included (not inherited ones).")
        )
        team = IdField(required=False, help_text=_("KPIs of this team (not inherited ones)."))
        archived = serializers.BooleanField(
            required=False, default=False, help_text=_("true: only archived KPIs; otherwise only live ones.")
        )

        class Meta:
            ref_name = "KpiFilter"

    class InputSerializer(KpiInputSerializer):
        class Meta:
            ref_name = "KpiCreate"

    @extend_schema(
        operation_id="kpis_list", parameters=[FilterSerializer], responses=KpiOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        filters = self.validated(self.FilterSerializer, request.query_params)
        kpis = access.visible_kpis(self.viewer, filters=filters)
        return self.paginated_response(kpis, self.OutputSerializer)

    @extend_schema(
        operation_id="kpis_create",
        description=_(
            'Defaults: the "points" unit, primary, hidden, not in the rating, 1 unit = 1 point, '
            "company level, higher is better, everyone at its level."
        ),
        request=InputSerializer,
        responses={201: KpiOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        require(
            access.may_define_kpi(
                self.viewer,
                level=data.get("level", Level.COMPANY),
                department=data.get("department"),
                team=data.get("team"),
            )
        )
        kpi = services.kpi_create(actor=self.actor, **kpi_service_arguments(data))
        return Response(self.kpi_output(kpi), status=status.HTTP_201_CREATED)


class KpiDetailApi(KpiApi):
    """One KPI. Changing or archiving it takes the right to define KPIs at its level (K6), and at
    the new level when that changes."""

    class InputSerializer(KpiInputSerializer):
        class Meta:
            ref_name = "KpiUpdate"

    @extend_schema(operation_id="kpis_retrieve", parameters=[_KPI_ID], responses=KpiOutputSerializer)
    def get(self, request: Request, kpi_id: int) -> Response:
        return Response(self.output(self.OutputSerializer, self.visible_kpi(kpi_id)))

    @extend_schema(
        operation_id="kpis_partial_update",
        description=_(
            "Localized fields merge: the languages given change, the others stay. "
            "An audience given replaces the whole assignment."
        ),
        parameters=[_KPI_ID],
        request=InputSerializer,
        responses=KpiOutputSerializer,
    )
    def patch(self, request: Request, kpi_id: int) -> Response:
        kpi = self.visible_kpi(kpi_id)
        require(access.may_change_kpi(self.viewer, kpi))
        data = self.validated(self.InputSerializer, request.data)
        if {"level", "department", "team"} & data.keys():
            require(
                access.may_define_kpi(
                    self.viewer,
                    level=data.get("level", kpi.level),
                    department=data.get("department", kpi.department),
                    team=data.get("team", kpi.team),
                )
            )
        services.kpi_update(kpi=kpi, actor=self.actor, **kpi_service_arguments(data))
        return Response(self.kpi_output(kpi))

    @extend_schema(
        operation_id="kpis_destroy",
        description=_(
            "Archives the KPI rather than deleting it: it becomes hidden, leaves the lists "
            "(``?archived=true`` shows it) and keeps its history, targets and actions."
        ),
        parameters=[_KPI_ID],
        responses={204: None},
    )
    def delete(self, request: Request, kpi_id: int) -> Response:
        kpi = self.visible_kpi(kpi_id)
        require(access.may_change_kpi(self.viewer, kpi))
        services.kpi_archive(kpi=kpi, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _HideInputSerializer(serializers.Serializer):
    department = ScopedIdField(queryset=org_access.visible_departments, required=False, allow_null=True)
    team = ScopedIdField(queryset=org_access.visible_teams, required=False, allow_null=True)

    class Meta:
        ref_name = "KpiHideFor"


class _KpiHideBase(KpiApi):
    """K6: a department or a team hides a KPI it inherits (for itself and below), or shows it again.
    Give exactly one of ``department`` and ``team`` (``required`` otherwise)."""

    InputSerializer = _HideInputSerializer

    def change(self, request: Request, kpi_id: int, service) -> Response:
        kpi = self.visible_kpi(kpi_id)
        data = self.validated(self.InputSerializer, request.data)
        department, team = data.get("department"), data.get("team")
        if department is not None or team is not None:  # neither: the service answers `required`
            require(access.may_hide_for(self.viewer, department=department, team=team))
        service(kpi=kpi, department=department, team=team, actor=self.actor)
        return Response(self.kpi_output(kpi))


class KpiHideApi(_KpiHideBase):
    @extend_schema(
        operation_id="kpis_hide",
        parameters=[_KPI_ID],
        request=_HideInputSerializer,
        responses=KpiOutputSerializer,
    )
    def post(self, request: Request, kpi_id: int) -> Response:
        return self.change(request, kpi_id, services.kpi_hide)


class KpiUnhideApi(_KpiHideBase):
    @extend_schema(
        operation_id="kpis_unhide",
        parameters=[_KPI_ID],
        request=_HideInputSerializer,
        responses=KpiOutputSerializer,
    )
    def post(self, request: Request, kpi_id: int) -> Response:
        return self.change(request, kpi_id, services.kpi_unhide)


class KpiHistoryApi(KpiApi):
    """K10: every change of the KPI, its audience, hides and targets, newest first. Whoever sees
    the KPI sees its history, a target's entries only if they see the target's holder (O4)."""

    @extend_schema(
        operation_id="kpis_history", parameters=[_KPI_ID], responses=ChangeOutputSerializer(many=True)
    )
    def get(self, request: Request, kpi_id: int) -> Response:
        kpi = self.visible_kpi(kpi_id)
        return self.paginated_response(access.visible_changes(self.viewer, kpi=kpi), ChangeOutputSerializer)


# --- Targets (K9) -------------------------------------------------------------------------------------


def _live_kpis(viewer):
    return access.visible_kpis(viewer)


class TargetApi(DefinitionsApi):
    OutputSerializer = TargetOutputSerializer

    def visible_target(self, target_id: int) -> Target:
        return access.visible_targets(self.viewer).get(id=target_id)

    def require_may_set(self, target: Target) -> None:
        require(
            access.may_set_target(
                self.viewer,
                kpi=target.kpi,
                scope=target.scope,
                department=target.department,
                team=target.team,
                member=target.member,
            )
        )

    def target_output(self, target: Target) -> dict:
        # Read again: a breakdown rewrites the parts the target's prefetch holds.
        return self.output(self.OutputSerializer, target_get(target_id=target.id))


class TargetListApi(TargetApi):
    """Targets of the KPIs the viewer may see, for the holders they see (O4). Setting one takes a
    company admin, or a manager or team lead for their own units and people when the company lets
    units define KPIs."""

    class FilterSerializer(serializers.Serializer):
        kpi = IdField(required=False)
        scope = serializers.ChoiceField(TargetScope.choices, required=False)
        period = serializers.ChoiceField(TargetPeriod.choices, required=False)
        start = serializers.DateField(required=False)

        class Meta:
            ref_name = "TargetFilter"

    class InputSerializer(serializers.Serializer):
        kpi = ScopedIdField(queryset=_live_kpis, help_text=_("A KPI the caller sees, not archived."))
        period = serializers.ChoiceField(TargetPeriod.choices)
        start = serializers.DateField(help_text=_("The first day of the month, quarter or year."))
        scope = serializers.ChoiceField(TargetScope.choices, default=TargetScope.COMPANY)
        department = ScopedIdField(queryset=org_access.visible_departments, allow_null=True, default=None)
        team = ScopedIdField(queryset=org_access.visible_teams, allow_null=True, default=None)
        user = ScopedIdField(
            queryset=org_access.visible_members, allow_null=True, default=None, help_text=_("A user id.")
        )
        value = DecimalInputField(help_text=_("A number ≥ 0 with at most two decimals."))

        class Meta:
            ref_name = "TargetCreate"

    @extend_schema(
        operation_id="targets_list",
        parameters=[FilterSerializer],
        responses=TargetOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = self.validated(self.FilterSerializer, request.query_params)
        targets = access.visible_targets(self.viewer, filters=filters)
        return self.paginated_response(targets, self.OutputSerializer)

    @extend_schema(
        operation_id="targets_create", request=InputSerializer, responses={201: TargetOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        data["member"] = data.pop("user")
        require(
            access.may_set_target(
                self.viewer,
                kpi=data["kpi"],
                scope=data["scope"],
                department=data["department"],
                team=data["team"],
                member=data["member"],
            )
        )
        target = services.target_create(actor=self.actor, **data)
        return Response(self.target_output(target), status=status.HTTP_201_CREATED)


class TargetDetailApi(TargetApi):
    """One target; changing it takes the right to set it (``may_set_target``)."""

    class InputSerializer(serializers.Serializer):
        value = DecimalInputField(help_text=_("A number ≥ 0 with at most two decimals."))

        class Meta:
            ref_name = "TargetUpdate"

    @extend_schema(operation_id="targets_retrieve", parameters=[_TARGET_ID], responses=TargetOutputSerializer)
    def get(self, request: Request, target_id: int) -> Response:
        return Response(self.output(self.OutputSerializer, self.visible_target(target_id)))

    @extend_schema(
        operation_id="targets_partial_update",
        description=_(
            "An even or by-days breakdown follows the new value; one made by hand must be given "
            "again with it (POST …/breakdown/ with ``value``), or the answer is ``breakdown_mismatch``."
        ),
        parameters=[_TARGET_ID],
        request=InputSerializer,
        responses=TargetOutputSerializer,
    )
    def patch(self, request: Request, target_id: int) -> Response:
        target = self.visible_target(target_id)
        self.require_may_set(target)
        data = self.validated(self.InputSerializer, request.data)
        target = services.target_update(target=target, value=data["value"], actor=self.actor)
        return Response(self.target_output(target))

    @extend_schema(operation_id="targets_destroy", parameters=[_TARGET_ID], responses={204: None})
    def delete(self, request: Request, target_id: int) -> Response:
        target = self.visible_target(target_id)
        self.require_may_set(target)
        services.target_delete(target=target, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TargetBreakdownApi(TargetApi):
    """K9: break a target down into shorter periods, evenly, by number of days or by hand."""

    class InputSerializer(serializers.Serializer):
        into = serializers.ChoiceField(
            BreakdownPeriod.choices, help_text=_("Shorter than the target's period.")
        )
        method = serializers.ChoiceField(BreakdownMethod.choices)
        values = serializers.ListField(
            child=DecimalInputField(),
            required=False,
            help_text=_("manual: one value per part, in order, adding up to the target."),
        )
        value = DecimalInputField(required=False, help_text=_("A new value of the whole target."))

        class Meta:
            ref_name = "TargetBreakdownInput"

    @extend_schema(
        operation_id="targets_breakdown_create",
        parameters=[_TARGET_ID],
        request=InputSerializer,
        responses=TargetOutputSerializer,
    )
    def post(self, request: Request, target_id: int) -> Response:
        target = self.visible_target(target_id)
        self.require_may_set(target)
        data = self.validated(self.InputSerializer, request.data)
        target = services.target_break_down(
            target=target,
            into=data["into"],
            method=data["method"],
            values=data.get("values"),
            new_value=data.get("value"),
            actor=self.actor,
        )
        return Response(self.target_output(target))

    @extend_schema(
        operation_id="targets_breakdown_destroy",
        description=_("Removes the breakdown and answers with the target (its ``breakdown`` null)."),
        parameters=[_TARGET_ID],
        request=None,
        responses={200: TargetOutputSerializer},  # not the 204 a DELETE is documented with by default
    )
    def delete(self, request: Request, target_id: int) -> Response:
        target = self.visible_target(target_id)
        self.require_may_set(target)
        target = services.target_clear_breakdown(target=target, actor=self.actor)
        return Response(self.target_output(target))
