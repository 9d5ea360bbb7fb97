"""The KPI page (API.md "Pages"): one KPI as the signed-in person may see it (K1, K4, K6, K7, K9, D6)."""

import datetime
from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kpis import links, terms
from kpis.access import visible_kpis
from kpis.models import Target, TargetPart, TargetPeriod, TargetScope
from kpis.selectors import target_list_current
from orgs import access
from orgs.i18n import content_languages, localized
from orgs.models import Member
from pages import selectors
from pages.views.base import page, viewer_of
from ratings import dashboards
from ratings.windows import parse_holder_scope, window_from_query


@dataclass(frozen=True)
class TargetRow:
    target: Target
    period: str  # "November 2026", "Q4 2026", "2026"
    holder: str  # "Company", a unit's name, a person's name
    current_part: TargetPart | None  # the share of the breakdown that today falls in
    is_viewers: bool  # the viewer's own target


def _period_label(target: Target) -> str:
    if target.period == TargetPeriod.MONTH:
        return date_format(target.start, "F Y")
    if target.period == TargetPeriod.QUARTER:
        return _("Q%(quarter)d %(year)d") % {
            "quarter": (target.start.month - 1) // 3 + 1,
            "year": target.start.year,
        }
    return str(target.start.year)


def _holder_label(target: Target) -> str:
    if target.scope == TargetScope.COMPANY:
        return _("Company")
    holder = {TargetScope.DEPARTMENT: target.department, TargetScope.TEAM: target.team}.get(target.scope)
    return str(holder if holder is not None else target.member)


def _target_row(target: Target, today: datetime.date, viewer: Member) -> TargetRow:
    part = next((part for part in target.parts.all() if part.start <= today <= part.end), None)
    is_viewers = target.scope == TargetScope.USER and target.member_id == viewer.user_id
    holder = _("You") if is_viewers else _holder_label(target)
    return TargetRow(target, _period_label(target), holder, part, is_viewers)


def _history_holder(request: HttpRequest, member: Member) -> dashboards.Holder:
    """Whose history the KPI page charts: ``?scope=`` (the dashboard or profile it was opened
    from: company, department:ID, team:ID or user:ID) where the viewer may open it (O4, else a
    404), or else the widest the viewer opens: the company for an admin, a manager's first
    department, a lead's first team, a member themself."""
    if "scope" in request.GET:
        kind, holder_id = parse_holder_scope(request.GET["scope"])
        holder = dashboards.reachable_holder(member, kind, holder_id, company_name=member.company.name)
        if holder is None:
            raise Http404
        return holder
    if access.may_see_company_dashboard(member):
        return dashboards.company_holder(member.company.name)
    department = access.dashboard_departments(member).first()
    if department is not None:
        return dashboards.department_holder(department)
    team = access.dashboard_teams(member).filter(id__in=access.led_team_ids(member)).first()
    return dashboards.team_holder(team) if team is not None else dashboards.person_holder(member)


def _terms_html(viewer: Member, text: str):
    """The terms with only the internal links the viewer may open as links (K7)."""
    return terms.render(text, openable=links.openable_targets(viewer, terms.internal_targets(text)))


@page
def kpi_page(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """A KPI the viewer may see (``kpis.access.visible_kpis``); any other id, including another
    company's, is a 404 like one that does not exist. With its history: the chart of its figure
    in the last periods and this period's pace (D3), for the unit or person it was opened from."""
    member = viewer_of(request)
    kpi = get_object_or_404(
        visible_kpis(member).select_related("department", "team", "owner__user"), id=kpi_id
    )
    company = member.company
    languages = content_languages(request.user, company)
    today = company.today()
    targets = target_list_current(kpi=kpi, viewer=member, day=today)
    holder = _history_holder(request, member)
    window = window_from_query(request.GET, today=today)
    unit = localized(kpi.unit, "name", languages)
    context = {
        "kpi": kpi,
        "name": localized(kpi, "name", languages),
        "description": _terms_html(member, localized(kpi, "description", languages)),
        "unit": unit,
        "kpi_types": [
            label
            for label in (kpi.get_category_display(), kpi.get_timing_display(), kpi.get_measure_display())
            if label
        ],
        "targets": [_target_row(target, today, member) for target in targets],
        "today": today,
        # ``ratings/_chart.html`` draws it, headed by whose history it is.
        "chosen": {"name": holder.name, "unit": f"{window.label} · {unit}", "kpi": kpi},
        "chart": selectors.kpi_chart(holder, kpi, window),
    }
    return render(request, "kpis/kpi_page.html", context)
