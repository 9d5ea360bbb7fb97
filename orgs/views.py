from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kpis.models import Kpi, KpiKind
from kpis.selectors import kpi_list_for_member
from orgs.i18n import content_languages, localized
from orgs.selectors import member_of


@dataclass(frozen=True)
class KpiRow:
    kpi: Kpi
    name: str  # in the reader's language (D6)
    unit: str


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Home (D1): the signed-in person's KPIs, primary apart from secondary (K6), in their language
    (D6). Their values, points and rank join them with the ratings."""
    member = member_of(request.user)  # None for a platform operator, who has no company
    rows: dict[str, list[KpiRow]] = {KpiKind.PRIMARY: [], KpiKind.SECONDARY: []}
    if member is not None:
        languages = content_languages(request.user, member.company)
        for kpi in kpi_list_for_member(member).select_related("department", "team"):
            name, unit = localized(kpi, "name", languages), localized(kpi.unit, "name", languages)
            rows[kpi.kind].append(KpiRow(kpi, name, unit))
    for kind_rows in rows.values():
        kind_rows.sort(key=lambda row: (row.name.casefold(), row.kpi.id))
    context = {
        "has_company": member is not None,
        "primary_kpis": rows[KpiKind.PRIMARY],
        "secondary_kpis": rows[KpiKind.SECONDARY],
    }
    return render(request, "home.html", context)
