"""Home (D1) and the Organization section (O5) (API.md "Pages"), in the reader's language (D6).
Their figures come from ``ratings.dashboards`` (aggregates, a fixed number of queries)."""

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from integrations.selectors import integration_sources_failing
from kpis.models import KpiKind
from kpis.selectors import kpi_list_for_member
from orgs import access
from orgs.i18n import content_languages
from orgs.models import Company, Member, Role, Team
from pages.views.base import viewer_of
from ratings import dashboards
from ratings.selectors import leaderboard
from ratings.windows import Window, frequency_window, window_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Home (D1): the signed-in person's KPIs for the current period (primary by the company's
    primary tracking frequency, secondary by its secondary one: value, target, progress), their
    points and rank this month, and their team's primary KPIs."""
    member = request.viewer
    if not member:  # a platform operator, who has no company
        return render(request, "home.html", {"has_company": False})
    company = member.company
    today = company.today()
    languages = content_languages(request.user, company)
    kpis = list(kpi_list_for_member(member).select_related("department", "team"))
    holder = dashboards.person_holder(member)
    windows = {
        KpiKind.PRIMARY: frequency_window(company.primary_frequency, today),
        KpiKind.SECONDARY: frequency_window(company.secondary_frequency, today),
    }
    figures = {
        kind: dashboards.kpi_figures(holder, [kpi for kpi in kpis if kpi.kind == kind], window, languages)
        for kind, window in windows.items()
    }
    dashboards.mark_stale(holder, figures[KpiKind.PRIMARY] + figures[KpiKind.SECONDARY], company, today)
    board = leaderboard(period="month", day=today, limit=0, viewer=member)
    context = {
        "has_company": True,
        "member": member,
        "primary": figures[KpiKind.PRIMARY],
        "secondary": figures[KpiKind.SECONDARY],
        "primary_window": windows[KpiKind.PRIMARY],
        "secondary_window": windows[KpiKind.SECONDARY],
        "month": window_of("month", today, today),
        "board": board,
        **_team_context(member, windows[KpiKind.PRIMARY], languages),
        "overviews": _overviews(member, windows[KpiKind.PRIMARY], languages),
        # Issue 20: a company admin sees integration sources that stopped or whose last run failed.
        "failing_sources": integration_sources_failing() if access.is_company_admin(member) else [],
    }
    return render(request, "home.html", context)


def _team_context(member: Member, window: Window, languages: list[str]) -> dict:
    """D1: the key (primary) metrics of the person's team."""
    team = Team.objects.filter(id=member.team_id).first() if member.team_id else None
    if team is None:
        return {"team": None}
    figures = _primary_figures(dashboards.team_holder(team), window, languages, member.company)
    return {"team": team, "team_figures": figures}


def _primary_figures(
    holder: dashboards.Holder, window: Window, languages: list[str], company: Company
) -> list:
    """A unit's primary KPIs in ``window``, the stale ones marked (O1)."""
    primary = [kpi for kpi in dashboards.holder_kpis(holder) if kpi.kind == KpiKind.PRIMARY]
    figures = dashboards.kpi_figures(holder, primary, window, languages)
    dashboards.mark_stale(holder, figures, company, window.today)
    return figures


def _overviews(member: Member, window: Window, languages: list[str]) -> list[dict]:
    """D1 for heads, as a member's Home shows their team: a company admin's company, a
    department manager's every department (O4), each with its primary KPIs' figures and status
    for the current period and a link to its dashboard. 4 queries a unit; a manager has a few."""
    if access.may_see_company_dashboard(member):
        holder = dashboards.company_holder(member.company.name)
        return [
            {
                "key": "company",
                "holder": holder,
                "url": "/dashboards/company/",
                "figures": _primary_figures(holder, window, languages, member.company),
            }
        ]
    return [
        {
            "key": f"department-{department.id}",
            "holder": holder,
            "url": f"/dashboards/departments/{department.id}/",
            "figures": _primary_figures(holder, window, languages, member.company),
        }
        for department in access.dashboard_departments(member)
        for holder in [dashboards.department_holder(department)]
    ]


@login_required
def organization(request: HttpRequest) -> HttpResponse:
    """The Organization section (O5), read-only: the administrators, each department with its
    managers and teams, each team with its leads and people, as far as the viewer may see (O4):
    in each unit everyone by name (``access.named_members``, as the unit's leaderboard names
    them), a name a link to the profile only where the viewer may open it. Changes are made in
    the admin. A fixed number of queries, whatever the size of the company."""
    viewer = viewer_of(request)
    people = list(
        access.named_members(viewer).select_related("user").order_by("user__first_name", "user__last_name")
    )
    openable = set(access.visible_members(viewer).values_list("user_id", flat=True))
    by_team: dict[int, list[Member]] = defaultdict(list)
    by_department: dict[int, list[Member]] = defaultdict(list)
    unplaced = []
    for person in people:
        if person.team_id:
            by_team[person.team_id].append(person)
        elif person.department_id:
            by_department[person.department_id].append(person)
        else:
            unplaced.append(person)
    teams = access.visible_teams(viewer).prefetch_related(
        Prefetch("leads", Member.objects.select_related("user"))
    )
    teams_of: dict[int, list] = defaultdict(list)
    for team in teams.order_by("name", "id"):
        teams_of[team.department_id].append({"team": team, "people": by_team.get(team.id, [])})
    departments = access.visible_departments(viewer).prefetch_related(
        Prefetch("managers", Member.objects.select_related("user"))
    )
    context = {
        "admins": Member.objects.filter(role=Role.ADMIN).select_related("user").order_by("user__first_name"),
        "departments": [
            {
                "department": department,
                "teams": teams_of.get(department.id, []),
                "people": by_department.get(department.id, []),
            }
            for department in departments.order_by("name", "id")
        ],
        "unplaced": unplaced,
        "is_admin": access.is_company_admin(viewer),
        "linkable": openable,
    }
    return render(request, "orgs/organization.html", context)
