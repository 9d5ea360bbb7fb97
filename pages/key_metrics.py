"""What the Key Metrics page shows (seed 001; PRODUCT O1, O4, K6, K8): the levels a person
reaches, and at one level the KPIs in force there, each marked as the level's own, inherited from
the company or the department, or hidden here, with its current target.

Which KPIs a unit has comes from ``kpis.selectors`` (``department_kpis_condition``,
``team_kpis_condition``: the dashboards' own rule), who sees which unit from ``orgs.access`` and
who may change what from ``kpis.access``. Every function runs a fixed number of queries, whatever
the number of units, KPIs or targets.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils.translation import gettext_lazy

from kpis import access as kpi_access
from kpis.models import Aggregation, Kpi, KpiHide, KpiKind, Level
from kpis.selectors import department_kpis_condition, team_kpis_condition
from orgs import access
from orgs.i18n import localized
from orgs.models import Company, Department, Member, Team
from ratings import dashboards
from ratings.windows import Window, frequency_window

OWN, FROM_COMPANY, FROM_DEPARTMENT = "own", "company", "department"
AGGREGATIONS = {  # K11, short: the form explains each at length
    Aggregation.SUM: gettext_lazy("sum"),
    Aggregation.COUNT: gettext_lazy("count"),
    Aggregation.AVERAGE: gettext_lazy("average"),
    Aggregation.MIN: gettext_lazy("minimum"),
    Aggregation.MAX: gettext_lazy("maximum"),
    Aggregation.LAST: gettext_lazy("latest"),
}


# --- The levels a person reaches ----------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsLevel:
    """The company, a department or a team, as the Key Metrics page shows it."""

    kind: str  # Level: company, department, team
    name: str
    department: Department | None = None
    team: Team | None = None

    @property
    def id(self) -> int | None:
        unit = self.team or self.department
        return unit.id if unit is not None else None

    @property
    def url(self) -> str:
        if self.kind == Level.COMPANY:
            return reverse("key-metrics")
        return reverse(f"key-metrics-{self.kind}", args=[self.id])

    @property
    def add_url(self) -> str | None:
        return None if self.kind == Level.COMPANY else reverse(f"key-metrics-{self.kind}-add", args=[self.id])

    def action_url(self, action: str, kpi: Kpi) -> str:
        """Where this department or team hides ``kpi`` (``action`` "hide"), shows it again
        ("unhide") or changes who it reaches ("audience")."""
        return reverse(f"key-metrics-{self.kind}-{action}", args=[self.id, kpi.id])

    def admin_add_url(self) -> str:
        """The admin's KPI form with this level chosen (K6)."""
        query = f"level={self.kind}"
        if self.kind != Level.COMPANY:
            query += f"&{self.kind}={self.id}"
        return f"{reverse('admin:kpis_kpi_add')}?{query}"

    def dashboard_url(self) -> str:
        if self.kind == Level.COMPANY:
            return reverse("dashboard-company")
        return reverse(f"dashboard-{self.kind}", args=[self.id])


def company_level(company: Company) -> MetricsLevel:
    return MetricsLevel(Level.COMPANY, company.name)


def department_level(department: Department) -> MetricsLevel:
    return MetricsLevel(Level.DEPARTMENT, department.name, department=department)


def team_level(team: Team) -> MetricsLevel:
    return MetricsLevel(Level.TEAM, team.name, department=team.department, team=team)


@dataclass
class TreeBranch:
    """A department and the teams under it that the viewer reaches; ``level`` is None when the
    viewer reaches only some of its teams, not the department itself."""

    department: Department
    level: MetricsLevel | None
    teams: list[MetricsLevel] = field(default_factory=list)


@dataclass
class LevelTree:
    company: MetricsLevel | None
    branches: list[TreeBranch]

    def levels(self) -> list[MetricsLevel]:
        """Every level in the tree, from the top down."""
        found = [self.company] if self.company is not None else []
        for branch in self.branches:
            found += ([branch.level] if branch.level is not None else []) + branch.teams
        return found

    def first(self) -> MetricsLevel | None:
        return next(iter(self.levels()), None)


def metrics_departments(viewer: Member):
    """The departments whose Key Metrics ``viewer`` opens: their dashboards' (O4)."""
    return access.dashboard_departments(viewer)


def metrics_teams(viewer: Member):
    """The teams whose Key Metrics ``viewer`` opens: their dashboards' (O4; a member: their own,
    read-only)."""
    return access.dashboard_teams(viewer)


def level_tree(viewer: Member, company: Company) -> LevelTree:
    """The levels ``viewer`` reaches (O4): a company admin all of them, a manager their
    departments and their teams, a lead their teams, a member their own team (2 queries)."""
    departments = {department.id: department for department in metrics_departments(viewer)}
    branches: dict[int, TreeBranch] = {
        department.id: TreeBranch(department, department_level(department))
        for department in sorted(departments.values(), key=lambda d: (d.name.casefold(), d.id))
    }
    teams = sorted(
        metrics_teams(viewer), key=lambda t: (t.department.name.casefold(), t.name.casefold(), t.id)
    )
    for team in teams:
        branch = branches.get(team.department_id)
        if branch is None:
            branch = branches[team.department_id] = TreeBranch(team.department, None)
        branch.teams.append(team_level(team))
    ordered = sorted(branches.values(), key=lambda b: (b.department.name.casefold(), b.department.id))
    company_node = company_level(company) if access.may_see_company_dashboard(viewer) else None
    return LevelTree(company_node, ordered)


# --- The KPIs of one level ------------------------------------------------------------------------------


@dataclass
class MetricRow:
    kpi: Kpi
    name: str  # in the reader's language (D6)
    unit: str
    origin: str  # OWN, FROM_COMPANY or FROM_DEPARTMENT
    origin_name: str  # the company's or the department's name (inherited KPIs)
    in_force: bool
    hidden_here: bool  # hidden by this unit: it may show it again
    hidden_by: str  # hidden by the department above (a team's page): the department's name
    target: Decimal | None  # the level's target for the current tracking period (O1, K9)
    chosen_audience: bool  # K8: given to chosen units and people, not to everyone at its level
    hide_url: str = ""  # K6: where the unit hides it (when the viewer may)
    unhide_url: str = ""  # ... or shows it again
    audience_url: str = ""  # K8: where who it reaches is changed, for whoever may

    @property
    def inherited(self) -> bool:
        return self.origin != OWN

    @property
    def aggregation(self) -> str:
        if self.kpi.is_calculated:
            return str(gettext_lazy("calculated"))
        return str(AGGREGATIONS.get(self.kpi.aggregation, self.kpi.aggregation))


@dataclass
class LevelMetrics:
    level: MetricsLevel
    primary: list[MetricRow]
    secondary: list[MetricRow]
    primary_window: Window
    secondary_window: Window
    may_hide: bool  # hide and show inherited KPIs here (K6)
    may_define: bool  # add KPIs of this level (K6)


def level_candidates(level: MetricsLevel) -> Q:
    """The KPIs that are in force at ``level`` unless hidden: its own and those of the levels above."""
    if level.kind == Level.COMPANY:
        return Q(level=Level.COMPANY)
    if level.kind == Level.DEPARTMENT:
        return Q(level=Level.COMPANY) | Q(level=Level.DEPARTMENT, department_id=level.department.id)
    return (
        Q(level=Level.COMPANY)
        | Q(level=Level.DEPARTMENT, department_id=level.team.department_id)
        | Q(level=Level.TEAM, team_id=level.team.id)
    )


def _in_force(level: MetricsLevel) -> Q:
    if level.kind == Level.DEPARTMENT:
        return department_kpis_condition(level.department)
    if level.kind == Level.TEAM:
        return team_kpis_condition(level.team)
    return Q(level=Level.COMPANY)


def _hidden_by(**unit) -> Exists:
    return Exists(KpiHide.objects.filter(kpi=OuterRef("pk"), **unit))


def _holder(level: MetricsLevel) -> dashboards.Holder:
    if level.kind == Level.DEPARTMENT:
        return dashboards.department_holder(level.department)
    if level.kind == Level.TEAM:
        return dashboards.team_holder(level.team)
    return dashboards.company_holder(level.name)


def _window_target(kpi: Kpi, targets: list, window: Window) -> Decimal | None:
    """The level's target of ``kpi`` for the window, as the dashboards show it (K9, K11)."""
    target = dashboards.covering_target(targets, window)
    if target is None:
        return None
    if kpi.is_level:
        return dashboards.level_target(target, window.start, window.end)
    return dashboards.target_share(target, window.start, window.end)


def _audience_url(level: MetricsLevel, kpi: Kpi, *, is_admin: bool, may_define: bool) -> str:
    """Company admins change any KPI's audience in the admin; a head who defines KPIs here
    changes those of this level on its own page."""
    if is_admin:
        return reverse("admin:kpis_kpi_access", args=[kpi.id])
    if may_define and kpi.level == level.kind:
        return level.action_url("audience", kpi)
    return ""


def level_metrics(
    viewer: Member, level: MetricsLevel, company: Company, languages: list[str], today: datetime.date
) -> LevelMetrics:
    """The KPIs ``viewer`` sees (``kpis.access.visible_kpis``) among those of ``level`` (K6), primary
    apart from secondary, by name: 4 queries (KPIs with their units, their audiences, targets and
    their parts), whatever their number."""
    in_force = Case(
        When(_in_force(level), then=Value(True)), default=Value(False), output_field=BooleanField()
    )
    kpis = kpi_access.visible_kpis(viewer).filter(level_candidates(level)).annotate(in_force=in_force)
    if level.kind == Level.DEPARTMENT:
        kpis = kpis.annotate(
            hidden_here=_hidden_by(department_id=level.department.id), hidden_above=Value(False)
        )
    elif level.kind == Level.TEAM:
        kpis = kpis.annotate(
            hidden_here=_hidden_by(team_id=level.team.id),
            hidden_above=_hidden_by(department_id=level.team.department_id),
        )
    else:
        kpis = kpis.annotate(hidden_here=Value(False), hidden_above=Value(False))
    kpis = list(kpis.select_related("unit", "department"))

    windows = {
        KpiKind.PRIMARY: frequency_window(company.primary_frequency, today),
        KpiKind.SECONDARY: frequency_window(company.secondary_frequency, today),
    }
    targets = dashboards.holder_targets(
        _holder(level),
        kpis,
        since=min(window.start for window in windows.values()),
        until=max(window.end for window in windows.values()),
    )
    may_hide = level.kind != Level.COMPANY and kpi_access.may_hide_for(
        viewer, department=level.department if level.kind == Level.DEPARTMENT else None, team=level.team
    )
    may_define = kpi_access.may_define_kpi(
        viewer, level=level.kind, department=level.department, team=level.team
    )
    is_admin = access.is_company_admin(viewer)
    rows: dict[str, list[MetricRow]] = {KpiKind.PRIMARY: [], KpiKind.SECONDARY: []}
    for kpi in kpis:
        if kpi.level == level.kind:
            origin, origin_name = OWN, ""
        elif kpi.level == Level.COMPANY:
            origin, origin_name = FROM_COMPANY, company.name
        else:
            origin, origin_name = FROM_DEPARTMENT, kpi.department.name if kpi.department else ""
        hidden_by = ""
        if kpi.hidden_above and level.department is not None:
            hidden_by = level.department.name
        target = _window_target(kpi, targets.get(kpi.id, []), windows[kpi.kind])
        inherited = origin != OWN
        rows[kpi.kind].append(
            MetricRow(
                kpi=kpi,
                name=localized(kpi, "name", languages),
                unit=localized(kpi.unit, "name", languages),
                origin=origin,
                origin_name=origin_name,
                in_force=kpi.in_force,
                hidden_here=kpi.hidden_here,
                hidden_by=hidden_by,
                target=target,
                chosen_audience=bool(kpi.audience.all()),
                hide_url=level.action_url("hide", kpi) if may_hide and inherited and kpi.in_force else "",
                unhide_url=level.action_url("unhide", kpi)
                if may_hide and inherited and kpi.hidden_here
                else "",
                audience_url=_audience_url(level, kpi, is_admin=is_admin, may_define=may_define),
            )
        )
    for kind_rows in rows.values():
        kind_rows.sort(key=lambda row: (row.name.casefold(), row.kpi.id))
    return LevelMetrics(
        level=level,
        primary=rows[KpiKind.PRIMARY],
        secondary=rows[KpiKind.SECONDARY],
        primary_window=windows[KpiKind.PRIMARY],
        secondary_window=windows[KpiKind.SECONDARY],
        may_hide=may_hide,
        may_define=may_define,
    )
