"""The KPI page (API.md "Pages"): one KPI as the signed-in person may see it (K1, K4, K6, K7, K9, D6)."""

import datetime
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kpis import terms
from kpis.access import visible_kpis
from kpis.models import Target, TargetPart, TargetPeriod, TargetScope
from kpis.selectors import target_list_current
from orgs.i18n import content_languages, localized
from orgs.models import Member
from pages.views.base import viewer_of


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


@login_required
def kpi_page(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """A KPI the viewer may see (``kpis.access.visible_kpis``); any other id, including another
    company's, is a 404 like one that does not exist."""
    member = viewer_of(request)
    kpi = get_object_or_404(
        visible_kpis(member).select_related("department", "team", "owner__user"), id=kpi_id
    )
    company = member.company
    languages = content_languages(request.user, company)
    today = company.today()
    targets = target_list_current(kpi=kpi, viewer=member, day=today)
    context = {
        "kpi": kpi,
        "name": localized(kpi, "name", languages),
        "description": terms.render(localized(kpi, "description", languages)),
        "unit": localized(kpi.unit, "name", languages),
        "kpi_types": [
            label
            for label in (kpi.get_category_display(), kpi.get_timing_display(), kpi.get_measure_display())
            if label
        ],
        "targets": [_target_row(target, today, member) for target in targets],
        "today": today,
    }
    return render(request, "kpis/kpi_page.html", context)
