"""The actions and ratings API (API.md "Actions" and "Ratings", PRODUCT R1–R7, O4).

Who may do what (O4). A token acts for its whole company: ``actions`` scope to record and void,
``read`` to list and to read ratings, ``definitions`` to recalculate. A session user:

* records and voids actions for the people they manage: a company admin for anyone, a department
  manager for the people of their departments, a team lead for the people of their teams, never
  themselves unless the company allows self-reporting (then everyone their own too); anyone else
  is refused (403). A person outside their reach is ``unknown_user``, exactly as someone who does
  not exist, so nobody learns who else is in the company (the rule is the service's,
  ``orgs.access.members_recorded_by``);
* lists the actions of the people they see (``orgs.access.visible_members``: a member their own);
* reads the company's leaderboard and those of the departments and teams they see
  (``visible_departments`` / ``visible_teams``); another unit's id is ``not_found`` on ``scope``;
* starts and follows recalculations only as a company admin.
"""

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kpi_platform.errors import DomainError
from kpi_platform.ids import MAX_OFFSET
from kpis import access as kpi_access
from orgs import access
from orgs.api.pagination import KeysetPagination
from orgs.api.permissions import CompanyApi, require
from orgs.models import Member, TokenScope
from orgs.selectors import company_get
from ratings import dashboards
from ratings.api.serializers import (
    ActionOutputSerializer,
    ActionRecordOutputSerializer,
    KpiFiguresOutputSerializer,
    LeaderboardOutputSerializer,
    RecalculationOutputSerializer,
    RecalculationStartedSerializer,
)
from ratings.models import ActionSource, RatingPeriod, Recalculation
from ratings.selectors import Scope, action_list, leaderboard, leaderboard_range
from ratings.services import MAX_BATCH, action_void, actions_record, recalculation_start
from ratings.windows import (
    API,
    CUSTOM,
    FIGURES,
    Window,
    parse_holder_scope,
    parse_moment,
    parse_period,
    parse_scope,
    window_of,
)

MAX_LIMIT = 1000


def _path_id(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=description)


_ACTION_SCHEMA = {
    "type": "object",
    "required": ["kpi", "user", "value"],
    "properties": {
        "kpi": {"type": "string", "description": "The KPI's integration name."},
        "user": {"type": "string", "description": "The person's e-mail or external id."},
        "value": {
            "oneOf": [{"type": "string"}, {"type": "number"}],
            "description": 'A number ≥ 0 with at most two decimals, e.g. "3" or 2.5.',
        },
        "occurred_at": {"type": "string", "format": "date-time", "description": "Default: now."},
        "external_id": {"type": "string", "maxLength": 100, "description": "Unique in the company."},
        "comment": {"type": "string", "maxLength": 2000},
    },
}
_ACTIONS_REQUEST = {
    "oneOf": [_ACTION_SCHEMA, {"type": "array", "items": _ACTION_SCHEMA, "maxItems": MAX_BATCH}],
}


class ActionApi(CompanyApi):
    write_scope = TokenScope.ACTIONS


class ActionCursorPagination(KeysetPagination):
    ordering = ("-occurred_at", "-id")  # newest first; the id orders equal times
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT


class ActionListApi(ActionApi):
    """Record actions (POST, one object or a list of up to 5,000) and list them (GET)."""

    pagination_class = ActionCursorPagination

    class FilterSerializer(serializers.Serializer):
        kpi = serializers.CharField(required=False, help_text=_("A KPI's integration name or id."))
        user = serializers.CharField(required=False, help_text=_("A person's e-mail, external id or id."))
        from_ = serializers.CharField(
            required=False,
            help_text=_("occurred_at ≥ this: a time (ISO 8601) or a date (from its local midnight)."),
        )
        to = serializers.CharField(
            required=False,
            help_text=_("occurred_at < this time; a date includes that whole local day."),
        )
        source = serializers.ChoiceField(ActionSource.choices, required=False)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_LIMIT, help_text=_("Actions per page (default 50).")
        )

        class Meta:
            ref_name = "ActionFilter"

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    @extend_schema(
        operation_id="actions_list",
        parameters=[FilterSerializer],
        responses=ActionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = dict(self.validated(self.FilterSerializer, request.query_params))
        if "from" in filters or "to" in filters:
            zone = company_get().zone
            for name in ("from", "to"):
                if name in filters:
                    filters[name] = parse_moment(filters[name], name, zone, end=name == "to")
        actions = action_list(filters=filters, viewer=self.viewer)
        return self.paginated_response(actions, ActionOutputSerializer)

    @extend_schema(
        operation_id="actions_create",
        description=_(
            "One action, or a list of up to 5,000 recorded all or nothing. Every invalid item is "
            "reported with its ``index`` (null when one object was posted). An external id recorded "
            "before with the same content is a ``duplicate``; with other content, 409 "
            "``external_id_conflict``."
        ),
        request={"application/json": _ACTIONS_REQUEST},
        responses={201: ActionRecordOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        viewer = self.viewer
        require(access.may_record(viewer))
        single = isinstance(request.data, dict)
        items = [request.data] if single else request.data
        try:
            result = self._record(items, viewer)
        except DomainError as error:
            if single:
                for each in error.errors:
                    each.index = None
            raise
        results = [
            {**row, "index": None if single else row["index"], "points": str(row["points"])}
            for row in result.results
        ]
        return Response(
            {"created": result.created, "duplicates": result.duplicates, "results": results},
            status=status.HTTP_201_CREATED,
        )

    def _record(self, items, viewer: Member | None):
        # The service records only for the people the viewer manages (O4); anyone else is
        # ``unknown_user``, exactly as nobody at all.
        return actions_record(items=items, source=ActionSource.API, recorded_by=viewer)


_ACTION_ID = _path_id("action_id", "An action id.")


class ActionVoidApi(ActionApi):
    """R5: void a wrong action (who, when, why). The same people may void as may record it."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

        class Meta:
            ref_name = "ActionVoid"

    @extend_schema(
        operation_id="actions_void",
        parameters=[_ACTION_ID],
        request=InputSerializer,
        responses=ActionOutputSerializer,
    )
    def post(self, request: Request, action_id: int) -> Response:
        action = action_list(viewer=self.viewer).get(id=action_id)
        require(access.may_record(self.viewer))
        data = self.validated(self.InputSerializer, request.data)
        action_void(action=action, reason=data["reason"], voided_by=self.viewer)
        return Response(ActionOutputSerializer(action_list().get(id=action.id)).data)


# --- Ratings (R6, R7) ---------------------------------------------------------------------------------


class RatingApi(CompanyApi):
    """A leaderboard: a page of the top people of a period and scope, and the viewer's own place
    (``me``, null for a token or when the viewer is outside the scope)."""

    class FilterSerializer(serializers.Serializer):
        period = serializers.CharField(
            required=False, help_text="week, month (default), quarter, year or all."
        )
        date = serializers.CharField(
            required=False, help_text=_("A day of the period (default: today in the company's time zone).")
        )
        from_ = serializers.CharField(required=False, help_text=_("With `to`: a date range instead."))
        to = serializers.CharField(required=False, help_text=_("The range's last day (inclusive)."))
        scope = serializers.CharField(
            required=False, help_text="company (default), department:ID or team:ID."
        )
        limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=MAX_LIMIT)
        offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)

        class Meta:
            ref_name = "RatingFilter"

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    @extend_schema(
        operation_id="ratings_retrieve", parameters=[FilterSerializer], responses=LeaderboardOutputSerializer
    )
    def get(self, request: Request) -> Response:
        params = self.validated(self.FilterSerializer, request.query_params)
        scope = self._scope(params.get("scope", "company"))
        page = {"scope": scope, "limit": params["limit"], "offset": params["offset"], "viewer": self.viewer}
        asked = parse_period(params, rules=API, default=RatingPeriod.MONTH)
        if asked.kind == CUSTOM:
            board = leaderboard_range(start=asked.start, end=asked.end, **page)
        else:
            board = leaderboard(period=asked.kind, day=asked.day or company_get().today(), **page)
        return Response(LeaderboardOutputSerializer(board).data)

    def _scope(self, value: str) -> Scope:
        scope = parse_scope(value)
        if scope.kind == "company":
            return scope
        units = access.visible_departments if scope.kind == "department" else access.visible_teams
        if not units(self.viewer).filter(id=scope.org_unit_id).exists():
            raise DomainError("not_found", _("No such %(kind)s.") % {"kind": scope.kind}, field="scope")
        return scope


# --- Recalculation (R2) -------------------------------------------------------------------------------


class KpiRecalculateApi(CompanyApi):
    """R2: recalculate the past points of a KPI with its current ratio, in the background. A
    company admin or a token with the ``definitions`` scope; follow it at the answer's ``url``."""

    write_scope = TokenScope.DEFINITIONS

    @extend_schema(
        operation_id="kpis_recalculate",
        parameters=[_path_id("kpi_id", "A KPI id.")],
        request=None,
        responses={202: RecalculationStartedSerializer},
    )
    def post(self, request: Request, kpi_id: int) -> Response:
        kpi = kpi_access.visible_kpis(self.viewer, include_archived=True).get(id=kpi_id)
        require(access.may_manage_company(self.viewer))
        recalculation = recalculation_start(kpi=kpi, actor=self.viewer)
        url = request.build_absolute_uri(reverse("recalculation-detail", args=[recalculation.id]))
        return Response(
            {"id": recalculation.id, "status": recalculation.status, "url": url},
            status=status.HTTP_202_ACCEPTED,
        )


class RecalculationDetailApi(CompanyApi):
    """The progress of a recalculation: ``done`` of ``total`` actions; a company admin or a token."""

    @extend_schema(
        operation_id="recalculations_retrieve",
        parameters=[_path_id("recalculation_id", "A recalculation id.")],
        responses=RecalculationOutputSerializer,
    )
    def get(self, request: Request, recalculation_id: int) -> Response:
        recalculation = Recalculation.objects.get(id=recalculation_id)
        require(access.may_manage_company(self.viewer))
        return Response(RecalculationOutputSerializer(recalculation).data)


# --- Figures (K11) ------------------------------------------------------------------------------------


class KpiFiguresApi(CompanyApi):
    """A KPI's figure for a scope and a period (K11): what the dashboards show, from the same
    selector (``ratings.dashboards.kpi_figures``). The caller's reach applies (O4, D3): a token
    reads any scope; a person the company if they may open its dashboard, the departments and
    teams whose dashboards they open, and the people they see. Anything else is ``not_found``,
    as if it did not exist."""

    class FilterSerializer(serializers.Serializer):
        period = serializers.CharField(required=False, help_text="week, month (default), quarter or year.")
        date = serializers.CharField(
            required=False, help_text=_("A day of the period (default: today in the company's time zone).")
        )
        from_ = serializers.CharField(required=False, help_text=_("With `to`: a date range instead."))
        to = serializers.CharField(required=False, help_text=_("The range's last day (inclusive)."))
        scope = serializers.CharField(
            required=False, help_text="company (default), department:ID, team:ID or user:ID."
        )

        class Meta:
            ref_name = "KpiFiguresFilter"

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

    @extend_schema(
        operation_id="kpis_figures_retrieve",
        parameters=[_path_id("kpi_id", "A KPI id."), FilterSerializer],
        responses=KpiFiguresOutputSerializer,
    )
    def get(self, request: Request, kpi_id: int) -> Response:
        kpi = kpi_access.visible_kpis(self.viewer).select_related("unit").get(id=kpi_id)
        params = self.validated(self.FilterSerializer, request.query_params)
        company = company_get()
        today = company.today()
        asked = parse_period(params, rules=FIGURES, default="month")
        if asked.kind == CUSTOM:
            window = Window(CUSTOM, asked.start, asked.end, today)
        else:
            window = window_of(asked.kind, asked.day or today, today)
        text = (params.get("scope") or "company").strip()
        kind, holder_id = parse_holder_scope(text)
        holder = dashboards.reachable_holder(self.viewer, kind, holder_id, company_name=company.name)
        if holder is None:  # as if it did not exist
            raise Http404(_("No such %(kind)s.") % {"kind": kind})
        [figure] = dashboards.kpi_figures(holder, [kpi], window, [company.default_language])
        answer = {"figure": figure, "window": window, "scope": text}
        return Response(KpiFiguresOutputSerializer(answer).data)
