"""Pages of ratings (API.md "Pages"): dashboards (D3), their exports and reports (I4, D5), the
leaderboard (R7), a person's profile (D2) and the activity logger (O5).

Views stay thin: ``ratings.dashboards`` and ``pages.selectors`` read, templates draw,
``ratings.services.actions_record`` writes. Who may see what follows O4 (``orgs.access``): a unit
or person out of the viewer's reach answers 404, exactly like one that does not exist, another
company's included; the company dashboard answers 403 to anyone but a company admin.
"""

import datetime
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations.exports import export_response
from kpi_platform.errors import DomainError
from kpi_platform.ids import MAX_OFFSET, parse_id, parse_whole
from kpis.access import visible_kpis
from kpis.numbers import rounded
from kpis.selectors import kpi_list_for_member
from kpis.templatetags.kpi_format import number
from orgs import access
from orgs.i18n import content_languages, localized
from orgs.models import Member
from pages import selectors
from pages.selectors import BY_MEMBERS
from pages.views.base import page, viewer_of
from ratings import dashboards, reports
from ratings.dashboards import Holder
from ratings.errors import RatingErrorCode
from ratings.models import ActionSource, KpiAction, RatingPeriod
from ratings.selectors import Scope, leaderboard, leaderboard_range
from ratings.services import action_void, actions_record
from ratings.windows import CUSTOM, Window, kind_windows, names_period, parse_scope, window_from_query

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
    """What every view of a unit starts with: the viewer, the unit (O4), the windows of its primary
    and of its secondary KPIs (the period of the query, else each kind's tracking frequency, O1),
    the reader's content languages."""
    viewer, holder = _holder(request, kind, org_unit_id)
    company = viewer.company
    windows = kind_windows(
        request.GET,
        today=company_today(viewer),
        primary=company.primary_frequency,
        secondary=company.secondary_frequency,
    )
    return viewer, holder, windows, content_languages(request.user, company)


def _opens_kpi_page(viewer: Member, chosen: dashboards.KpiFigure | None) -> bool:
    """Whether the chosen KPI's name links to its page (``pages.views.kpis``): one query."""
    return chosen is not None and visible_kpis(viewer).filter(id=chosen.kpi.id).exists()


MAX_BREAKDOWN_PAGE = 999_999  # a page number past this (or junk) shows the first page


@page
def dashboard(request: HttpRequest, kind: str, org_unit_id: int | None = None) -> HttpResponse:
    """A unit's dashboard for a period: per KPI the total, the target and the pace, primary apart
    from secondary; a chart of one KPI; the breakdown; the leaderboard. An htmx request (the
    period picker, the breakdown switch, a KPI's chart) gets the dashboard's body only."""
    viewer, holder, windows, languages = _org_unit_view(request, kind, org_unit_id)
    window = windows[0]
    # By sub-unit where there are sub-units (the company's departments, a department's teams).
    by = request.GET.get("by", selectors.breakdown_choices(holder)[-1])
    by = by if by in selectors.breakdown_choices(holder) else BY_MEMBERS
    if by != BY_MEMBERS:
        dashboards.shown_by_sub_units(holder)
    figures = dashboards.kind_figures(holder, dashboards.holder_kpis(holder), windows, languages)
    sections = selectors.kpi_sections(
        holder, figures, window, wanted=request.GET.get("kpi", ""), secondary_window=windows[1]
    )
    if sections["secondary_window"]:  # each kind against its own earlier periods
        dashboards.compare_figures(holder, sections["primary"], window)
        dashboards.compare_figures(holder, sections["secondary"], windows[1])
    else:
        dashboards.compare_figures(holder, figures, window)
    dashboards.mark_stale(holder, figures, viewer.company, window.today)
    chosen = sections["chosen"]
    # The goal summary counts every KPI; a count's link shows that status's rows only.
    summary = selectors.goal_summary(figures, request.GET.get("status", ""))
    shown = {part: selectors.with_status(sections[part], summary.status) for part in ("primary", "secondary")}
    breakdown = selectors.breakdown(
        holder,
        sections["primary"] or sections["secondary"],
        window if sections["primary"] else windows[1],
        by,
        sort=request.GET.get("sort", ""),
        page=parse_whole(request.GET.get("page"), maximum=MAX_BREAKDOWN_PAGE) or 1,
    )
    selectors.org_unit_links(viewer, holder, breakdown.rows)
    board = selectors.holder_leaderboard(holder, window, viewer=viewer)
    query = window.query if names_period(request.GET) else {}
    context = {
        "crumbs": selectors.breadcrumb(viewer, holder=holder),
        "chosen_page": _opens_kpi_page(viewer, chosen),
        **sections,
        **shown,
        "summary": summary,
        "summary_query": urlencode({**query, "by": by, "kpi": chosen.kpi.id if chosen else ""}),
        "tiles": True,
        "sparks": selectors.sparklines(sections["primary"], window),
        "breakdown": breakdown,
        "breakdown_choices": selectors.breakdown_choices(holder),
        "board": board,
        "linkable": access.profiles_open_to(
            viewer, [row.member_id for row in board.rows + breakdown.rows if row.member_id]
        ),
        "switch": selectors.dashboard_switch(viewer, holder),
        # A coaching list: for those over the unit, who open these people's profiles (O4).
        "needs_attention": selectors.needs_attention(holder, sections["primary"], window)
        if holder.id is not None
        and access.heads_org_unit(viewer, holder.kind, holder.id, holder.department_id)
        else None,
        "by": by,
        **selectors.period_picker(window, kpi=chosen.kpi.id if chosen else None, by=by),
        # On the tracking frequencies' periods (O1) the page's links keep to them, naming none.
        "query": urlencode(query),
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
        str(reports.LIGHT_WORDS.get(figure.light, "")),
    ]


def figure_header() -> list[str]:
    """The report's columns (``reports.report_columns``), with percents as numbers and points."""
    *figures, _progress, _pace, status = reports.report_columns()
    return [*figures, _("Progress, %"), _("Pace, %"), _("Points"), status]


@page
def dashboard_export(
    request: HttpRequest, fmt: str, kind: str, org_unit_id: int | None = None
) -> HttpResponse:
    """What the dashboard shows per KPI, as csv or xlsx (I4; formula cells escaped)."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    _viewer, holder, windows, languages = _org_unit_view(request, kind, org_unit_id)
    window = windows[0]
    figures = dashboards.kind_figures(holder, dashboards.holder_kpis(holder), windows, languages)
    primary, secondary = dashboards.split_by_kind(figures)
    stem = f"kpis-{_org_unit_stem(kind, org_unit_id)}-{window.start}-{window.end}"
    return export_response(
        stem, fmt, figure_header(), (_figure_row(figure) for figure in primary + secondary)
    )


@page
def dashboard_report(request: HttpRequest, kind: str, org_unit_id: int | None = None) -> HttpResponse:
    """The KPI report (D5) of this unit and period, the e-mail's HTML: a page of its own to read
    and print, or with ``?download=1`` a file to keep; ``?download=xlsx`` the same figures as a
    workbook."""
    viewer, holder, windows, languages = _org_unit_view(request, kind, org_unit_id)
    window, secondary = windows
    sections = [reports.section(holder, window, languages, secondary_window=secondary)]
    stem = f"kpi-report-{_org_unit_stem(kind, org_unit_id)}-{window.start}-{window.end}"
    if request.GET.get("download") == "xlsx":
        workbook = reports.report_xlsx(company=viewer.company, sections=sections)
        response = HttpResponse(workbook, content_type=reports.XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
        return response
    html = reports.report_html(company=viewer.company, sections=sections)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    filename = f"{stem}.html"
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
        access.visible_members(viewer).select_related("user", "team__department", "department"),
        user_id=member_id,
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
        "crumbs": selectors.breadcrumb(viewer, person=person),
        "chosen_page": _opens_kpi_page(viewer, chosen),
        **selectors.period_picker(window, kpi=chosen.kpi.id if chosen else None),
    }
    template = "ratings/_profile.html" if request.headers.get("HX-Request") else "ratings/profile.html"
    return render(request, template, context)


# --- Activity logger (O5) -----------------------------------------------------------------------------

LOGGER_ROWS = 3  # the rows a blank logger starts with; "Add a row" adds more
LOGGER_MAX_ROWS = 50
LOGGER_FILTER_FROM = 8  # more people than this, and the logger offers a "Find a person" field
_ROW_FIELDS = ("person", "kpi", "value", "when", "comment")
_ROW_FIELD = re.compile(r"(person|kpi|value|when|comment)-([0-9]{1,4})")


@page
def logger(request: HttpRequest) -> HttpResponse:
    """A team lead, manager or company admin records actions for their people: as many rows as
    they add (up to ``LOGGER_MAX_ROWS``), through the one recording service (R3), all or nothing;
    every error is shown at its row, and every row comes back as typed. Each person is offered the
    KPIs that reach them only; under the form, what the viewer recorded last, each undoable."""
    viewer = viewer_of(request)
    if not access.may_record(viewer):
        raise PermissionDenied
    languages = content_languages(request.user, viewer.company)
    choices = selectors.logger_choices(viewer, languages)
    rows = _blank_rows()
    errors, recorded, general = {}, None, []
    if request.method == "POST":
        rows = _posted_rows(request)
        items, positions = _items(rows, choices, errors)
        if len(rows) > LOGGER_MAX_ROWS:
            general.append(_("Record at most %(count)d rows at once.") % {"count": LOGGER_MAX_ROWS})
        elif not items:
            general.append(_("Fill in at least one row: a person, a KPI and a value."))
        elif not errors:
            try:
                result = actions_record(items=items, source=ActionSource.LOGGER, recorded_by=viewer)
            except DomainError as failure:
                for error in failure.errors:
                    _row_error(errors, general, positions, error, items, choices)
            else:
                recorded = result.created
                rows = _blank_rows()
    for row in rows:
        row["errors"] = errors.get(row["index"], [])
    context = {
        "people": choices.people,
        "groups": choices.groups,
        "kpis": choices.kpis,
        "offered": {str(user_id): kpi_ids for user_id, kpi_ids in choices.offered.items()},
        "rows": rows,
        "next_index": max((row["index"] for row in rows), default=-1) + 1,
        "blank_row": {"index": "__index__", "errors": []},
        "person_filter": len(choices.people) > LOGGER_FILTER_FROM,
        "recorded": recorded,
        "recent": selectors.logger_recent(viewer, languages),
        "general_errors": general,
        "now": viewer.company.now().strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "ratings/logger.html", context, status=400 if errors or general else 200)


def _blank_rows() -> list[dict]:
    return [{"index": index} for index in range(LOGGER_ROWS)]


def _posted_rows(request: HttpRequest) -> list[dict]:
    """The posted rows as typed, by their index (rows removed on the page leave gaps)."""
    indexes = sorted({int(match[2]) for key in request.POST if (match := _ROW_FIELD.fullmatch(key))})
    return [
        {"index": index, **{name: request.POST.get(f"{name}-{index}", "").strip() for name in _ROW_FIELDS}}
        for index in indexes
    ]


def _not_received(member: Member, name: str) -> str:
    return _("%(person)s does not receive the KPI “%(kpi)s”: choose one of their KPIs.") % {
        "person": member.user,
        "kpi": name,
    }


def _items(rows: list[dict], choices: selectors.LoggerChoices, errors: dict) -> tuple[list[dict], list[int]]:
    """The filled rows as items for ``actions_record``, and each item's row. A person out of the
    viewer's reach (or another company's), a KPI that takes no actions, and a KPI that does not
    reach its person are refused here, at their row, by the names the page shows."""
    by_id = {str(member.user_id): member for member in choices.people}
    names = choices.names
    items, positions = [], []
    for row in rows:
        if not any(row[name] for name in ("person", "kpi", "value")):
            continue
        member = by_id.get(row["person"])
        kpi = choices.live.get(parse_id(row["kpi"]) or 0)
        if member is None:
            errors.setdefault(row["index"], []).append(_("Choose a person from the list."))
        if kpi is None:
            errors.setdefault(row["index"], []).append(_("Choose a KPI from the list."))
        elif member is not None and kpi.id not in choices.offered[member.user_id]:
            errors.setdefault(row["index"], []).append(_not_received(member, names[kpi.id]))
        item = {"user": member, "kpi": kpi}
        if row["value"]:
            item["value"] = row["value"].replace(",", ".")
        if row["when"]:
            item["occurred_at"] = row["when"]
        if row["comment"]:
            item["comment"] = row["comment"]
        items.append(item)
        positions.append(row["index"])
    return items, positions


# The service names a KPI by its integration name (for the API and imports); the logger's people
# know it by the name on the page.
_KPI_REFUSALS = {
    RatingErrorCode.NOT_IN_AUDIENCE,
    RatingErrorCode.KPI_INACTIVE,
    RatingErrorCode.KPI_IS_CALCULATED,
}


def _row_error(
    errors: dict,
    general: list,
    positions: list[int],
    error: DomainError,
    items: list,
    choices: selectors.LoggerChoices,
) -> None:
    if error.index is None:
        general.append(error.message)
        return
    message = error.message
    if error.code in _KPI_REFUSALS:
        item = items[error.index]
        name = choices.names[item["kpi"].id]
        if error.code == RatingErrorCode.NOT_IN_AUDIENCE:
            message = _not_received(item["user"], name)
        else:
            message = _("The KPI “%(kpi)s” takes no actions now: choose another.") % {"kpi": name}
    errors.setdefault(positions[error.index], []).append(message)


@page
@require_POST
def logger_undo(request: HttpRequest, action_id: int) -> HttpResponse:
    """Undo (void, R5) an action the viewer recorded, through the void service and its rules (O5:
    a head voids only what they may record). Another's action, or another company's, is a 404."""
    viewer = viewer_of(request)
    if not access.may_record(viewer):
        raise PermissionDenied
    action = get_object_or_404(
        KpiAction.objects.select_related("member__user", "kpi__unit"),
        id=action_id,
        recorded_by_id=viewer.user_id,
    )
    languages = content_languages(request.user, viewer.company)
    try:
        action_void(action=action, reason=_("Undone in the activity logger."), voided_by=viewer)
    except DomainError as failure:
        messages.error(request, failure.message)
    else:
        done = _("Undone: %(value)s %(unit)s of “%(kpi)s” for %(person)s.")
        messages.success(
            request,
            done
            % {
                "value": number(action.value),
                "unit": localized(action.kpi.unit, "name", languages),
                "kpi": localized(action.kpi, "name", languages),
                "person": action.member.user,
            },
        )
    return redirect("logger")
