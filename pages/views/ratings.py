"""Pages of ratings (API.md "Pages"): dashboards (D3), their exports and reports (I4, D5), the
leaderboard (R7), a person's profile (D2) and the activity logger (O5).

Views stay thin: ``ratings.dashboards`` and ``pages.selectors`` read, templates draw,
``ratings.services.actions_record`` writes. Who may see what follows O4 (``orgs.access``): a unit
or person out of the viewer's reach answers 404, exactly like one that does not exist, another
company's included; the company dashboard answers 403 to anyone but a company admin.
"""

import datetime
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.exports import export_response
from kpi_platform.errors import DomainError
from kpi_platform.ids import MAX_OFFSET, parse_whole
from kpis.models import Kpi
from kpis.numbers import rounded
from kpis.selectors import kpi_list_for_member
from orgs import access
from orgs.i18n import content_languages, localized
from orgs.models import Member
from pages import selectors
from pages.selectors import BY_MEMBERS
from pages.views.base import page, viewer_of
from ratings import dashboards, reports
from ratings.dashboards import Holder
from ratings.models import ActionSource, RatingPeriod
from ratings.selectors import Scope, leaderboard, leaderboard_range
from ratings.services import actions_record
from ratings.windows import CUSTOM, Window, parse_scope, window_from_query

EXPORT_FORMATS = ("csv", "xlsx")
LEADERBOARD_PAGE = 50
EXPORT_LIMIT = 10_000


def company_today(member: Member) -> datetime.date:
    return member.company.today()


# --- Dashboards (D3) ----------------------------------------------------------------------------------


def _company(request: HttpRequest) -> tuple[Member, Holder]:
    viewer = viewer_of(request)
    if not access.may_see_company_dashboard(viewer):
        raise PermissionDenied
    return viewer, dashboards.company_holder(viewer.company.name)


def _department(request: HttpRequest, department_id: int) -> tuple[Member, Holder]:
    viewer = viewer_of(request)
    department = get_object_or_404(access.dashboard_departments(viewer), id=department_id)
    return viewer, dashboards.department_holder(department)


def _team(request: HttpRequest, team_id: int) -> tuple[Member, Holder]:
    viewer = viewer_of(request)
    team = get_object_or_404(access.dashboard_teams(viewer), id=team_id)
    return viewer, dashboards.team_holder(team)


HOLDERS = {"company": _company, "department": _department, "team": _team}


def _holder(request: HttpRequest, kind: str, org_unit_id: int | None) -> tuple[Member, Holder]:
    resolve = HOLDERS[kind]
    return resolve(request) if org_unit_id is None else resolve(request, org_unit_id)


def _window(request: HttpRequest, viewer: Member) -> Window:
    return window_from_query(request.GET, today=company_today(viewer))


def _org_unit_view(request: HttpRequest, kind: str, org_unit_id: int | None):
    """What every view of a unit starts with: the viewer, the unit (O4), the period of the query,
    the reader's content languages."""
    viewer, holder = _holder(request, kind, org_unit_id)
    return viewer, holder, _window(request, viewer), content_languages(request.user, viewer.company)


MAX_BREAKDOWN_PAGE = 999_999  # a page number past this (or junk) shows the first page


@page
def dashboard(request: HttpRequest, kind: str, org_unit_id: int | None = None) -> HttpResponse:
    """A unit's dashboard for a period: per KPI the total, the target and the pace, primary apart
    from secondary; a chart of one KPI; the breakdown; the leaderboard. An htmx request (the
    period picker, the breakdown switch, a KPI's chart) gets the dashboard's body only."""
    viewer, holder, window, languages = _org_unit_view(request, kind, org_unit_id)
    figures = dashboards.kpi_figures(holder, dashboards.holder_kpis(holder), window, languages)
    sections = selectors.kpi_sections(holder, figures, window, wanted=request.GET.get("kpi", ""))
    chosen = sections["chosen"]
    # By sub-unit where there are sub-units (the company's departments, a department's teams).
    by = request.GET.get("by", selectors.breakdown_choices(holder)[-1])
    by = by if by in selectors.breakdown_choices(holder) else BY_MEMBERS
    breakdown = selectors.breakdown(
        holder,
        sections["primary"] or sections["secondary"],
        window,
        by,
        sort=request.GET.get("sort", ""),
        page=parse_whole(request.GET.get("page"), maximum=MAX_BREAKDOWN_PAGE) or 1,
    )
    board = selectors.holder_leaderboard(holder, window, viewer=viewer)
    context = {
        **sections,
        "breakdown": breakdown,
        "breakdown_choices": selectors.breakdown_choices(holder),
        "board": board,
        "linkable": access.profiles_open_to(
            viewer, [row.member_id for row in board.rows + breakdown.rows if row.member_id]
        ),
        "switch": selectors.dashboard_switch(viewer, holder),
        "by": by,
        **selectors.period_picker(window, kpi=chosen.kpi.id if chosen else None, by=by),
        "sort": breakdown.sort,
    }
    template = "ratings/_dashboard.html" if request.headers.get("HX-Request") else "ratings/dashboard.html"
    return render(request, template, context)


@page
def dashboard_index(request: HttpRequest) -> HttpResponse:
    """Every dashboard the viewer may open (O4)."""
    viewer = viewer_of(request)
    return render(request, "ratings/dashboards.html", {"links": selectors.dashboard_switch(viewer)})


def _org_unit_stem(kind: str, org_unit_id: int | None) -> str:
    return kind if org_unit_id is None else f"{kind}-{org_unit_id}"


# The traffic light in words (K11: by the KPI's own bands), as the dashboard's dots are titled.
LIGHT_WORDS = {
    dashboards.GREEN: gettext_lazy("On track"),
    dashboards.AMBER: gettext_lazy("Slightly behind"),
    dashboards.RED: gettext_lazy("Behind"),
}


def _figure_row(figure: dashboards.KpiFigure) -> list:
    kind = _("Primary") if figure.kpi.kind == "primary" else _("Secondary")
    return [
        figure.name,
        kind,
        figure.unit,
        # With the KPI's decimals, as the page and the report show them (issue 18).
        rounded(figure.total, figure.kpi.decimals),
        rounded(figure.target, figure.kpi.decimals),
        rounded(figure.expected, figure.kpi.decimals),
        figure.progress,
        figure.pace,
        figure.points,
        str(LIGHT_WORDS.get(figure.light, "")),
    ]


def figure_header() -> list[str]:
    return [
        _("KPI"),
        _("Kind"),
        _("Unit"),
        _("Total"),
        _("Target"),
        _("Expected by today"),
        _("Progress, %"),
        _("Pace, %"),
        _("Points"),
        _("Status"),
    ]


@page
def dashboard_export(
    request: HttpRequest, fmt: str, kind: str, org_unit_id: int | None = None
) -> HttpResponse:
    """What the dashboard shows per KPI, as csv or xlsx (I4; formula cells escaped)."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    _viewer, holder, window, languages = _org_unit_view(request, kind, org_unit_id)
    figures = dashboards.kpi_figures(holder, dashboards.holder_kpis(holder), window, languages)
    primary, secondary = dashboards.split_by_kind(figures)
    stem = f"kpis-{_org_unit_stem(kind, org_unit_id)}-{window.start}-{window.end}"
    return export_response(
        stem, fmt, figure_header(), (_figure_row(figure) for figure in primary + secondary)
    )


@page
def dashboard_report(request: HttpRequest, kind: str, org_unit_id: int | None = None) -> HttpResponse:
    """The KPI report (D5) of this unit and period, the e-mail's HTML: a page of its own to read
    and print, or with ``?download=1`` a file to keep."""
    viewer, holder, window, languages = _org_unit_view(request, kind, org_unit_id)
    html = reports.report_html(company=viewer.company, sections=[reports.section(holder, window, languages)])
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    filename = f"kpi-report-{_org_unit_stem(kind, org_unit_id)}-{window.start}-{window.end}.html"
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


# --- Leaderboard (R7) ---------------------------------------------------------------------------------


def _scope(viewer: Member, value: str) -> tuple[Scope, str]:
    """``company``, ``department:ID`` or ``team:ID`` among those the viewer sees; another is 404."""
    scope = parse_scope(value)
    if scope.kind == "company":
        return scope, viewer.company.name
    units = access.visible_departments if scope.kind == "department" else access.visible_teams
    unit = get_object_or_404(units(viewer), id=scope.org_unit_id)
    return Scope(scope.kind, unit.id), unit.name


def _board(request: HttpRequest, viewer: Member, scope: Scope, *, limit: int, offset: int = 0):
    """The leaderboard the query asks for: ``period`` also takes ``all``."""
    today = company_today(viewer)
    paging = {"scope": scope, "limit": limit, "offset": offset, "viewer": viewer}
    if request.GET.get("period") == RatingPeriod.ALL:
        return None, leaderboard(period=RatingPeriod.ALL, day=today, **paging)
    window = window_from_query(request.GET, today=today)
    if window.kind == CUSTOM:
        return window, leaderboard_range(start=window.start, end=window.end, **paging)
    return window, leaderboard(period=window.kind, day=window.start, **paging)


def _offset(request: HttpRequest) -> int:
    """Anything but a number of rows shows the first page (``kpi_platform.ids``)."""
    return parse_whole(request.GET.get("offset"), maximum=MAX_OFFSET) or 0


@page
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    viewer = viewer_of(request)
    offset = _offset(request)
    scope, scope_name = _scope(viewer, request.GET.get("scope", "company"))
    window, board = _board(request, viewer, scope, limit=LEADERBOARD_PAGE, offset=offset)
    params = {key: value for key, value in request.GET.items() if key != "offset"}
    context = {
        "board": board,
        "linkable": access.profiles_open_to(viewer, [row.member_id for row in board.rows]),
        "window": window,
        "scope_value": str(scope),
        "scope_name": scope_name,
        "scopes": selectors.scope_choices(viewer, scope),
        "query": urlencode(params),
        "all_time": window is None,
        "previous_offset": max(0, offset - LEADERBOARD_PAGE) if offset else None,
        "next_offset": offset + LEADERBOARD_PAGE if offset + LEADERBOARD_PAGE < board.count else None,
        "periods": selectors.period_links(window.kind if window else RatingPeriod.ALL, all_time=True),
    }
    template = (
        "ratings/_leaderboard.html" if request.headers.get("HX-Request") else "ratings/leaderboard.html"
    )
    return render(request, template, context)


@page
def leaderboard_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404
    viewer = viewer_of(request)
    scope, _name = _scope(viewer, request.GET.get("scope", "company"))
    window, board = _board(request, viewer, scope, limit=EXPORT_LIMIT)
    rows = ([row.rank, str(row.member.user) if row.member else "", row.points] for row in board.rows)
    period = f"{window.start}-{window.end}" if window else "all"
    return export_response(
        f"leaderboard-{scope.kind}-{period}", fmt, [_("Rank"), _("Person"), _("Points")], rows
    )


# --- Profile (D2) -------------------------------------------------------------------------------------


@page
def profile(request: HttpRequest, member_id: int) -> HttpResponse:
    """A person as the viewer may see them (``orgs.access.visible_members``): their KPIs this
    month against their targets, one KPI's history, their rating over time, their latest actions."""
    viewer = viewer_of(request)
    person = get_object_or_404(
        access.visible_members(viewer).select_related("user", "team", "department"), user_id=member_id
    )
    window = _window(request, viewer)
    languages = content_languages(request.user, viewer.company)
    holder = dashboards.person_holder(person)
    kpis = list(kpi_list_for_member(person))
    figures = dashboards.kpi_figures(holder, kpis, window, languages)
    sections = selectors.kpi_sections(holder, figures, window, wanted=request.GET.get("kpi", ""))
    chosen = sections["chosen"]
    actions = selectors.recent_actions(person)
    context = {
        **sections,
        "person": person,
        "rating": selectors.rating_history(person, window),
        "actions": [
            (action, localized(action.kpi, "name", languages), localized(action.kpi.unit, "name", languages))
            for action in actions
        ],
        "is_me": person.user_id == viewer.user_id,
        **selectors.period_picker(window, kpi=chosen.kpi.id if chosen else None),
    }
    template = "ratings/_profile.html" if request.headers.get("HX-Request") else "ratings/profile.html"
    return render(request, template, context)


# --- Activity logger (O5) -----------------------------------------------------------------------------

LOGGER_ROWS = 5


@page
def logger(request: HttpRequest) -> HttpResponse:
    """A team lead, manager or company admin records actions for their people: up to five rows at
    once, through the one recording service (R3), all or nothing; every error is shown at its row."""
    viewer = viewer_of(request)
    if not access.may_record(viewer):
        raise PermissionDenied
    people = list(access.recordable_members(viewer))
    languages = content_languages(request.user, viewer.company)
    kpis = selectors.logger_kpis(people, languages)
    rows = [{"index": index} for index in range(LOGGER_ROWS)]
    errors, recorded, general = {}, None, []
    if request.method == "POST":
        rows = [_posted_row(request, index) for index in range(LOGGER_ROWS)]
        items, positions = _items(rows, people, kpis, errors)
        if not items:
            general.append(_("Fill in at least one row: a person, a KPI and a value."))
        elif not errors:
            try:
                result = actions_record(items=items, source=ActionSource.LOGGER, recorded_by=viewer)
            except DomainError as failure:
                for error in failure.errors:
                    _row_error(errors, general, positions, error)
            else:
                recorded = result.created
                rows = [{"index": index} for index in range(LOGGER_ROWS)]
    for row in rows:
        row["errors"] = errors.get(row["index"], [])
    context = {
        "people": people,
        "kpis": kpis,
        "rows": rows,
        "recorded": recorded,
        "general_errors": general,
        "now": viewer.company.now().strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "ratings/logger.html", context, status=400 if errors or general else 200)


def _posted_row(request: HttpRequest, index: int) -> dict:
    return {
        "index": index,
        **{
            name: request.POST.get(f"{name}-{index}", "").strip()
            for name in ("person", "kpi", "value", "when", "comment")
        },
    }


def _items(rows: list[dict], people: list[Member], kpis: list, errors: dict) -> tuple[list[dict], list[int]]:
    """The filled rows as items for ``actions_record``, and each item's row. A person or KPI that
    is not on the page's lists (out of the viewer's reach, or another company's) is refused here,
    at its row, before the service sees anything."""
    by_id = {str(member.user_id): member for member in people}
    kpi_ids = {str(kpi_id) for kpi_id, _name, _unit in kpis}
    chosen = Kpi.objects.select_related("unit").in_bulk(
        [int(row["kpi"]) for row in rows if row["kpi"] in kpi_ids]
    )
    items, positions = [], []
    for row in rows:
        if not any(row[name] for name in ("person", "kpi", "value")):
            continue
        if row["person"] not in by_id:
            errors.setdefault(row["index"], []).append(_("Choose a person from the list."))
        if row["kpi"] not in kpi_ids:
            errors.setdefault(row["index"], []).append(_("Choose a KPI from the list."))
        item = {
            "user": by_id.get(row["person"]),
            "kpi": chosen.get(int(row["kpi"])) if row["kpi"] in kpi_ids else None,
        }
        if row["value"]:
            item["value"] = row["value"].replace(",", ".")
        if row["when"]:
            item["occurred_at"] = row["when"]
        if row["comment"]:
            item["comment"] = row["comment"]
        items.append(item)
        positions.append(row["index"])
    return items, positions


def _row_error(errors: dict, general: list, positions: list[int], error: DomainError) -> None:
    if error.index is None:
        general.append(error.message)
    else:
        errors.setdefault(positions[error.index], []).append(error.message)
