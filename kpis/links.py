"""Reads for the internal links of a KPI's terms (PRODUCT K7): which targets exist in the company,
which of them a reader may open (O4, the same checks as the pages themselves), who in the company may
open one (for the warning that a link's audience is narrower than the KPI's), and the link dialog's
search. A target is ``(section, id)`` as ``kpis.terms.internal_targets`` gives it; every lookup goes
through the company-scoped managers, so another company's id is a target that does not exist."""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kpis.access import visible_kpis
from kpis.models import Kpi, KpiAudience, KpiHide, KpiStatus, Level
from kpis.selectors import kpi_search
from kpis.terms import Target
from orgs import access
from orgs.models import Company, Department, DepartmentManager, Member, Role, Team, TeamLead
from orgs.tenancy import current_company_id

# The link dialog's sections, in its order (``kpis.terms.INTERNAL_SECTIONS`` names their pages).
SECTION_LABELS = {
    "kpis": _("KPI"),
    "dashboards/company": _("Company dashboard"),
    "dashboards/departments": _("Department dashboard"),
    "dashboards/teams": _("Team dashboard"),
    "people": _("Person's profile"),
    "leaderboard/company": _("Company leaderboard"),
    "leaderboard/departments": _("Department leaderboard"),
    "leaderboard/teams": _("Team leaderboard"),
}
_COMPANY_SECTIONS = ("dashboards/company", "leaderboard/company")
_DEPARTMENT_SECTIONS = ("dashboards/departments", "leaderboard/departments")
_TEAM_SECTIONS = ("dashboards/teams", "leaderboard/teams")
SEARCH_RESULTS = 20


def _by_section(targets: Iterable[Target]) -> dict[str, set[int]]:
    ids = defaultdict(set)
    for section, target_id in targets:
        ids[section].add(target_id)
    return ids


def _member_name(member: Member) -> str:
    return member.user.get_full_name() or member.user.email


# --- Which targets exist, and their names ---------------------------------------------------------


def target_names(targets: Iterable[Target]) -> dict[Target, str]:
    """The targets that exist in the company, each with what the link dialog and the warnings call
    it (its section, then its name); one query per section at most."""
    ids = _by_section(targets)
    names: dict[Target, str] = {}

    def add(section: str, rows: Iterable[tuple[int, str]]) -> None:
        for target_id, name in rows:
            names[(section, target_id)] = f"{SECTION_LABELS[section]}: {name}"

    if ids.get("kpis"):
        for kpi in Kpi.objects.filter(id__in=ids["kpis"]):
            names[("kpis", kpi.pk)] = str(kpi)  # a KPI goes by its name, as it always has
    company_ids = set().union(*(ids.get(section, set()) for section in _COMPANY_SECTIONS))
    if current_company_id() in company_ids:
        company = Company.objects.get(id=current_company_id())
        for section in _COMPANY_SECTIONS:
            if company.pk in ids.get(section, ()):
                add(section, [(company.pk, company.name)])
    department_ids = set().union(*(ids.get(section, set()) for section in _DEPARTMENT_SECTIONS))
    if department_ids:
        departments = list(Department.objects.filter(id__in=department_ids).values_list("id", "name"))
        for section in _DEPARTMENT_SECTIONS:
            add(section, [row for row in departments if row[0] in ids.get(section, ())])
    team_ids = set().union(*(ids.get(section, set()) for section in _TEAM_SECTIONS))
    if team_ids:
        teams = [(team.pk, f"{team.department} / {team}") for team in _teams(id__in=team_ids)]
        for section in _TEAM_SECTIONS:
            add(section, [row for row in teams if row[0] in ids.get(section, ())])
    if ids.get("people"):
        people = Member.objects.filter(user_id__in=ids["people"]).select_related("user")
        add("people", [(member.user_id, _member_name(member)) for member in people])
    return names


def _teams(**filters):
    return Team.objects.filter(**filters).select_related("department")


# --- Which targets a reader may open --------------------------------------------------------------


def openable_targets(viewer: Member, targets: Iterable[Target]) -> set[Target]:
    """The targets ``viewer`` may open, by the pages' own checks (a KPI: ``visible_kpis``; a
    dashboard: ``dashboard_departments`` / ``dashboard_teams``; a profile: ``visible_members``; a
    leaderboard: ``visible_departments`` / ``visible_teams``): one query per section at most."""
    ids = _by_section(targets)
    openable: set[Target] = set()

    def add(section: str, found: Iterable[int]) -> None:
        openable.update((section, target_id) for target_id in found)

    queries = {
        "kpis": lambda wanted: visible_kpis(viewer).filter(id__in=wanted).values_list("id", flat=True),
        "dashboards/departments": lambda wanted: (
            access.dashboard_departments(viewer).filter(id__in=wanted).values_list("id", flat=True)
        ),
        "dashboards/teams": lambda wanted: (
            access.dashboard_teams(viewer).filter(id__in=wanted).values_list("id", flat=True)
        ),
        "people": lambda wanted: (
            access.visible_members(viewer).filter(user_id__in=wanted).values_list("user_id", flat=True)
        ),
        "leaderboard/departments": lambda wanted: (
            access.visible_departments(viewer).filter(id__in=wanted).values_list("id", flat=True)
        ),
        "leaderboard/teams": lambda wanted: (
            access.visible_teams(viewer).filter(id__in=wanted).values_list("id", flat=True)
        ),
    }
    for section, wanted in ids.items():
        if section in queries:
            add(section, queries[section](wanted))
    if viewer.company_id in ids.get("leaderboard/company", ()):
        add("leaderboard/company", [viewer.company_id])
    if access.may_see_company_dashboard(viewer) and viewer.company_id in ids.get("dashboards/company", ()):
        add("dashboards/company", [viewer.company_id])
    return openable


# --- Who in the company may open a target, and who receives a KPI ---------------------------------


def _user_ids(members) -> set[int]:
    return set(members.values_list("user_id", flat=True))


def _managers(department_ids) -> set[int]:
    return set(
        DepartmentManager.objects.filter(department_id__in=department_ids).values_list("member_id", flat=True)
    )


def _leads(team_ids) -> set[int]:
    return set(TeamLead.objects.filter(team_id__in=team_ids).values_list("member_id", flat=True))


def _team_heads(team: Team) -> set[int]:
    return _managers([team.department_id]) | _leads([team.pk])


def kpi_receivers(kpi: Kpi) -> set[int]:
    """The user ids of everyone ``kpi`` reaches (K6 level and hides, K8 audience), as saved or, for
    a KPI not saved yet, by its level alone."""
    members = Member.objects.all()
    if kpi.level == Level.DEPARTMENT:
        members = members.filter(department_id=kpi.department_id)
    elif kpi.level == Level.TEAM:
        members = members.filter(team_id=kpi.team_id)
    if kpi.pk is None:
        return _user_ids(members)
    hides = KpiHide.objects.filter(kpi_id=kpi.pk)
    members = members.exclude(
        department_id__in=hides.filter(department__isnull=False).values("department_id")
    )
    members = members.exclude(team_id__in=hides.filter(team__isnull=False).values("team_id"))
    entries = list(
        KpiAudience.objects.filter(kpi_id=kpi.pk).values_list("department_id", "team_id", "member_id")
    )
    if entries:
        members = members.filter(
            Q(department_id__in=[d for d, _t, _m in entries if d])
            | Q(team_id__in=[t for _d, t, _m in entries if t])
            | Q(user_id__in=[m for _d, _t, m in entries if m])
        )
    return _user_ids(members)


def _kpi_openers(kpi: Kpi) -> set[int]:
    """``visible_kpis`` turned around: who may open this KPI's page."""
    if kpi.archived_at is not None:
        return set()
    admins = _user_ids(Member.objects.filter(role=Role.ADMIN))
    heads = _user_ids(Member.objects.filter(role__in=[Role.MANAGER, Role.LEAD]))
    if kpi.level == Level.DEPARTMENT:
        definers = _managers([kpi.department_id])
        in_reach = definers | _leads(Team.objects.filter(department_id=kpi.department_id).values("id"))
    elif kpi.level == Level.TEAM:
        definers = in_reach = _managers([kpi.department_id]) | _leads([kpi.team_id])
    else:
        definers, in_reach = set(), heads
    openers = set(admins)
    if kpi.status == KpiStatus.ACTIVE:
        openers |= kpi_receivers(kpi) | (in_reach & heads)
    if Company.objects.filter(id=kpi.company_id, units_define_kpis=True).exists():
        openers |= definers & heads
    return openers


def target_openers(target: Target) -> set[int]:
    """The user ids of everyone in the company who may open the target (``openable_targets``
    turned around); nobody for a target that does not exist here."""
    section, target_id = target
    members = Member.objects.all()
    admins = _user_ids(members.filter(role=Role.ADMIN))
    if section == "kpis":
        kpi = Kpi.objects.filter(id=target_id).first()
        return _kpi_openers(kpi) if kpi else set()
    if section in _COMPANY_SECTIONS:
        if target_id != current_company_id():
            return set()
        return admins if section == "dashboards/company" else _user_ids(members)
    if section in _DEPARTMENT_SECTIONS:
        if not Department.objects.filter(id=target_id).exists():
            return set()
        openers = admins | _managers([target_id])
        if section == "leaderboard/departments":
            teams = Team.objects.filter(department_id=target_id).values("id")
            openers |= _leads(teams) | _user_ids(members.filter(department_id=target_id))
        return openers
    if section in _TEAM_SECTIONS:
        team = Team.objects.filter(id=target_id).first()
        if team is None:
            return set()
        return admins | _team_heads(team) | _user_ids(members.filter(team_id=team.pk))
    if section == "people":
        person = Member.objects.filter(user_id=target_id).first()
        if person is None:
            return set()
        openers = admins | {person.user_id}
        if person.department_id:
            openers |= _managers([person.department_id])
        if person.team_id:
            openers |= _leads([person.team_id])
        return openers
    return set()


@dataclass(frozen=True)
class NarrowerTarget:
    """A link target that some who receive the KPI cannot open (K7)."""

    target: Target
    name: str
    inactive: bool  # a KPI that is not active: none of them can open it
    shut_out: int  # how many of them cannot open it


def narrower_targets(kpi: Kpi, targets: Iterable[Target]) -> list[NarrowerTarget]:
    """Of ``targets`` (those that exist; a KPI's link to itself aside), the ones that some of the
    people ``kpi`` reaches cannot open, in the order given."""
    targets = [target for target in dict.fromkeys(targets) if kpi.pk is None or target != ("kpis", kpi.pk)]
    names = target_names(targets)
    targets = [target for target in targets if target in names]
    if not targets:
        return []
    receivers = kpi_receivers(kpi)
    narrower = []
    for target in targets:
        inactive = False
        if target[0] == "kpis":
            linked = Kpi.objects.get(id=target[1])
            inactive = not linked.is_active
        shut_out = receivers - target_openers(target)
        if shut_out:
            narrower.append(NarrowerTarget(target, names[target], inactive=inactive, shut_out=len(shut_out)))
    return narrower


# --- The link dialog's search ----------------------------------------------------------------------


def _matches(term: str, *fields: str) -> Q:
    condition = Q(pk__in=[])
    for field in fields:
        condition |= Q(**{f"{field}__icontains": term})
    if re.fullmatch(r"[0-9]{1,18}", term):
        condition |= Q(pk=int(term))
    return condition


def target_search(
    viewer: Member, *, section: str, term: str, exclude: int | None = None
) -> list[dict[str, object]]:
    """What the link dialog offers in ``section`` for ``term`` (a name, an e-mail or an id; empty:
    everything), among what ``viewer`` may open: ``{"id", "name", "meta"}``, by name."""
    term = term.strip()[:200]
    if section == "kpis":
        kpis = kpi_search(term=term, exclude=exclude).filter(pk__in=visible_kpis(viewer).values("pk"))
        return [
            {
                "id": kpi.pk,
                "name": str(kpi),
                "meta": f"{kpi.integration_name} · {kpi.get_status_display()}",
                "integration_name": kpi.integration_name,
                "status": kpi.get_status_display(),
            }
            for kpi in kpis[:SEARCH_RESULTS]
        ]
    if section in _COMPANY_SECTIONS:
        company = viewer.company
        if section == "dashboards/company" and not access.may_see_company_dashboard(viewer):
            return []
        if term and term.lower() not in company.name.lower() and term != str(company.pk):
            return []
        return [{"id": company.pk, "name": company.name, "meta": gettext("the whole company")}]
    if section in _DEPARTMENT_SECTIONS:
        departments = (
            access.dashboard_departments(viewer)
            if section == "dashboards/departments"
            else access.visible_departments(viewer)
        )
        if term:
            departments = departments.filter(_matches(term, "name"))
        return [
            {"id": department.pk, "name": department.name, "meta": gettext("department")}
            for department in departments.order_by("name", "id")[:SEARCH_RESULTS]
        ]
    if section in _TEAM_SECTIONS:
        teams = (
            access.dashboard_teams(viewer) if section == "dashboards/teams" else access.visible_teams(viewer)
        )
        if term:
            teams = teams.filter(_matches(term, "name", "department__name"))
        teams = teams.select_related("department").order_by("department__name", "name", "id")
        return [
            {"id": team.pk, "name": team.name, "meta": team.department.name}
            for team in teams[:SEARCH_RESULTS]
        ]
    if section == "people":
        people = access.visible_members(viewer).select_related("user")
        if term:
            people = people.filter(_matches(term, "user__first_name", "user__last_name", "user__email"))
        people = people.order_by("user__first_name", "user__last_name", "user_id")
        return [
            {"id": member.user_id, "name": _member_name(member), "meta": member.user.email}
            for member in people[:SEARCH_RESULTS]
        ]
    return []
