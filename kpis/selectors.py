"""Reads of KPI definitions: lists for the API and admin, the effective KPIs of a unit or a person
(K6 levels, inheritance and hides; K8 audience); the links of a KPI's terms are ``kpis.links``'s
(K7). Every queryset is company-scoped."""

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from kpi_platform.periods import period_start
from kpis.models import (
    Change,
    Kpi,
    KpiAudience,
    KpiHide,
    KpiStatus,
    Level,
    Target,
    TargetPeriod,
    TargetScope,
    Unit,
)
from orgs.access import is_company_admin, visible_departments, visible_members, visible_teams
from orgs.models import Department, Member, Team

LANGUAGES = [code for code, _name in settings.LANGUAGES]


def unit_list() -> QuerySet[Unit]:
    return Unit.objects.order_by("-is_default", "name", "id")


def unit_get(*, unit_id: int) -> Unit:
    return unit_list().get(id=unit_id)


_KPI_FILTERS = {
    "level": "level",
    "kind": "kind",
    "status": "status",
    "department": "department_id",
    "team": "team_id",
}


def kpi_list(*, include_archived: bool = False, filters: dict | None = None) -> QuerySet[Kpi]:
    """Live KPIs (archived ones too with ``include_archived``), filtered by the API's ``filters``:
    ``level``, ``kind``, ``status``, ``department`` and ``team`` (the KPIs defined there, not the
    inherited ones; a department's teams' KPIs carry their department) and ``archived`` (True:
    only archived KPIs)."""
    filters = dict(filters or {})
    kpis = Kpi.objects.select_related("unit").prefetch_related("audience")
    if filters.pop("archived", False):
        kpis = kpis.filter(archived_at__isnull=False)
    elif not include_archived:
        kpis = kpis.filter(archived_at__isnull=True)
    kpis = kpis.filter(**{_KPI_FILTERS[name]: value for name, value in filters.items()})
    return kpis.order_by("name", "id")


def kpi_get(*, kpi_id: int) -> Kpi:
    return kpi_list(include_archived=True).get(id=kpi_id)


def kpi_search(*, term: str, exclude: int | None = None) -> QuerySet[Kpi]:
    """Live KPIs by name (any language), integration name or id, by name: the terms' link
    dialog (K7). An empty ``term`` finds them all."""
    kpis = Kpi.objects.filter(archived_at__isnull=True)
    if term:
        condition = Q(integration_name__icontains=term)
        for code in LANGUAGES:
            condition |= Q(**{f"name_{code}__icontains": term})
        if re.fullmatch(r"[0-9]{1,18}", term):
            condition |= Q(pk=int(term))
        kpis = kpis.filter(condition)
    if exclude is not None:
        kpis = kpis.exclude(pk=exclude)
    return kpis.order_by("name", "id")


def kpi_get_by_integration_name(*, integration_name: str) -> Kpi:
    return Kpi.objects.select_related("unit").get(integration_name__iexact=integration_name)


def _hidden_for(**unit) -> Exists:
    return Exists(KpiHide.objects.filter(kpi=OuterRef("pk"), **unit))


def _live(active_only: bool) -> Q:
    condition = Q(archived_at__isnull=True)
    if active_only:
        condition &= Q(status=KpiStatus.ACTIVE)
    return condition


def department_kpis_condition(department: Department) -> Q:
    """Company KPIs the department has not hidden, and its own (K6)."""
    return _department_kpis_condition(department_id=department.id)


def _department_kpis_condition(*, department_id: int) -> Q:
    return (Q(level=Level.COMPANY) & ~_hidden_for(department_id=department_id)) | Q(
        level=Level.DEPARTMENT, department_id=department_id
    )


def team_kpis_condition(team: Team) -> Q:
    """Company KPIs hidden neither by the team's department nor by the team, its department's KPIs
    the team has not hidden, and its own (K6)."""
    return _team_kpis_condition(team_id=team.id, department_id=team.department_id)


def _team_kpis_condition(*, team_id: int, department_id: int) -> Q:
    return (
        (Q(level=Level.COMPANY) & ~_hidden_for(department_id=department_id) & ~_hidden_for(team_id=team_id))
        | (Q(level=Level.DEPARTMENT, department_id=department_id) & ~_hidden_for(team_id=team_id))
        | Q(level=Level.TEAM, team_id=team_id)
    )


def kpi_list_for_department(department: Department, *, active_only: bool = True) -> QuerySet[Kpi]:
    return kpi_list().filter(_live(active_only) & department_kpis_condition(department))


def kpi_list_for_team(team: Team, *, active_only: bool = True) -> QuerySet[Kpi]:
    return kpi_list().filter(_live(active_only) & team_kpis_condition(team))


def audience_condition(member: Member) -> Q:
    """K8: a KPI without an access assignment reaches everyone at its level; otherwise the person,
    their team or their department must be on it."""
    entries = KpiAudience.objects.filter(kpi=OuterRef("pk"))
    reaches = Q(member_id=member.user_id)
    if member.team_id:
        reaches |= Q(team_id=member.team_id)
    if member.department_id:
        reaches |= Q(department_id=member.department_id)
    return ~Exists(entries) | Exists(entries.filter(reaches))


def member_kpis_condition(member: Member) -> Q:
    # By ids: a person's department is always their team's (orgs.services keeps it so), and
    # reading ``member.team`` would cost a query per call.
    if member.team_id:
        unit = _team_kpis_condition(team_id=member.team_id, department_id=member.department_id)
    elif member.department_id:
        unit = _department_kpis_condition(department_id=member.department_id)
    else:
        unit = Q(level=Level.COMPANY)
    return unit & audience_condition(member)


def kpi_list_for_member(member: Member, *, active_only: bool = True) -> QuerySet[Kpi]:
    """The KPIs a person sees and receives actions for (K5, K6, K8)."""
    return kpi_list().filter(_live(active_only) & member_kpis_condition(member))


def kpi_reaches_member(kpi: Kpi, member: Member) -> bool:
    """Whether an action of ``member`` on ``kpi`` is within its level, hides and audience (K8)."""
    return Kpi.objects.filter(Q(pk=kpi.pk) & member_kpis_condition(member)).exists()


@dataclass
class KpiReach:
    """What K6/K8 need to decide, in memory, whether a KPI reaches a person: for the recording
    service's batches and the activity logger's KPIs per person, a few queries for any number."""

    hidden_departments: dict[int, set[int]]
    hidden_teams: dict[int, set[int]]
    audience: dict[int, tuple[set[int], set[int], set[int]]]

    @classmethod
    def load(cls, kpi_ids: Iterable[int]) -> "KpiReach":
        kpi_ids = list(kpi_ids)
        hidden_departments, hidden_teams = defaultdict(set), defaultdict(set)
        for kpi_id, department_id, team_id in KpiHide.objects.filter(kpi_id__in=kpi_ids).values_list(
            "kpi_id", "department_id", "team_id"
        ):
            if department_id:
                hidden_departments[kpi_id].add(department_id)
            else:
                hidden_teams[kpi_id].add(team_id)
        audience: dict[int, tuple[set[int], set[int], set[int]]] = {}
        for kpi_id, department_id, team_id, member_id in KpiAudience.objects.filter(
            kpi_id__in=kpi_ids
        ).values_list("kpi_id", "department_id", "team_id", "member_id"):
            departments, teams, members = audience.setdefault(kpi_id, (set(), set(), set()))
            if department_id:
                departments.add(department_id)
            elif team_id:
                teams.add(team_id)
            else:
                members.add(member_id)
        return cls(hidden_departments, hidden_teams, audience)

    def reaches(self, kpi: Kpi, person: Member) -> bool:
        """The same rule as ``member_kpis_condition`` (level, hides, audience); ``person``: a
        member, or anything with their ``user_id``, ``department_id`` and ``team_id``."""
        if kpi.level == Level.DEPARTMENT and person.department_id != kpi.department_id:
            return False
        if kpi.level == Level.TEAM and person.team_id != kpi.team_id:
            return False
        if kpi.level == Level.COMPANY and person.department_id in self.hidden_departments.get(kpi.id, ()):
            return False
        if kpi.level in (Level.COMPANY, Level.DEPARTMENT) and person.team_id in self.hidden_teams.get(
            kpi.id, ()
        ):
            return False
        entries = self.audience.get(kpi.id)
        if entries is None:
            return True
        departments, teams, members = entries
        return (
            person.user_id in members
            or (person.team_id is not None and person.team_id in teams)
            or (person.department_id is not None and person.department_id in departments)
        )


def kpis_reaching(kpis: list[Kpi], people: list[Member]) -> dict[int, set[int]]:
    """Which of ``kpis`` reach each of ``people`` (``KpiReach``: level, hides, K8 audience), by
    person: 2 queries for any number of people, where ``kpi_list_for_member`` costs one each."""
    reach = KpiReach.load(kpi.id for kpi in kpis)
    return {person.user_id: {kpi.id for kpi in kpis if reach.reaches(kpi, person)} for person in people}


def kpi_audience_choices(kpi: Kpi) -> tuple[QuerySet[Department], QuerySet[Team], QuerySet[Member]]:
    """The departments, teams and people within ``kpi``'s level (K8): whom its audience may name
    (the services refuse the others, ``audience_invalid``), by name."""
    departments = Department.objects.order_by("name", "id")
    teams = Team.objects.select_related("department").order_by("department__name", "name", "id")
    people = Member.objects.select_related("user").order_by(
        "user__last_name", "user__first_name", "user__email"
    )
    if kpi.level == Level.DEPARTMENT:
        departments = departments.filter(id=kpi.department_id)
        teams = teams.filter(department_id=kpi.department_id)
        people = people.filter(department_id=kpi.department_id)
    elif kpi.level == Level.TEAM:
        departments = departments.none()
        teams = teams.filter(id=kpi.team_id)
        people = people.filter(team_id=kpi.team_id)
    return departments, teams, people


def kpi_hide_list(*, kpi: Kpi) -> QuerySet[KpiHide]:
    """Where ``kpi`` is hidden (K6), by department, then by team."""
    return (
        KpiHide.objects.filter(kpi=kpi)
        .select_related("department", "team__department")
        .order_by("department__name", "team__department__name", "team__name", "id")
    )


def kpi_hide_choices(kpi: Kpi) -> tuple[list[Department], list[Team]]:
    """The departments and teams that inherit ``kpi`` from a level above (K6: what they may hide,
    as ``kpi_inherited_by`` says) and have not hidden it yet, by name."""
    hides = list(KpiHide.objects.filter(kpi=kpi).values_list("department_id", "team_id"))
    hidden_departments = {department for department, _team in hides if department}
    hidden_teams = {team for _department, team in hides if team}
    departments, teams = Department.objects.none(), Team.objects.none()
    if kpi.level == Level.COMPANY:
        departments, teams = Department.objects.all(), Team.objects.all()
    elif kpi.level == Level.DEPARTMENT:
        teams = Team.objects.filter(department_id=kpi.department_id)
    return (
        [
            department
            for department in departments.order_by("name", "id")
            if department.pk not in hidden_departments
        ],
        [
            team
            for team in teams.select_related("department").order_by("department__name", "name", "id")
            if team.pk not in hidden_teams
        ],
    )


def kpi_audience_members(kpi: Kpi) -> QuerySet[Member]:
    """Everyone who receives ``kpi`` (K6 level and hides, K8 audience): for the K7 link warning.

    Level, hides and audience only, like ``kpi_reaches_member``: the status is the caller's check.
    """
    # The company filter makes another company's KPI (read unscoped somewhere) reach nobody here,
    # instead of reaching everyone as a company-level KPI without hides or audience would.
    members = Member.objects.filter(company_id=kpi.company_id)
    if kpi.level == Level.DEPARTMENT:
        members = members.filter(department_id=kpi.department_id)
    elif kpi.level == Level.TEAM:
        members = members.filter(team_id=kpi.team_id)
    hides = KpiHide.objects.filter(kpi=kpi)
    members = members.exclude(
        department_id__in=hides.filter(department__isnull=False).values("department_id")
    )
    members = members.exclude(team_id__in=hides.filter(team__isnull=False).values("team_id"))
    entries = list(KpiAudience.objects.filter(kpi=kpi).values_list("department_id", "team_id", "member_id"))
    if entries:
        members = members.filter(
            Q(department_id__in=[d for d, _t, _m in entries if d])
            | Q(team_id__in=[t for _d, t, _m in entries if t])
            | Q(user_id__in=[m for _d, _t, m in entries if m])
        )
    return members


_TARGET_FILTERS = {"kpi": "kpi_id", "scope": "scope", "period": "period", "start": "start"}


def target_list(*, filters: dict | None = None) -> QuerySet[Target]:
    """Targets, filtered by the API's ``filters``: ``kpi`` (an id), ``scope``, ``period``, ``start``."""
    targets = Target.objects.select_related("kpi", "department", "team", "member__user").prefetch_related(
        "parts"
    )
    targets = targets.filter(**{_TARGET_FILTERS[name]: value for name, value in (filters or {}).items()})
    return targets.order_by("kpi_id", "-start", "scope_key", "id")


def target_get(*, target_id: int) -> Target:
    return target_list().get(id=target_id)


def change_list(*, kpi_id: int | None = None, object_type: str | None = None, object_id: int | None = None):
    changes = Change.objects.select_related("actor__user")
    if kpi_id is not None:
        changes = changes.filter(kpi_id=kpi_id)
    if object_type is not None:
        changes = changes.filter(object_type=object_type, object_id=object_id)
    return changes.order_by("-at", "-id")


def org_unit_own_kpis(*, department: Department | None, teams: list[Team]) -> QuerySet[Kpi]:
    """The live KPIs defined at a department's own level or at its teams' (O6: what deleting them
    archives). Team KPIs go by their team, not by the department they carry, which is the one the
    team was in when the KPI was saved."""
    own = Q(level=Level.TEAM, team__in=teams)
    if department is not None:
        own |= Q(level=Level.DEPARTMENT, department=department)
    return Kpi.objects.filter(own, archived_at__isnull=True).order_by("id")


def org_unit_deletion_counts(*, department: Department | None, teams: list[Team]) -> dict[str, int]:
    """The fields of ``orgs.services.DeletionSummary`` that the kpis app counts: the unit's own
    KPIs, archived with it (``kpi_platform.hooks.org_unit_deletion_counts``)."""
    return {"kpis": org_unit_own_kpis(department=department, teams=teams).count()}


def period_starts(day: datetime.date) -> dict[str, datetime.date]:
    """The first days of the month, quarter and year that ``day`` is in (target periods, K9)."""
    return {period: period_start(period, day) for period in TargetPeriod.values}


def target_holders_condition(viewer: Member | None) -> Q:
    """The targets whose holder ``viewer`` may see (O4): the company's, those of the departments
    and teams they see, and those of the people they see (themselves included); every target for
    a token (None) or a company admin. Subqueries, so a list of any length is one query."""
    if viewer is None or is_company_admin(viewer):
        return Q()
    return (
        Q(scope=TargetScope.COMPANY)
        | Q(scope=TargetScope.DEPARTMENT, department__in=visible_departments(viewer).values("id"))
        | Q(scope=TargetScope.TEAM, team__in=visible_teams(viewer).values("id"))
        | Q(scope=TargetScope.USER, member__in=visible_members(viewer).values("user_id"))
    )


def target_list_current(*, kpi: Kpi, viewer: Member, day: datetime.date) -> list[Target]:
    """The targets of ``kpi`` for the month, quarter and year of ``day`` whose holder ``viewer`` may
    see (O4: the company, and the units and people within their reach), by period then from the
    company down to a person."""
    current = Q()
    for period, start in period_starts(day).items():
        current |= Q(period=period, start=start)
    targets = list(target_list(filters={"kpi": kpi.id}).filter(current & target_holders_condition(viewer)))
    periods, scopes = list(TargetPeriod.values), list(TargetScope.values)

    def order(target: Target) -> tuple:
        return periods.index(target.period), scopes.index(target.scope), str(target.member or "")

    return sorted(targets, key=order)


# --- The content of each language (O7: the company settings page) -------------------------------------


@dataclass
class LanguageContent:
    """Active KPIs and units of measurement, for one content language."""

    language: str
    kpis: list[Kpi]
    units: list[Unit]

    def __bool__(self) -> bool:
        return bool(self.kpis or self.units)


def _filled(field: str, language: str) -> Q:
    return ~Q(**{f"{field}_{language}": ""}) & Q(**{f"{field}_{language}__isnull": False})


def _empty(obj, field: str, language: str) -> bool:
    return not getattr(obj, f"{field}_{language}", "")


def content_missing_language(*, languages: list[str]) -> list[LanguageContent]:
    """For each of ``languages``, the Active KPIs and the units without a translation in it (K5:
    a name, and a description where the KPI has one in any language). Two queries, whatever the
    number of languages; only the rows that miss something are read."""
    languages = [code for code in languages if code in LANGUAGES]
    if not languages:
        return []
    described = Q()
    for code in LANGUAGES:
        described |= _filled("description", code)
    kpi_missing = Q()
    unit_missing = Q()
    for language in languages:
        kpi_missing |= ~_filled("name", language) | (described & ~_filled("description", language))
        unit_missing |= ~_filled("name", language)
    kpis = list(
        Kpi.objects.filter(kpi_missing, status=KpiStatus.ACTIVE, archived_at__isnull=True).order_by("id")
    )
    units = list(Unit.objects.filter(unit_missing).order_by("-is_default", "name", "id"))
    found = []
    for language in languages:
        missing_kpis = [
            kpi
            for kpi in kpis
            if _empty(kpi, "name", language)
            or (
                _empty(kpi, "description", language)
                and not all(_empty(kpi, "description", code) for code in LANGUAGES)
            )
        ]
        missing_units = [unit for unit in units if _empty(unit, "name", language)]
        found.append(LanguageContent(language, missing_kpis, missing_units))
    return found


def content_using_language(*, languages: list[str]) -> list[LanguageContent]:
    """For each of ``languages``, the KPIs (not archived) and units with a text in it: what would
    lose a translation from view if the company stopped offering the language. Two queries."""
    languages = [code for code in languages if code in LANGUAGES]
    if not languages:
        return []
    kpi_filled = Q()
    unit_filled = Q()
    for language in languages:
        kpi_filled |= _filled("name", language) | _filled("description", language)
        unit_filled |= _filled("name", language)
    kpis = list(Kpi.objects.filter(kpi_filled, archived_at__isnull=True).order_by("id"))
    units = list(Unit.objects.filter(unit_filled).order_by("-is_default", "name", "id"))
    return [
        LanguageContent(
            language,
            [
                kpi
                for kpi in kpis
                if not (_empty(kpi, "name", language) and _empty(kpi, "description", language))
            ],
            [unit for unit in units if not _empty(unit, "name", language)],
        )
        for language in languages
    ]
